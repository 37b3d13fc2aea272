-- Fan-out: every audited change becomes one delivery per matching subscription, queued in the same
-- transaction and set-based.
--
-- Why: a change that commits must have its deliveries queued by the same commit (nothing lost, no
-- delivery for a rolled-back change). The audit trigger hands each statement's audit ids to
-- audit.changes_captured, which this migration fills in: when any live subscription (it, its
-- installation and its plugin active: is_live) to the changed table exists in a tenant the statement
-- touched, it writes one batch row naming the statement's audit ids and the current
-- versions of those subscriptions (and one per 10,000 changes; a statement across tenants writes one
-- per tenant, with that tenant's changes only). The versions are immutable copies of the
-- subscriptions' operations, allowlist and include_payload, so the deliveries a batch stands for are
-- decided at enqueue time even though their rows are written later, by the processor
-- (private.expand_plugin_delivery_batches). One row per statement, not one per subscription: with
-- three subscriptions, the two extra rows cost about half as much CPU as the bare single-row insert.
--
-- int.plugin_queued_deliveries shows the deliveries of the batches exactly as they will be written:
--   position (audit id's position - 1) * number of versions + version's position: a statement's
--            changes in order, each to every subscription in turn
--   id       from the batch's delivery_id_seed and the position (see below)
--   type     <table_name>.<insert|update|delete>
--   payload  {"id", "type", "tenant_id", "installation_id", "audit_id", "occurred_at" (UTC, +00:00),
--             "data": {"table_schema", "table_name", "op", "record_id", "changed_fields"
--                      [, "old_data", "new_data"] (include_payload) [, "payload_truncated": true]}}
-- An audit id is delivered to a version when it is of the version's tenant, the change's operation
-- is subscribed and, for an UPDATE, there is no allowlist or the changed fields overlap it. With
-- include_payload, a body that would exceed 48 KB drops old_data and new_data and says
-- "payload_truncated": true instead; the receiver can fetch the row through the API. Audit rows are
-- never updated and versions only retired, so the body is the same whenever it is built.

create or replace function audit.changes_captured(
  p_table_schema text,
  p_table_name text,
  p_op text,
  p_audit_ids bigint[],
  p_tenant_ids uuid[]
)
returns void
language plpgsql
set search_path = ''
-- No plan_cache_mode here: it runs only inside audit.capture_changes and inherits its generic plans.
as $$
declare
  -- An UPDATE statement may also record INSERTs and DELETEs (a changed primary key).
  v_operations text[] := case when p_op = 'UPDATE' then array['INSERT', 'UPDATE', 'DELETE'] else array[p_op] end;
  v_version_ids bigint[];
begin
  if pg_catalog.cardinality(p_tenant_ids) = 1 then
    -- The usual statement: one tenant. Apart from the general case below, so that this path, paid by
    -- every audited write, starts no grouping of the audit rows and reads none of them back (the
    -- statement's ids are all this tenant's); and the versions first, so that a tenant without
    -- subscribers to the table sets up no insert at all.
    select pg_catalog.array_agg(s.version_id order by s.version_id) into v_version_ids
    from int.plugin_subscriptions s
    where s.tenant_id = p_tenant_ids[1]
      and s.table_schema = p_table_schema
      and s.table_name = p_table_name
      and s.is_live
      and s.operations && v_operations;
    if v_version_ids is null then
      return;
    elsif pg_catalog.cardinality(p_audit_ids) <= 10000 then
      insert into int.plugin_delivery_batches (subscription_version_ids, audit_ids)
      values (v_version_ids, p_audit_ids);
    else
      -- At most 10,000 ids a batch, so that the processor reads a small array for each slice it writes
      -- however large the statement was.
      insert into int.plugin_delivery_batches (subscription_version_ids, audit_ids)
      select v_version_ids, p_audit_ids[chunk.first:chunk.first + 9999]
      from pg_catalog.generate_series(1, pg_catalog.cardinality(p_audit_ids), 10000) as chunk(first);
    end if;
  else
    -- A statement across tenants (a bulk import, say): one batch per tenant with subscribers, holding
    -- only that tenant's changes, so that the processor does not step over the changes of the others;
    -- and at most 10,000 ids a batch, as above.
    insert into int.plugin_delivery_batches (subscription_version_ids, audit_ids)
    select m.version_ids, t.audit_ids[chunk.first:chunk.first + 9999]
    from (
      select c.tenant_id, pg_catalog.array_agg(c.id order by c.id) as audit_ids
      from audit.entity_changes c
      where c.id = any (p_audit_ids)
      group by c.tenant_id
    ) t
    cross join lateral (
      select pg_catalog.array_agg(s.version_id order by s.version_id) as version_ids
      from int.plugin_subscriptions s
      where s.tenant_id = t.tenant_id
        and s.table_schema = p_table_schema
        and s.table_name = p_table_name
        and s.is_live
        and s.operations && v_operations
      having pg_catalog.count(*) > 0
    ) m
    cross join pg_catalog.generate_series(1, pg_catalog.cardinality(t.audit_ids), 10000) as chunk(first);
  end if;
end
$$;

comment on function audit.changes_captured(text, text, text, bigint[], uuid[]) is
  'Called by the audit trigger once per statement: queues one int.plugin_delivery_batches row naming the matching live subscriptions.';

-- With include_payload, data over 47 KB loses old_data and new_data, so that a body (data plus an
-- envelope well under 1 KB) stays under 48 KB: pg_net hangs on POST bodies over 64 KB. A function, so
-- that the data is built once although it is read twice.
create function private.cap_plugin_delivery_data(p_data jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when pg_catalog.octet_length(p_data::text) <= 48128 then p_data
    else (p_data - 'old_data' - 'new_data') || '{"payload_truncated": true}'::jsonb
  end
$$;

comment on function private.cap_plugin_delivery_data(jsonb) is
  'A delivery''s data object, without old_data and new_data (and with "payload_truncated": true) when it is over 47 KB.';

revoke all on function private.cap_plugin_delivery_data(jsonb) from public, anon, authenticated;

-- The body of a delivery, built by the queue view below and by rpc_list_recent_deliveries (which builds
-- only the bodies it returns).
create function private.plugin_delivery_payload(
  p_id uuid,
  p_tenant_id uuid,
  p_installation_id uuid,
  p_include_payload boolean,
  p_change audit.entity_changes
)
returns jsonb
language sql
-- stable, not immutable: jsonb_build_object is marked so (it could write a timestamp in the session's
-- time zone; occurred_at is formatted in UTC first, so it does not).
stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'id', p_id,
    'type', (p_change).table_name || '.' || pg_catalog.lower((p_change).op),
    'tenant_id', p_tenant_id,
    'installation_id', p_installation_id,
    'audit_id', (p_change).id,
    -- In UTC whatever the session's TimeZone, so that the body is the same whoever builds it.
    'occurred_at', pg_catalog.to_char((p_change).created_at at time zone 'UTC',
      'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
    'data', case
      when p_include_payload then private.cap_plugin_delivery_data(pg_catalog.jsonb_build_object(
        'table_schema', (p_change).table_schema,
        'table_name', (p_change).table_name,
        'op', (p_change).op,
        'record_id', (p_change).record_id,
        'changed_fields', pg_catalog.to_jsonb((p_change).changed_fields),
        'old_data', (p_change).old_data,
        'new_data', (p_change).new_data))
      else pg_catalog.jsonb_build_object(
        'table_schema', (p_change).table_schema,
        'table_name', (p_change).table_name,
        'op', (p_change).op,
        'record_id', (p_change).record_id,
        'changed_fields', pg_catalog.to_jsonb((p_change).changed_fields))
    end
  )
$$;

comment on function private.plugin_delivery_payload(uuid, uuid, uuid, boolean, audit.entity_changes) is
  'The JSON body of the delivery of an audited change: {id, type, tenant_id, installation_id, audit_id, occurred_at, data}.';

revoke all on function private.plugin_delivery_payload(uuid, uuid, uuid, boolean, audit.entity_changes)
  from public, anon, authenticated;

-- Delivery ids: a batch's random seed gives the first 80 bits (version 4 and variant bits included);
-- the last 48 bits are the seed's own plus the position in the batch. The ids are unique, valid
-- UUIDs, and one batch's ids sit next to each other in the primary key index, which keeps large
-- fan-outs cheap (a random UUID per row costs more and scatters the index).
create view int.plugin_queued_deliveries
as
select
  b.id as batch_id,
  p.position,
  k.id,
  v.tenant_id,
  v.installation_id,
  s.id as subscription_id,
  c.id as audit_id,
  c.table_name || '.' || pg_catalog.lower(c.op) as event_type,
  v.include_payload,
  private.plugin_delivery_payload(k.id, v.tenant_id, v.installation_id, v.include_payload, c) as payload,
  b.created_at,
  a.audit_position
from int.plugin_delivery_batches b
cross join lateral pg_catalog.unnest(b.subscription_version_ids) with ordinality as sv(version_id, version_position)
join int.plugin_subscription_versions v on v.id = sv.version_id
cross join lateral pg_catalog.unnest(b.audit_ids) with ordinality as a(audit_id, audit_position)
cross join lateral (
  select (a.audit_position - 1) * pg_catalog.cardinality(b.subscription_version_ids) + sv.version_position
    as position
) p
cross join lateral (
  select (
    pg_catalog.left(b.delivery_id_seed::text, 24) || pg_catalog.lpad(pg_catalog.to_hex(
      (('x' || pg_catalog.right(b.delivery_id_seed::text, 12))::bit(48)::bigint + p.position) % 281474976710656
    ), 12, '0')
  )::uuid as id
) k
join audit.entity_changes c on c.id = a.audit_id
-- a deleted subscription leaves its queued deliveries without one, as it does delivery rows
left join int.plugin_subscriptions s on s.id = v.subscription_id
where p.position > b.expanded
  -- The same bound on the audit id's position alone, which can be applied as the ids are unnested:
  -- the position depends on the version too, and bounding only it reads every change once per version.
  and a.audit_position > b.expanded / pg_catalog.cardinality(b.subscription_version_ids)
  and c.tenant_id = v.tenant_id
  and c.op = any (v.operations)
  and (
    c.op <> 'UPDATE'
    or v.changed_fields_allowlist is null
    or pg_catalog.cardinality(v.changed_fields_allowlist) = 0
    or v.changed_fields_allowlist && c.changed_fields
  );

comment on view int.plugin_queued_deliveries is
  'The deliveries of int.plugin_delivery_batches not yet written to int.plugin_deliveries, as they will be written.';

revoke all on int.plugin_queued_deliveries from public, anon, authenticated, service_role;

-- Turns up to p_limit queued positions into delivery rows (pending, due at once), oldest batch first.
-- Batches are claimed with `for update skip locked`, so concurrent processors never write one twice;
-- a batch whose installations are all gone is dropped.
create function private.expand_plugin_delivery_batches(p_limit int)
returns int
language plpgsql
set search_path = ''
as $$
declare
  v_batch record;
  v_named_installations uuid[];
  v_named_subscriptions uuid[];
  v_installation_ids uuid[];
  v_left int := p_limit;
  v_take int;
  v_written int;
  v_total int := 0;
begin
  if p_limit is null or p_limit < 0 then
    raise exception using
      errcode = '22023',
      message = format('p_limit must be 0 or more, got %s', coalesce(p_limit::text, 'null'));
  end if;
  -- One batch at a time, so that a run locks only the batches it writes.
  while v_left > 0 loop
    select b.id, b.expanded, b.subscription_version_ids,
      pg_catalog.cardinality(b.audit_ids) * pg_catalog.cardinality(b.subscription_version_ids) as size
    into v_batch
    from int.plugin_delivery_batches b
    order by b.id
    limit 1
    for update of b skip locked;
    exit when not found;
    select pg_catalog.array_agg(v.installation_id), pg_catalog.array_agg(v.subscription_id)
    into v_named_installations, v_named_subscriptions
    from int.plugin_subscription_versions v
    where v.id = any (v_batch.subscription_version_ids);
    -- Held until commit, so an uninstall cannot remove an installation under the rows written next
    -- (it waits, then deletes them with the installation). An installation already gone took its
    -- versions, and so its part of the batch, with it.
    v_installation_ids := array(
      select i.id from int.plugin_installations i where i.id = any (v_named_installations) for key share of i
    );
    if pg_catalog.cardinality(v_installation_ids) = 0 then
      delete from int.plugin_delivery_batches where id = v_batch.id;
      continue;
    end if;
    -- Likewise the subscriptions: a delete in progress is waited for, so that the rows written next
    -- name only subscriptions that still exist (a deleted one's deliveries have no subscription_id)
    -- rather than failing the run on their foreign key.
    perform 1 from int.plugin_subscriptions s where s.id = any (v_named_subscriptions) for key share of s;
    v_take := least(v_left, v_batch.size - v_batch.expanded);
    insert into int.plugin_deliveries
      (id, tenant_id, installation_id, subscription_id, audit_id, event_type, payload, next_attempt_at,
       created_at, updated_at)
    select q.id, q.tenant_id, q.installation_id, q.subscription_id, q.audit_id, q.event_type, q.payload,
      q.created_at, q.created_at, q.created_at
    from int.plugin_queued_deliveries q
    where q.batch_id = v_batch.id
      and q.position <= v_batch.expanded + v_take
      -- the slice's audit ids only (see the view)
      and q.audit_position
        <= (v_batch.expanded + v_take - 1) / pg_catalog.cardinality(v_batch.subscription_version_ids) + 1
      and q.installation_id = any (v_installation_ids);
    get diagnostics v_written = row_count;
    v_total := v_total + v_written;
    v_left := v_left - v_take;
    if v_batch.expanded + v_take = v_batch.size then
      delete from int.plugin_delivery_batches where id = v_batch.id;
    else
      update int.plugin_delivery_batches set expanded = v_batch.expanded + v_take where id = v_batch.id;
    end if;
  end loop;
  return v_total;
end
$$;

comment on function private.expand_plugin_delivery_batches(int) is
  'Processor step: writes up to p_limit queued deliveries (int.plugin_queued_deliveries) as pending int.plugin_deliveries rows; returns how many.';

revoke all on function private.expand_plugin_delivery_batches(int) from public, anon, authenticated;
