-- Per-database setup that every Supabase project has before its first migration: the `extensions`
-- schema with pgcrypto and uuid-ossp in it, and Vault. Runs after 00_roles.sql (it grants to the API
-- roles). Idempotent: the local stack runs it on every start.
-- supabase_vault is the local stand-in in local/extensions/supabase_vault, which the local stack
-- installs into the server's extension directory; it reads its key from supabase_vault.key in the
-- data directory.

create schema if not exists extensions;

comment on schema extensions is 'Extensions usable from SQL and the API, as on Supabase.';

grant usage on schema extensions to postgres, anon, authenticated, service_role;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- The control file fixes the schema to `vault` and creates it if needed.
create extension if not exists supabase_vault;
