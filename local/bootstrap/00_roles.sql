-- Cluster-wide roles that Supabase creates before any migration runs.
-- Idempotent: the local stack runs it on every start.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- As on Supabase, unqualified names resolve in `extensions` too (pgcrypto, uuid-ossp, ...).
alter role postgres set search_path to "$user", public, extensions;
