-- rpc_list_inbound_webhooks and v_plugin_inbound_webhooks show a tenant admin their own tenant's
-- inbound log, never another tenant's, and refuse members and bad filters.
begin;
select plan(8);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

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
