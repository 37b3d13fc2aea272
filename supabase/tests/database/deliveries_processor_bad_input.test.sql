-- rpc_process_plugin_deliveries refuses a p_limit outside 1..100000 with a clear error and does nothing.
begin;
select plan(6);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- One delivery already written as a pending row, one still queued.
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Waiting');
select private.expand_plugin_delivery_batches(100);
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Queued');

select throws_ok('select public.rpc_process_plugin_deliveries(0)', '22023',
  'p_limit must be between 1 and 100000, got 0', 'p_limit 0 is refused');
select throws_ok('select public.rpc_process_plugin_deliveries(100001)', '22023',
  'p_limit must be between 1 and 100000, got 100001', 'p_limit above 100000 is refused');
select throws_ok('select public.rpc_process_plugin_deliveries(null)', '22023',
  'p_limit must be between 1 and 100000, got null', 'a null p_limit is refused');
select is(
  (select row(status, attempts)::text from int.plugin_deliveries), row('pending', 0)::text,
  'a refused call leaves the delivery alone'
);
select is((select count(*)::int from int.plugin_queued_deliveries), 1, 'and leaves the queued delivery queued');
select is((select count(*)::int from net.http_request_queue), 0, 'and queues no request');

select * from finish();
rollback;
