-- Timestamps more than 5 minutes from the database's clock, either way, are refused as
-- stale_timestamp even when the signature is right; nothing is applied or recorded.
begin;
select plan(6);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select is(
  pg_temp.ingest('dlv-old',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_timestamp => extract(epoch from now())::bigint - 301) ->> 'code',
  'stale_timestamp', 'a timestamp 301 s old is refused');
select is(
  pg_temp.ingest('dlv-future',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_timestamp => extract(epoch from now())::bigint + 301) ->> 'code',
  'stale_timestamp', 'a timestamp 301 s in the future is refused');
select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'open',
  'nothing was applied');
select is((select count(*)::int from int.inbound_webhook_receipts), 0, 'no delivery id is recorded');
select results_eq(
  $$select delivery_id, outcome, code from int.inbound_webhook_log order by id$$,
  $$values ('dlv-old', 'rejected', 'stale_timestamp'), ('dlv-future', 'rejected', 'stale_timestamp')$$,
  'both refusals are logged');
select is(
  pg_temp.ingest('dlv-ok',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_timestamp => extract(epoch from now())::bigint - 290) ->> 'code',
  'applied', 'a timestamp 290 s old is still inside the window');

select * from finish();
rollback;
