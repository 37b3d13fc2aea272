-- Fan-out: every audited change becomes one delivery per matching subscription, in the same
-- transaction and set-based.
--
-- Why: a change that commits must have its deliveries queued by the same commit (nothing lost, no
-- delivery for a rolled-back change). A statement-level AFTER INSERT trigger on audit.entity_changes
-- joins the statement's new audit rows (transition table) with active subscriptions of active
-- installations of active plugins: same tenant, same table, operation subscribed, and for UPDATE the
-- changed fields overlap the allowlist when there is one. One INSERT ... SELECT writes them all.
--
-- The payload is the exact body receivers get, fixed here (delivery ids are generated in the SELECT
-- so the body can carry its own id):
--   {"id", "type", "tenant_id", "installation_id", "audit_id", "occurred_at",
--    "data": {"table_schema", "table_name", "op", "record_id", "changed_fields"
--             [, "old_data", "new_data"] (include_payload) [, "payload_truncated": true]}}
-- With include_payload a body over 48 KB drops old_data/new_data and says "payload_truncated": true
-- instead (pg_net hangs on POST bodies over 64 KB); the receiver can fetch the row through the API.
--
-- Delivery ids: one random UUID per statement gives the first 80 bits (version 4 and variant bits
-- included); the last 48 bits are a random offset plus the row's number in the statement. The ids are
-- unique, valid UUIDs, and one statement's ids sit next to each other in the primary key index, which
-- keeps large fan-outs cheap (a random UUID per row costs more and scatters the index).

create function private.fan_out_plugin_deliveries()
returns trigger
language plpgsql
-- definer: audit rows are written by whoever changed a tracked table; the queue is not theirs to write.
security definer
set search_path = ''
-- One plan for the session: re-planning per statement costs more than a single-row fan-out itself.
-- The query's shape (loop over the few matching subscriptions) suits any statement size.
set plan_cache_mode = force_generic_plan
as $$
declare
  v_seed text := pg_catalog.gen_random_uuid()::text;
  v_prefix text := pg_catalog.left(v_seed, 24);
  v_offset bigint := ('x' || pg_catalog.right(v_seed, 12))::bit(48)::bigint;
begin
  -- subs: the few active subscriptions for the (tenant, table) pairs of this statement, found with one
  -- index probe per pair (usually one). When there are none, nothing else is read or built.
  with subs as materialized (
    select s.id, s.installation_id, s.tenant_id, s.table_schema, s.table_name, s.operations,
      s.changed_fields_allowlist, s.include_payload
    from (select distinct c.tenant_id, c.table_schema, c.table_name from new_changes c) k
    join int.plugin_subscriptions s
      on s.tenant_id = k.tenant_id and s.table_schema = k.table_schema and s.table_name = k.table_name
      and s.is_active
    join int.plugin_installations i on i.id = s.installation_id and i.is_active
    join int.plugins p on p.key = i.plugin_key and p.is_active
  )
  insert into int.plugin_deliveries (id, tenant_id, installation_id, subscription_id, audit_id, event_type, payload)
  select m.id, m.tenant_id, m.installation_id, m.subscription_id, m.audit_id, m.event_type,
    case
      when not m.include_payload then m.body
      when pg_catalog.octet_length(m.body::text) <= 49152 then m.body
      else pg_catalog.jsonb_set(
        m.body, '{data}',
        ((m.body -> 'data') - 'old_data' - 'new_data') || '{"payload_truncated": true}'::jsonb)
    end
  from (
    select j.id, j.tenant_id, j.installation_id, j.subscription_id, j.audit_id, j.event_type, j.include_payload,
      pg_catalog.jsonb_build_object(
        'id', j.id,
        'type', j.event_type,
        'tenant_id', j.tenant_id,
        'installation_id', j.installation_id,
        'audit_id', j.audit_id,
        'occurred_at', j.created_at,
        'data', case
          when j.include_payload then pg_catalog.jsonb_build_object(
            'table_schema', j.table_schema,
            'table_name', j.table_name,
            'op', j.op,
            'record_id', j.record_id,
            'changed_fields', pg_catalog.to_jsonb(j.changed_fields),
            'old_data', j.old_data,
            'new_data', j.new_data)
          else pg_catalog.jsonb_build_object(
            'table_schema', j.table_schema,
            'table_name', j.table_name,
            'op', j.op,
            'record_id', j.record_id,
            'changed_fields', pg_catalog.to_jsonb(j.changed_fields))
        end
      ) as body
    from (
      select
        (v_prefix || pg_catalog.lpad(
          pg_catalog.to_hex((v_offset + pg_catalog.row_number() over ()) % 281474976710656), 12, '0'))::uuid as id,
        c.tenant_id, s.installation_id, s.id as subscription_id, c.id as audit_id,
        c.table_name || '.' || pg_catalog.lower(c.op) as event_type, s.include_payload, c.created_at,
        c.table_schema, c.table_name, c.op, c.record_id, c.changed_fields, c.old_data, c.new_data
      from subs s
      -- Subscriptions drive the loop: with none, the statement's changes are not read again.
      cross join lateral (
        select c.id, c.tenant_id, c.table_schema, c.table_name, c.op, c.record_id, c.changed_fields,
          c.old_data, c.new_data, c.created_at
        from new_changes c
        where c.tenant_id = s.tenant_id
          and c.table_schema = s.table_schema
          and c.table_name = s.table_name
          and c.op = any (s.operations)
          and (
            c.op <> 'UPDATE'
            or s.changed_fields_allowlist is null
            or pg_catalog.cardinality(s.changed_fields_allowlist) = 0
            or s.changed_fields_allowlist && c.changed_fields
          )
        offset 0
      ) c
    ) j
    -- Not pulled up, so each body is built once even where the CASE above reads it twice.
    offset 0
  ) m;
  return null;
end
$$;

comment on function private.fan_out_plugin_deliveries() is
  'Statement-level AFTER INSERT trigger on audit.entity_changes: queues one delivery per change and matching subscription.';

revoke all on function private.fan_out_plugin_deliveries() from public, anon, authenticated;

create trigger fan_out_plugin_deliveries
  after insert on audit.entity_changes
  referencing new table as new_changes
  for each statement execute function private.fan_out_plugin_deliveries();
