-- private.pg_net_generation(): which run of pg_net's request ids a request id belongs to.
--
-- Why: pg_net's request ids come from a sequence that starts again at 1 when the extension is dropped
-- and created again (a common fix on Supabase), and also whenever Postgres resets unlogged relations:
-- pg_net's queue, its responses and their id sequence are unlogged (a serial's sequence of an unlogged
-- table is unlogged since PostgreSQL 15), so a crash, an immediate shutdown, a restore or a failover
-- empties them and restarts the ids under the same extension. An id alone then names an old request
-- and a new one, and a response to the new one would settle the old. Every table that keeps a pg_net
-- request id keeps this generation beside it, and reads responses and the queue only for rows of the
-- current generation; a request of an earlier one gets no response, and its job treats it as lost.
--
-- A generation is kept in an unlogged table, so the reset that empties pg_net's tables empties it too,
-- and the next call draws a new one from a logged sequence, which a reset does not restart. A logical
-- restore into another cluster (pg_dump copies an unlogged table's rows, not pg_net's extension-owned
-- tables, and the new pg_net may even get the same oid) is told apart by the cluster's system
-- identifier. Callers never wait for each other: two first calls at once may both write one, and the
-- smaller wins once both are committed; the requests recorded under the other then count as lost and
-- are sent again.

create schema if not exists private;

create unlogged table private.pg_net_generations (
  extension_oid oid not null,
  -- pg_control_system()'s; 0 where that function may not be called
  system_identifier bigint not null,
  generation bigint not null,
  primary key (extension_oid, system_identifier, generation)
);

comment on table private.pg_net_generations is
  'The current generation of each pg_net installation; unlogged, so emptied with pg_net''s own tables.';

alter table private.pg_net_generations enable row level security;

revoke all on table private.pg_net_generations from public, anon, authenticated, service_role;

create sequence private.pg_net_generation_seq;

revoke all on sequence private.pg_net_generation_seq from public, anon, authenticated, service_role;

create function private.pg_net_generation()
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_extension oid;
  v_system bigint := 0;
  v_generation bigint;
begin
  select e.oid into v_extension from pg_catalog.pg_extension as e where e.extname = 'pg_net';
  if v_extension is null then
    return null;
  end if;
  -- A statement of its own: an expression that names the function checks the right to call it even
  -- where it would not be evaluated.
  if pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'execute') then
    v_system := (pg_catalog.pg_control_system()).system_identifier;
  end if;
  select pg_catalog.min(g.generation) into v_generation
  from private.pg_net_generations as g
  where g.extension_oid = v_extension and g.system_identifier = v_system;
  if v_generation is null then
    v_generation := pg_catalog.nextval('private.pg_net_generation_seq');
    insert into private.pg_net_generations (extension_oid, system_identifier, generation)
    values (v_extension, v_system, v_generation);
  end if;
  return v_generation;
end
$$;

comment on function private.pg_net_generation() is
  'The generation of the installed pg_net''s request ids (null without pg_net): new after pg_net is created again, its unlogged tables are reset or the database is restored into another cluster; request ids are unique only within one.';

revoke all on function private.pg_net_generation() from public, anon, authenticated;

-- The generation of the pg_net installed now, so that callers normally only read it.
select private.pg_net_generation();
