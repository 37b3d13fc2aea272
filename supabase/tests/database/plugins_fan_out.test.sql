-- Fan-out: each audited change queues one delivery per matching active subscription, in the same
-- transaction, with the body fixed at enqueue time; operations, the UPDATE allowlist, include_payload,
-- tenants and inactive installations or plugins decide what is sent. Changes queue batches; the
-- processor's first step (private.expand_plugin_delivery_batches) writes their deliveries as rows,
-- so each change below is followed by that step before its deliveries are inspected.
begin;
select plan(32);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('Tenant B', '00000000-0000-4000-8000-0000000000b1') as b;
select public.rpc_register_plugin(k, k) from unnest(array['p_all', 'p_status', 'p_delete', 'p_b', 'p_docs']) k;
select vault.create_secret('signing-key', 'fan_out_hmac');
select vault.create_secret('signing-key-b', 'fan_out_hmac_b');
create temp table inst on commit drop as
select
  public.rpc_install_plugin(a, 'p_all', '{"webhook_url":"https://hooks.example.com/all"}', 'fan_out_hmac') as i_all,
  public.rpc_install_plugin(a, 'p_status', '{"webhook_url":"https://hooks.example.com/status"}', 'fan_out_hmac') as i_status,
  public.rpc_install_plugin(a, 'p_delete', '{"webhook_url":"https://hooks.example.com/delete"}', 'fan_out_hmac') as i_delete,
  public.rpc_install_plugin(b, 'p_b', '{"webhook_url":"https://hooks.example.com/b"}', 'fan_out_hmac_b') as i_b,
  public.rpc_install_plugin(a, 'p_docs', '{"webhook_url":"https://hooks.example.com/docs"}', 'fan_out_hmac') as i_docs
from ids;
select public.rpc_upsert_webhook_subscription(i_all, 'public', 'work_orders', '{INSERT,UPDATE,DELETE}'),
  public.rpc_upsert_webhook_subscription(i_status, 'public', 'work_orders', '{UPDATE}', '{status}', true),
  public.rpc_upsert_webhook_subscription(i_delete, 'public', 'work_orders', '{DELETE}'),
  public.rpc_upsert_webhook_subscription(i_b, 'public', 'work_orders', '{INSERT}')
from inst;

grant select on ids to authenticated;

-- Who got what: one row per written delivery, in audit order.
create function pg_temp.sent() returns setof text language sql as $$
  select d.event_type || ' -> ' || p.plugin_key
  from int.plugin_deliveries d join int.plugin_installations p on p.id = d.installation_id
  order by d.audit_id, p.plugin_key
$$;
-- Quiet from here on: truncate ... cascade notices.
set local client_min_messages = warning;

-- INSERT ----------------------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
insert into public.work_orders (tenant_id, title) select a, 'Fix the pump' from ids;
reset role;
reset request.jwt.claims;
-- The processor's session may have any TimeZone: the body does not depend on it.
set local timezone = 'America/New_York';
select private.expand_plugin_delivery_batches(100000);
reset timezone;
select ok(
  (select bool_and(d.payload ->> 'occurred_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$')
   from int.plugin_deliveries d),
  'occurred_at is written in UTC whatever the session''s time zone');

select results_eq('select * from pg_temp.sent()', array['work_orders.insert -> p_all'],
  'an INSERT reaches only the subscriptions with INSERT in their operations');

select is(
  (select array_agg(k order by k) from int.plugin_deliveries d, jsonb_object_keys(d.payload) k),
  array['audit_id', 'data', 'id', 'installation_id', 'occurred_at', 'tenant_id', 'type'],
  'the body has id, type, tenant_id, installation_id, audit_id, occurred_at and data');
select is(
  (select array_agg(k order by k) from int.plugin_deliveries d, jsonb_object_keys(d.payload -> 'data') k),
  array['changed_fields', 'op', 'record_id', 'table_name', 'table_schema'],
  'without include_payload, data carries record_id and changed_fields but no row data');
