-- A response of the new pg_net answers only the delivery sent through it,
-- also while an older delivery that was sent with the same request id is still within its lease (the
-- existing request-id-reuse test only answers after the old delivery was sent again).
begin;
select plan(3);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Before');
select public.rpc_process_plugin_deliveries(100);
create temporary table old_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d where d.status = 'in_flight';

drop extension pg_net;
create extension pg_net with schema extensions;
do $$ begin perform setval('net.http_request_queue_id_seq', (select net_request_id from old_delivery), false); end $$;

insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'After');
select public.rpc_process_plugin_deliveries(100);
create temporary table new_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d
where d.status = 'in_flight' and d.id <> (select id from old_delivery);
select is((select net_request_id from new_delivery), (select net_request_id from old_delivery),
  'the new request reuses the old request''s id');

-- The new request is answered while the old delivery's lease is still running.
insert into net._http_response (id, status_code, content) select net_request_id, 200, 'ok' from new_delivery;
select is(public.rpc_process_plugin_deliveries(100) ->> 'reconciled', '1',
  'the response is matched to the delivery of the new pg_net only');
select is((select status from int.plugin_deliveries where id = (select id from old_delivery)), 'in_flight',
  'the old delivery is not marked delivered by another request''s response');

select * from finish();
rollback;
