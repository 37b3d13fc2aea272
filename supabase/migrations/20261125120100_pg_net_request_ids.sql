-- private.pg_net_oid(): which pg_net a request id belongs to.
--
-- Why: pg_net's request ids come from a sequence that starts again at 1 when the extension is dropped
-- and created again (a common fix on Supabase). An id alone then names an old request and a new one,
-- and a response to the new one would settle the old. Every table that keeps a pg_net request id keeps
-- this oid beside it, and reads responses and the queue only for rows of the current pg_net.

create schema if not exists private;

create function private.pg_net_oid()
returns oid
language sql
stable
set search_path = ''
as $$
  select e.oid from pg_catalog.pg_extension as e where e.extname = 'pg_net'
$$;

comment on function private.pg_net_oid() is
  'The pg_extension oid of the installed pg_net (null without it): request ids are unique only within one.';

revoke all on function private.pg_net_oid() from public, anon, authenticated;
