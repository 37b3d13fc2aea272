-- Extensions every later migration relies on.
--
-- On Supabase pgcrypto and supabase_vault are already installed, so `if not exists` makes those
-- lines no-ops there; pg_net and pg_cron are enabled per project. The local stack installs
-- stand-ins named pg_net and supabase_vault, so these exact statements run in both places.
create extension if not exists pgcrypto with schema extensions;
create extension if not exists supabase_vault with schema vault;
create extension if not exists pg_net with schema extensions;
create extension if not exists pg_cron with schema pg_catalog;
