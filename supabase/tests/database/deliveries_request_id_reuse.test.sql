-- pg_net's request ids come from a sequence that starts again at 1 when the extension is dropped and
-- created again (an upgrade by reinstall, a repair). A response is matched only to a delivery sent
-- through the same pg_net: an older in-flight delivery whose request id is reused by a new request
-- is not marked by the new request's response; it stays in flight until its lease expires and is
-- then retried.
begin;
select plan(9);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Before');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the first delivery is sent');

create temporary table old_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d where d.status = 'in_flight';

-- pg_net is dropped and created again: its queue and responses are gone, its ids start over.
drop extension pg_net;
create extension pg_net with schema extensions;
-- Earlier tests in this database used ids too: go straight to the old request's id.
do $$ begin perform setval('net.http_request_queue_id_seq', (select net_request_id from old_delivery), false); end $$;

insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'After');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'a new delivery is sent through the new pg_net');

create temporary table new_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d
where d.status = 'in_flight' and d.id <> (select id from old_delivery);

select is((select net_request_id from new_delivery), (select net_request_id from old_delivery),
  'the new request got the old request''s id');

-- While the new request waits in pg_net's queue, the old delivery's expired lease is not extended
-- because of it: the old request is gone.
update int.plugin_deliveries set lease_expires_at = now() - interval '1 second'
where id = (select id from old_delivery);
select is(
  public.rpc_process_plugin_deliveries(100) - 'not_sent',
  '{"reconciled": 0, "delivered": 0, "retried": 1, "dead": 0, "expired_leases": 1, "extended_leases": 0, "queued": 0, "sent": 0}'::jsonb,
  'an expired lease is not extended by a queued request of the new pg_net that reuses its id'
);
select is(
  (select row(status, last_error)::text from int.plugin_deliveries where id = (select id from old_delivery)),
  row('failed', 'lease expired without a response')::text,
  'the old delivery fails its lost attempt and will be retried'
);

-- The old delivery is sent again; then the new request's answer arrives.
select pg_temp.make_due();
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the old delivery is sent again');
insert into net._http_response (id, status_code, content)
select net_request_id, 200, 'ok' from new_delivery;
select is(public.rpc_process_plugin_deliveries(100) ->> 'reconciled', '1',
  'the response is matched to one delivery only');
select is((select status from int.plugin_deliveries where id = (select id from new_delivery)), 'delivered',
  'the delivery it answers is delivered');
select is((select status from int.plugin_deliveries where id = (select id from old_delivery)), 'in_flight',
  'the other delivery is still waiting for its own response');

select * from finish();
rollback;