select ok(
  (select bool_and(
     d.payload ->> 'id' = d.id::text
     and d.payload ->> 'type' = 'work_orders.insert'
     and d.event_type = 'work_orders.insert'
     and (d.payload ->> 'tenant_id')::uuid = d.tenant_id
     and (d.payload ->> 'installation_id')::uuid = d.installation_id
     and (d.payload ->> 'audit_id')::bigint = d.audit_id
     and (d.payload ->> 'occurred_at')::timestamptz = c.created_at
     and d.payload -> 'data' = jsonb_build_object('table_schema', 'public', 'table_name', 'work_orders',
       'op', 'INSERT', 'record_id', w.id::text, 'changed_fields', '[]'::jsonb))
   from int.plugin_deliveries d
   join audit.entity_changes c on c.id = d.audit_id
   join public.work_orders w on w.id::text = c.record_id),
  'the body carries its own delivery id, the event type, tenant, installation, audit id, time and the change');
select ok(
  (select bool_and(d.status = 'pending' and d.attempts = 0 and d.next_attempt_at <= now()
     and d.subscription_id is not null and d.id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
   from int.plugin_deliveries d),
  'a new delivery is pending, due now, linked to its subscription, with a version-4 uuid');
select is((select actor from audit.entity_changes), '00000000-0000-4000-8000-0000000000a1'::uuid,
  'the audit row records the acting user');

-- UPDATE and the allowlist ------------------------------------------------------------------------------
truncate int.plugin_deliveries cascade;
update public.work_orders set title = 'Fix the big pump';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()', array['work_orders.update -> p_all'],
  'an UPDATE that touches no allowlisted field skips that subscription');

truncate int.plugin_deliveries cascade;
update public.work_orders set status = 'in_progress';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()',
  array['work_orders.update -> p_all', 'work_orders.update -> p_status'],
  'an UPDATE of an allowlisted field reaches the allowlisted subscription too');
select is(
  (select d.payload -> 'data' -> 'changed_fields' from int.plugin_deliveries d join inst on d.installation_id = inst.i_all),
  '["status"]'::jsonb, 'changed_fields lists exactly the changed columns');
select is(
  (select array_agg(k order by k) from int.plugin_deliveries d join inst on d.installation_id = inst.i_status,
     jsonb_object_keys(d.payload -> 'data') k),
  array['changed_fields', 'new_data', 'old_data', 'op', 'record_id', 'table_name', 'table_schema'],
  'with include_payload, data also has old_data and new_data');
select is(
  (select (d.payload #>> '{data,old_data,status}') || ' -> ' || (d.payload #>> '{data,new_data,status}')
   from int.plugin_deliveries d join inst on d.installation_id = inst.i_status),
  'open -> in_progress', 'old_data and new_data hold the row before and after');
select ok(
  (select not (d.payload -> 'data' ? 'old_data') and not (d.payload -> 'data' ? 'new_data')
   from int.plugin_deliveries d join inst on d.installation_id = inst.i_all),
  'the subscription without include_payload still gets no row data');

truncate int.plugin_deliveries cascade;
update public.work_orders set status = status;
select private.expand_plugin_delivery_batches(100000);
select is_empty('select * from pg_temp.sent()', 'a no-op UPDATE sends nothing');

-- Several rows in one statement -------------------------------------------------------------------------
truncate int.plugin_deliveries cascade;
insert into public.work_orders (tenant_id, title) select a, 'Batch ' || g from ids, generate_series(1, 3) g;
select private.expand_plugin_delivery_batches(100000);
select is((select count(distinct id)::int from int.plugin_deliveries), 3, 'a 3-row INSERT queues 3 deliveries with distinct ids');
select is((select count(distinct payload ->> 'audit_id')::int from int.plugin_deliveries), 3,
  'each delivery reports a different change');

-- DELETE ----------------------------------------------------------------------------------------------
truncate int.plugin_deliveries cascade;
delete from public.work_orders where title = 'Fix the big pump';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()',
  array['work_orders.delete -> p_all', 'work_orders.delete -> p_delete'],
  'a DELETE reaches the subscriptions with DELETE in their operations');
select is(
  (select payload #>> '{data,record_id}' from int.plugin_deliveries limit 1),
  (select record_id from audit.entity_changes where op = 'DELETE'), 'a DELETE delivery names the deleted record');

-- Tenants ---------------------------------------------------------------------------------------------
truncate int.plugin_deliveries cascade;
insert into public.work_orders (tenant_id, title) select b, 'B: replace the filter' from ids;
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()', array['work_orders.insert -> p_b'],
  'a change in tenant B reaches only tenant B''s subscriptions');

