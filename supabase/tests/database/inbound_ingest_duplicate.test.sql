-- A delivery id is applied once per installation: a duplicate returns the first result, marked
-- duplicate, and changes nothing, even when it is signed again with a fresh timestamp.
begin;
select plan(7);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

create temporary table first_result on commit drop as
select pg_temp.ingest('dlv-1',
  '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
  as r;

-- Someone changes the status back after the first delivery was applied.
update public.work_orders set status = 'open' where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001';

select is(
  pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_timestamp => extract(epoch from now())::bigint - 60),
  (select r || '{"duplicate": true}' from first_result),
  'the duplicate gets the first result with duplicate: true');
select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'open',
  'the duplicate did not apply the action again');

select is(
  pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "cancelled"}}')
    ->> 'duplicate',
  'true', 'a different body under a delivery id already used is a duplicate too');
select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'open',
  'and changes nothing');

select is((select count(*)::int from int.inbound_webhook_receipts), 1, 'the delivery id is recorded once');
select results_eq(
  $$select outcome from int.inbound_webhook_log order by id$$,
  $$values ('applied'), ('duplicate'), ('duplicate')$$,
  'the log shows the first request applied and both repeats as duplicates');

select is(
  pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "bbbbbbbb-bbbb-4000-8000-00000000b001", "status": "done"}}',
    p_installation => 'bbbbbbbb-bbbb-4000-8000-0000000000f1', p_secret => 'inbound-secret-b-0123456789') ->> 'code',
  'applied', 'delivery ids are per installation: another installation may use the same id');

select * from finish();
rollback;
