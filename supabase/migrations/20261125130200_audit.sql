-- Audit: a change log of tracked tables, written set-based by statement-level triggers.
--
-- Why: plugins subscribe to changes (INSERT/UPDATE/DELETE) of domain tables, and support needs a
-- history of who changed what. One call, audit.track_table('public.some_table'), installs three
-- AFTER ... FOR EACH STATEMENT triggers with transition tables; each statement then writes all its
-- changes with one INSERT ... SELECT, so a 10,000-row statement costs one extra statement, not
-- 10,000 trigger calls. UPDATEs record only the columns whose values really changed (old and new
-- rows are paired on the primary key and compared per key as jsonb); a row whose values did not
-- change writes nothing. The trigger then passes the new audit ids to audit.changes_captured, a
-- no-op here that the plugin fan-out migration fills in (in the same call, so no second trigger has
-- to copy every audit row into another transition table).
--
-- Conventions of audit.entity_changes:
-- - record_id is the primary key as text, or for a composite key the JSON array of its values.
-- - changed_fields lists the changed columns (sorted) for UPDATE and is empty for INSERT and DELETE.
-- - tenant_id is the row's tenant_id column (new row, else old row), null for tables without one.
-- - actor is the requesting user (JWT sub), null for the service role, pg_cron and direct sessions.
-- - An UPDATE that changes a primary key cannot be paired: it is recorded as a DELETE of the old key
--   and an INSERT of the new one, so nothing is lost.
-- TRUNCATE is not audited, and neither are partitioned tables (track_table refuses them): a statement
-- that names a partition does not fire the parent's statement triggers.

create schema if not exists audit;

comment on schema audit is 'Change history of tracked tables (audit.track_table). Not exposed to clients.';

revoke all on schema audit from public, anon, authenticated;

-- A domain rather than a check constraint on the table: Postgres reads and plans a table's check
-- constraints again for every statement that writes it, which cost about 40,000 instructions (some
-- 10 µs) per audited statement; a domain's check is planned once per session.
create domain audit.change_op as text check (value in ('INSERT', 'UPDATE', 'DELETE'));

comment on domain audit.change_op is 'An audited operation: INSERT, UPDATE or DELETE.';

create table audit.entity_changes (
  id bigint generated always as identity primary key,
  tenant_id uuid,
  table_schema text not null,
  table_name text not null,
  op audit.change_op not null,
  record_id text not null,
  changed_fields text[] not null default '{}',
  old_data jsonb,
  new_data jsonb,
  actor uuid,
  created_at timestamptz not null default now()
);

comment on table audit.entity_changes is
  'One row per changed row of a tracked table: operation, primary key, changed columns, old and new row as jsonb.';
comment on column audit.entity_changes.tenant_id is 'The row''s tenant_id, null for tables without one.';
comment on column audit.entity_changes.record_id is
  'Primary key as text; for a composite key the JSON array of its values.';
comment on column audit.entity_changes.changed_fields is
  'UPDATE: the columns whose values changed, sorted. INSERT and DELETE: empty.';
comment on column audit.entity_changes.old_data is 'The row before the change (UPDATE, DELETE).';
comment on column audit.entity_changes.new_data is 'The row after the change (INSERT, UPDATE).';
comment on column audit.entity_changes.actor is 'The requesting user (JWT sub); null for service role and cron.';

-- No index beyond the primary key: every index slows every audited write, and nothing here reads
-- the log by record. Add one (e.g. on (table_schema, table_name, record_id)) when something does.

alter table audit.entity_changes enable row level security;

revoke all on table audit.entity_changes from public, anon, authenticated, service_role;

-- The hook ------------------------------------------------------------------------------------------

create function audit.changes_captured(
  p_table_schema text,
  p_table_name text,
  p_op text,
  p_audit_ids bigint[],
  p_tenant_ids uuid[]
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  -- Nothing to do until something (the plugin fan-out) replaces this function.
end
$$;

comment on function audit.changes_captured(text, text, text, bigint[], uuid[]) is
  'Called once per audited statement with the ids of the audit rows it wrote and their distinct tenant ids; a no-op until the plugin fan-out replaces it.';

revoke all on function audit.changes_captured(text, text, text, bigint[], uuid[]) from public, anon, authenticated;

-- The record id of a row of a table with a composite primary key: the JSON array of the key's values.
-- A function, not a subquery in the trigger's statements: Postgres would set the subquery up at every
-- audited statement, also for the usual single-column key that never runs it.
create function audit.composite_record_id(p_row jsonb, p_key_columns text[])
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.jsonb_agg(p_row -> k.col order by k.ord)::text
  from pg_catalog.unnest(p_key_columns) with ordinality k(col, ord)
$$;

comment on function audit.composite_record_id(jsonb, text[]) is
  'record_id for a composite primary key: the JSON array of the key columns'' values, in key order.';

revoke all on function audit.composite_record_id(jsonb, text[]) from public, anon, authenticated;

-- The trigger function --------------------------------------------------------------------------------
-- Each row becomes jsonb once, in a subquery kept as it is with `offset 0`: pulled up into the outer
-- query, to_jsonb would run once per reference (tenant_id, record_id, the stored row), which made the
-- trigger cost nearly twice as much. The row is written `n.*`: a bare `n` would be the table's own
-- column n if it had one.

create function audit.capture_changes()
returns trigger
language plpgsql
-- definer: runs as the table's writer (e.g. authenticated), who may not write audit.entity_changes.
security definer
set search_path = ''
-- One plan per statement kind for the whole session: re-planning per statement (custom plans for the
-- trigger variables) costs more than a single-row change itself.
set plan_cache_mode = force_generic_plan
as $$
declare
  -- The primary key columns, passed by audit.track_table as trigger arguments.
  v_pk text[] := tg_argv;
  v_pk1 text := tg_argv[0];
  v_single_key boolean := tg_nargs = 1;
  -- private.current_actor(), inlined: a call to the function costs more per statement (planned again
  -- in every transaction). Unlike it, claims that are not JSON give no actor instead of an error: its
  -- callers are RPCs, which read the JWT through auth.jwt() first and fail on such claims anyway, but a
  -- direct session's write must not fail because of them.
  v_sub text := nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), '');
  v_claims text := nullif(pg_catalog.current_setting('request.jwt.claims', true), '');
  v_actor uuid;
  v_audit_ids bigint[];
  v_tenant_ids uuid[];
