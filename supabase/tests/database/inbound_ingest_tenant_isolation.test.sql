-- An installation acts only inside its own tenant: with a perfectly valid signature, tenant A's
-- installation cannot see, change or comment on tenant B's work order.
begin;
select plan(5);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select is(
  pg_temp.ingest('dlv-1', '{"action": "work_order.set_status", "args": {"work_order_id": "bbbbbbbb-bbbb-4000-8000-00000000b001", "status": "cancelled"}}')
    ->> 'message',
  'work_order.set_status: work order bbbbbbbb-bbbb-4000-8000-00000000b001 does not exist in this installation''s tenant',
  'another tenant''s work order does not exist for the installation');
select is(
  pg_temp.ingest('dlv-2', '{"action": "work_order.set_external_ref", "args": {"work_order_id": "bbbbbbbb-bbbb-4000-8000-00000000b001", "external_ref": "X"}}')
    ->> 'code',
  'work_order_not_found', 'set_external_ref cannot reach it either');
select is(
  pg_temp.ingest('dlv-3', '{"action": "work_order.add_comment", "args": {"work_order_id": "bbbbbbbb-bbbb-4000-8000-00000000b001", "body": "hi"}}')
    ->> 'code',
  'work_order_not_found', 'nor can add_comment');
select row_eq(
  $$select status, external_ref from public.work_orders where id = 'bbbbbbbb-bbbb-4000-8000-00000000b001'$$,
  row('open'::text, null::text), 'tenant B''s work order is unchanged');
select is(
  (select count(*)::int from int.inbound_webhook_log where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'), 0,
  'and tenant B''s log has nothing from tenant A''s installation');

select * from finish();
rollback;
