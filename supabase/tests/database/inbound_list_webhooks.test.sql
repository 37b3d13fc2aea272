-- rpc_list_inbound_webhooks and v_plugin_inbound_webhooks show a tenant admin their own tenant's
-- inbound log, never another tenant's, and refuse members and bad filters.
begin;
select plan(8);

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

select pg_temp.ingest('dlv-a1', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}');
select pg_temp.ingest('dlv-a2', '{"action": "nope"}');
select pg_temp.ingest('dlv-b1', '{"action": "work_order.set_status", "args": {"work_order_id": "bbbbbbbb-bbbb-4000-8000-00000000b001", "status": "done"}}',
  p_installation => 'bbbbbbbb-bbbb-4000-8000-0000000000f1', p_secret => 'inbound-secret-b-0123456789');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select results_eq(
  $$select delivery_id, outcome, code, plugin_key from public.rpc_list_inbound_webhooks('aaaaaaaa-aaaa-4000-8000-000000000000')$$,
  $$values ('dlv-a2', 'rejected', 'unknown_action', 'inbound_test'), ('dlv-a1', 'applied', 'applied', 'inbound_test')$$,
  'the admin sees their tenant''s requests, newest first');
select results_eq(
  $$select delivery_id from public.rpc_list_inbound_webhooks('aaaaaaaa-aaaa-4000-8000-000000000000', p_outcome => 'applied')$$,
  $$values ('dlv-a1')$$,
  'p_outcome filters by outcome');
select is((select count(*)::int from public.v_plugin_inbound_webhooks), 2, 'the view shows only the admin''s tenant');
select throws_ok(
  $$select * from public.rpc_list_inbound_webhooks('bbbbbbbb-bbbb-4000-8000-000000000000')$$,
  '42501', null, 'another tenant''s log is refused');
select throws_ok(
  $$select * from public.rpc_list_inbound_webhooks('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => 0)$$,
  '22023', 'p_limit must be between 1 and 500, got 0', 'a bad limit is refused');
select throws_ok(
  $$select * from public.rpc_list_inbound_webhooks('aaaaaaaa-aaaa-4000-8000-000000000000', p_installation_id => 'bbbbbbbb-bbbb-4000-8000-0000000000f1')$$,
  '22023', null, 'another tenant''s installation is refused as a filter');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000002", "role": "authenticated"}', true);
select throws_ok(
  $$select * from public.rpc_list_inbound_webhooks('aaaaaaaa-aaaa-4000-8000-000000000000')$$,
  '42501', null, 'a plain member may not read the inbound log');
select is((select count(*)::int from public.v_plugin_inbound_webhooks), 0, 'and sees nothing in the view');
reset role;

select * from finish();
rollback;