begin
  if v_sub is null and v_claims is not null then
    -- Claims that are not JSON (only a session that sets them itself can have such) give no actor
    -- instead of failing the user's write.
    begin
      v_sub := v_claims::jsonb ->> 'sub';
    exception when invalid_text_representation then
      v_sub := null;
    end;
  end if;
  if v_sub ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then
    v_actor := v_sub::uuid;
  end if;
  if tg_op = 'INSERT' then
    with written as (
      insert into audit.entity_changes (tenant_id, table_schema, table_name, op, record_id, new_data, actor)
      select (r.j ->> 'tenant_id')::uuid, tg_table_schema, tg_table_name, 'INSERT',
        case when v_single_key then r.j ->> v_pk1 else audit.composite_record_id(r.j, v_pk) end,
        r.j, v_actor
      from (select pg_catalog.to_jsonb(n.*) as j from new_rows n offset 0) r
      returning id, tenant_id
    )
    select pg_catalog.array_agg(w.id), pg_catalog.array_agg(distinct w.tenant_id)
    from written w
    into v_audit_ids, v_tenant_ids;

  elsif tg_op = 'DELETE' then
    with written as (
      insert into audit.entity_changes (tenant_id, table_schema, table_name, op, record_id, old_data, actor)
      select (r.j ->> 'tenant_id')::uuid, tg_table_schema, tg_table_name, 'DELETE',
        case when v_single_key then r.j ->> v_pk1 else audit.composite_record_id(r.j, v_pk) end,
        r.j, v_actor
      from (select pg_catalog.to_jsonb(o.*) as j from old_rows o offset 0) r
      returning id, tenant_id
    )
    select pg_catalog.array_agg(w.id), pg_catalog.array_agg(distinct w.tenant_id)
    from written w
    into v_audit_ids, v_tenant_ids;

  elsif tg_op = 'UPDATE' then
    with written as (
      insert into audit.entity_changes (
        tenant_id, table_schema, table_name, op, record_id, changed_fields, old_data, new_data, actor
      )
      select coalesce((n.j ->> 'tenant_id')::uuid, (o.j ->> 'tenant_id')::uuid), tg_table_schema, tg_table_name,
        case when o.j is null then 'INSERT' when n.j is null then 'DELETE' else 'UPDATE' end,
        coalesce(n.rid, o.rid), coalesce(d.changed, '{}'), o.j, n.j, v_actor
      from (
        select r.j,
          case when v_single_key then r.j ->> v_pk1 else audit.composite_record_id(r.j, v_pk) end as rid
        from (select pg_catalog.to_jsonb(x.*) as j from old_rows x offset 0) r
      ) o
      full join (
        select r.j,
          case when v_single_key then r.j ->> v_pk1 else audit.composite_record_id(r.j, v_pk) end as rid
        from (select pg_catalog.to_jsonb(x.*) as j from new_rows x offset 0) r
      ) n on n.rid = o.rid
      left join lateral (
        select pg_catalog.array_agg(e.key order by e.key) as changed
        from pg_catalog.jsonb_each(n.j) e
        where o.j is not null and e.value is distinct from o.j -> e.key
      ) d on true
      -- Pairs whose values did not change write nothing; unpaired rows (primary key changed) always do.
      where o.j is null or n.j is null or d.changed is not null
      returning id, tenant_id
    )
    select pg_catalog.array_agg(w.id), pg_catalog.array_agg(distinct w.tenant_id)
    from written w
    into v_audit_ids, v_tenant_ids;
  end if;
  if v_audit_ids is not null then
    perform audit.changes_captured(tg_table_schema, tg_table_name, tg_op, v_audit_ids, v_tenant_ids);
  end if;
  return null;
end
$$;

comment on function audit.capture_changes() is
  'Statement-level AFTER trigger installed by audit.track_table: writes the statement''s changes set-based.';