-- Inactive installations, plugins and subscriptions ------------------------------------------------------
truncate int.plugin_deliveries cascade;
select public.rpc_update_plugin_installation(i_all, p_is_active => false) from inst;
insert into public.work_orders (tenant_id, title) select a, 'Not sent' from ids;
select private.expand_plugin_delivery_batches(100000);
select is_empty('select * from pg_temp.sent()', 'an inactive installation gets nothing');
select public.rpc_update_plugin_installation(i_all, p_is_active => true) from inst;

select public.rpc_register_plugin('p_delete', 'p_delete', null, true, false);
delete from public.work_orders where title = 'Not sent';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()', array['work_orders.delete -> p_all'],
  'an inactive plugin gets nothing');

truncate int.plugin_deliveries cascade;
update int.plugin_subscriptions set is_active = false where installation_id = (select i_all from inst);
insert into public.work_orders (tenant_id, title) select a, 'Nobody listens' from ids;
select private.expand_plugin_delivery_batches(100000);
select is_empty('select * from pg_temp.sent()', 'an inactive subscription gets nothing');

-- Rolled back changes queue nothing ----------------------------------------------------------------------
update int.plugin_subscriptions set is_active = true;
savepoint before_change;
insert into public.work_orders (tenant_id, title) select a, 'Rolled back' from ids;
select isnt_empty('select * from int.plugin_queued_deliveries', 'inside the transaction the delivery is queued');
rollback to savepoint before_change;
select is_empty('select * from int.plugin_queued_deliveries', 'after the change rolls back, so does its delivery');

-- Bodies stay well under pg_net's 64 KB ------------------------------------------------------------------
create table public.documents (id bigint primary key, tenant_id uuid not null, body text not null);
select audit.track_table('public.documents');
select public.rpc_upsert_webhook_subscription(i_docs, 'public', 'documents', '{INSERT,UPDATE}', null, true) from inst;
truncate int.plugin_deliveries cascade;
insert into public.documents select 1, a, repeat('x', 1000) from ids;
insert into public.documents select 2, a, repeat('y', 60000) from ids;
select private.expand_plugin_delivery_batches(100000);
select is(
  (select payload #>> '{data,new_data,body}' from int.plugin_deliveries where payload #>> '{data,record_id}' = '1'),
  repeat('x', 1000), 'a small row is sent whole with include_payload');
select ok(
  (select (payload #> '{data,payload_truncated}') = 'true'::jsonb
     and not (payload -> 'data' ? 'new_data') and not (payload -> 'data' ? 'old_data')
   from int.plugin_deliveries where payload #>> '{data,record_id}' = '2'),
  'a body that would exceed 48 KB drops old_data and new_data and says payload_truncated');
select ok(
  (select max(octet_length(payload::text)) < 49152 from int.plugin_deliveries),
  'every body stays under 48 KB');
select is(
  (select payload #>> '{data,record_id}' || ' ' || (payload #> '{data,changed_fields}')::text
   from int.plugin_deliveries where payload #>> '{data,record_id}' = '2'),
  '2 []', 'a truncated body still names the record and the changed fields');

truncate int.plugin_deliveries cascade;
update public.documents set body = body || '!' where id = 2;
select private.expand_plugin_delivery_batches(100000);
select is((select payload #> '{data,changed_fields}' from int.plugin_deliveries), '["body"]'::jsonb,
  'a truncated UPDATE still lists the changed fields');

-- Uninstalling removes what was queued ---------------------------------------------------------------
select public.rpc_uninstall_plugin(i_docs) from inst;
select is_empty('select * from pg_temp.sent()', 'uninstalling removes the installation''s queued deliveries');

-- Deleting a subscription keeps what was queued ---------------------------------------------------------
truncate int.plugin_deliveries cascade;
insert into public.work_orders (tenant_id, title) select a, 'Queued before the unsubscribe' from ids;
select public.rpc_delete_webhook_subscription(s.id) from int.plugin_subscriptions s, inst where s.installation_id = inst.i_all;
-- The processor writes the deliveries queued before the unsubscribe only now.
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()', array['work_orders.insert -> p_all'],
  'deleting a subscription keeps its queued deliveries');
select is((select subscription_id from int.plugin_deliveries), null, 'their subscription_id becomes null');

select * from finish();
rollback;
