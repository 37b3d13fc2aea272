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

-- Supabase's timeouts: PostgREST's own session (it logs in as authenticator), and the roles it switches
-- to, whose settings it applies to each request (the local REST stand-in does the same).
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- As on Supabase, unqualified names resolve in `extensions` too (pgcrypto, uuid-ossp, ...).
alter role postgres set search_path to "$user", public, extensions;