revoke all on function audit.capture_changes() from public, anon, authenticated;

-- Tracking --------------------------------------------------------------------------------------------

create function audit.track_table(p_table regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_schema text;
  v_name text;
  v_kind "char";
  v_pk text[];
  v_args text;
begin
  if p_table is null then
    raise exception using errcode = '22023', message = 'table is required';
  end if;
  select n.nspname, c.relname, c.relkind into v_schema, v_name, v_kind
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.oid = p_table;
  if v_kind = 'p' then
    -- Statement triggers on a partitioned table do not fire for statements that name a partition.
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('%s is partitioned: writes to its partitions would not be audited', p_table);
  end if;
  if v_kind <> 'r' then
    raise exception using errcode = '22023', message = pg_catalog.format('%s is not a table', p_table);
  end if;
  if v_schema in ('audit', 'int', 'pg_catalog', 'information_schema') then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('tables in schema %s cannot be tracked', v_schema);
  end if;

  select pg_catalog.array_agg(a.attname::text order by k.ord) into v_pk
  from pg_catalog.pg_index i
  cross join lateral pg_catalog.unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = p_table and i.indisprimary;
  if v_pk is null then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('%s has no primary key: audited rows are identified by it', p_table);
  end if;

  if exists (
    select 1 from pg_catalog.pg_attribute a
    where a.attrelid = p_table and a.attname = 'tenant_id' and not a.attisdropped
      and a.atttypid <> 'uuid'::regtype
  ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('%s.tenant_id must be of type uuid to be audited per tenant', p_table);
  end if;

  select pg_catalog.string_agg(pg_catalog.quote_literal(k), ', ') into v_args from pg_catalog.unnest(v_pk) k;

  execute pg_catalog.format(
    'create or replace trigger audit_changes_insert after insert on %s '
    'referencing new table as new_rows for each statement execute function audit.capture_changes(%s)',
    p_table, v_args);
  execute pg_catalog.format(
    'create or replace trigger audit_changes_update after update on %s '
    'referencing old table as old_rows new table as new_rows '
    'for each statement execute function audit.capture_changes(%s)',
    p_table, v_args);
  execute pg_catalog.format(
    'create or replace trigger audit_changes_delete after delete on %s '
    'referencing old table as old_rows for each statement execute function audit.capture_changes(%s)',
    p_table, v_args);
end
$$;

comment on function audit.track_table(regclass) is
  'Starts auditing a table (idempotent): statement-level triggers write its changes to audit.entity_changes.';

create function audit.untrack_table(p_table regclass)
returns void
language plpgsql
set search_path = ''
as $$
begin
  execute pg_catalog.format('drop trigger if exists audit_changes_insert on %s', p_table);
  execute pg_catalog.format('drop trigger if exists audit_changes_update on %s', p_table);
  execute pg_catalog.format('drop trigger if exists audit_changes_delete on %s', p_table);
end
$$;

comment on function audit.untrack_table(regclass) is 'Stops auditing a table; its history stays.';

create function audit.is_tracked(p_table regclass)
returns boolean
language sql
stable
set search_path = ''
as $$
  select pg_catalog.count(*) = 3
  from pg_catalog.pg_trigger t
  where t.tgrelid = p_table
    and t.tgfoid = 'audit.capture_changes()'::pg_catalog.regprocedure
    and t.tgname in ('audit_changes_insert', 'audit_changes_update', 'audit_changes_delete')
    and t.tgenabled <> 'D'
$$;

comment on function audit.is_tracked(regclass) is 'Whether audit.track_table is in effect for the table.';

revoke all on function audit.track_table(regclass) from public, anon, authenticated;
revoke all on function audit.untrack_table(regclass) from public, anon, authenticated;
revoke all on function audit.is_tracked(regclass) from public, anon, authenticated;

-- The triggers name the primary key columns: a rename or a new primary key would leave them reading
-- columns that are gone (every write of the table failing on a null record_id). ALTER TABLE of a
-- tracked table therefore tracks it again.
create function audit.retrack_altered_tables()
returns event_trigger
language plpgsql
-- definer: any role may alter its own tables, and the check reads the audit schema it has no usage on.
security definer
set search_path = ''
as $$
declare
  v_table regclass;
begin
  for v_table in
    select distinct c.objid::regclass
    from pg_catalog.pg_event_trigger_ddl_commands() c
    where c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
  loop
    -- A table left without a primary key keeps its triggers (track_table would refuse it).
    if audit.is_tracked(v_table) and exists (
      select 1 from pg_catalog.pg_index i where i.indrelid = v_table and i.indisprimary
    ) then
      perform audit.track_table(v_table);
    end if;
  end loop;
end
$$;

comment on function audit.retrack_altered_tables() is
  'Event trigger: after ALTER TABLE of a tracked table, re-runs audit.track_table so the triggers name its current primary key columns.';

revoke all on function audit.retrack_altered_tables() from public, anon, authenticated;

create event trigger audit_retrack_altered_tables on ddl_command_end
  when tag in ('ALTER TABLE')
  execute function audit.retrack_altered_tables();

select audit.track_table('public.work_orders');
