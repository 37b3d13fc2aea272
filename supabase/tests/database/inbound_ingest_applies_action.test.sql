-- rpc_plugin_ingest_webhook applies a correctly signed, allowlisted action inside the installation's
-- tenant, records the delivery once and logs it.
begin;
select plan(10);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select is(
  pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
    - 'message',
  jsonb_build_object('ok', true, 'code', 'applied', 'action', 'work_order.set_status', 'duplicate', false,
    'installation_id', 'aaaaaaaa-aaaa-4000-8000-0000000000f1', 'delivery_id', 'dlv-1',
    'result', jsonb_build_object('work_order_id', 'aaaaaaaa-aaaa-4000-8000-00000000a001', 'status', 'done',
      'previous_status', 'open', 'changed', true)),
  'a signed set_status is applied and the result says what changed'
);
select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'done',
  'the work order has the new status');

select is(
  pg_temp.ingest('dlv-2',
    '{"action": "work_order.set_external_ref", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "external_ref": "SAP-4711"}}')
    ->> 'code',
  'applied', 'set_external_ref is applied');
select is((select external_ref from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'),
  'SAP-4711', 'the work order has the external reference');

select is(
  pg_temp.ingest('dlv-3',
    '{"action": "work_order.add_comment", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "body": "Technician dispatched"}}')
    ->> 'code',
  'applied', 'add_comment is applied');
select results_eq(
  $$select tenant_id, body, installation_id from public.work_order_comments$$,
  $$values ('aaaaaaaa-aaaa-4000-8000-000000000000'::uuid, 'Technician dispatched'::text,
            'aaaaaaaa-aaaa-4000-8000-0000000000f1'::uuid)$$,
  'the comment belongs to the work order''s tenant and names the installation as its author');

select is(
  pg_temp.ingest('dlv-4', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "in_progress"}}',
    p_signature_scheme => 'hex') ->> 'code',
  'applied', 'a 64-digit hex signature of the same content is accepted too');

select results_eq(
  $$select delivery_id, action, (result ->> 'code') from int.inbound_webhook_receipts order by delivery_id$$,
  $$values ('dlv-1', 'work_order.set_status', 'applied'), ('dlv-2', 'work_order.set_external_ref', 'applied'),
           ('dlv-3', 'work_order.add_comment', 'applied'), ('dlv-4', 'work_order.set_status', 'applied')$$,
  'each delivery id is recorded once with its result');
select results_eq(
  $$select delivery_id, outcome, code, tenant_id from int.inbound_webhook_log order by id$$,
  $$values ('dlv-1', 'applied', 'applied', 'aaaaaaaa-aaaa-4000-8000-000000000000'::uuid),
           ('dlv-2', 'applied', 'applied', 'aaaaaaaa-aaaa-4000-8000-000000000000'::uuid),
           ('dlv-3', 'applied', 'applied', 'aaaaaaaa-aaaa-4000-8000-000000000000'::uuid),
           ('dlv-4', 'applied', 'applied', 'aaaaaaaa-aaaa-4000-8000-000000000000'::uuid)$$,
  'each request is logged for the installation''s tenant');
select ok(
  not exists (select 1 from int.inbound_webhook_log l where l::text like '%Technician%' or l::text like '%inbound-secret%'),
  'the log holds neither the body nor the secret');

select * from finish();
rollback;
