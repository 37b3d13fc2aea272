-- rpc_plugin_ingest_webhook applies a correctly signed, allowlisted action inside the installation's
-- tenant, records the delivery once and logs it.
begin;
select plan(10);

-- Fixture: tenants A and B, each with an admin, a work order and an installation of the plugin
-- `inbound_test` whose Vault secret is known here. pg_temp.ingest() calls the RPC as the service role
-- with a correctly signed request unless told otherwise.
-- Quiet: other features' triggers on auth.users warn about their own missing settings.
set local client_min_messages = error;
insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'admin-a@inbound.test'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'member-a@inbound.test'),
  ('bbbbbbbb-0000-4000-8000-000000000001', 'admin-b@inbound.test');
reset client_min_messages;
insert into public.tenants (id, name) values
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Tenant A'),
  ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Tenant B');
insert into public.tenant_memberships (tenant_id, user_id, role) values
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000001', 'tenant.admin'),
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000002', 'tenant.member'),
  ('bbbbbbbb-bbbb-4000-8000-000000000000', 'bbbbbbbb-0000-4000-8000-000000000001', 'tenant.admin');
select vault.create_secret('inbound-secret-a-0123456789', 'inbound_test_secret_a');
select vault.create_secret('inbound-secret-b-0123456789', 'inbound_test_secret_b');
insert into int.plugins (key, name) values ('inbound_test', 'Inbound test');
insert into int.plugin_installations (id, tenant_id, plugin_key, config, secret_ref) values
  ('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'aaaaaaaa-aaaa-4000-8000-000000000000', 'inbound_test',
    '{"webhook_url": "https://hooks.example.com/a"}', 'inbound_test_secret_a'),
  ('bbbbbbbb-bbbb-4000-8000-0000000000f1', 'bbbbbbbb-bbbb-4000-8000-000000000000', 'inbound_test',
    '{"webhook_url": "https://hooks.example.com/b"}', 'inbound_test_secret_b');
insert into public.work_orders (id, tenant_id, title) values
  ('aaaaaaaa-aaaa-4000-8000-00000000a001', 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Pump 7 leaks'),
  ('bbbbbbbb-bbbb-4000-8000-00000000b001', 'bbbbbbbb-bbbb-4000-8000-000000000000', 'Door 3 sticks');

create function pg_temp.sign(p_secret text, p_id text, p_timestamp bigint, p_body text, p_scheme text default 'v1')
returns text
language sql
as $$
  select case p_scheme when 'hex' then encode(m.mac, 'hex') else 'v1,' || encode(m.mac, 'base64') end
  from (select extensions.hmac(convert_to(p_id || '.' || p_timestamp || '.' || p_body, 'UTF8'),
    convert_to(p_secret, 'UTF8'), 'sha256') as mac) m
$$;

create function pg_temp.ingest(
  p_id text,
  p_body text,
  p_installation uuid default 'aaaaaaaa-aaaa-4000-8000-0000000000f1',
  p_secret text default 'inbound-secret-a-0123456789',
  p_timestamp bigint default extract(epoch from now())::bigint,
  p_signature_scheme text default 'v1'
)
returns jsonb
language sql
as $$
  select public.rpc_plugin_ingest_webhook(p_installation, p_id, p_timestamp,
    pg_temp.sign(p_secret, p_id, p_timestamp, p_body, p_signature_scheme), p_body)
$$;

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
