-- pg_net's queue, its responses and its request id sequence are all unlogged (on PostgreSQL 15 and
-- newer the bigserial's sequence of an unlogged table is unlogged too). A crash, an immediate
-- shutdown, a restore or a failover resets every unlogged relation: the queue and the responses are
-- emptied and the ids start again at 1, under the SAME pg_extension oid. A delivery in flight before
-- the crash lost its request; a new request that is later given the same id must neither keep the old
-- delivery's lease alive nor settle it with its response.
begin;
select plan(6);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Before the crash');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the first delivery is sent');

create temporary table old_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d where d.status = 'in_flight';

-- The crash, as crash recovery's reset of unlogged relations does it: every unlogged table of the
-- database is emptied and every unlogged sequence starts over. The extension is not touched.
do $$
declare
  v_rel regclass;
begin
  for v_rel in
    select c.oid::regclass from pg_catalog.pg_class c where c.relpersistence = 'u' and c.relkind = 'r'
  loop
    execute format('truncate %s', v_rel);
  end loop;
  for v_rel in
    select c.oid::regclass from pg_catalog.pg_class c where c.relpersistence = 'u' and c.relkind = 'S'
  loop
    execute format('alter sequence %s restart', v_rel);
  end loop;
end
$$;
select is(
  (select c.relpersistence::text from pg_catalog.pg_class c where c.oid = 'net.http_request_queue_id_seq'::regclass),
  'u',
  'pg_net''s request id sequence is unlogged, so a crash restarts it'
);
-- The ids restarted at 1; other pg_net users (and this processor) use them up again. Go straight to
-- the old request's id, as the existing request id tests do.
do $$ begin perform setval('net.http_request_queue_id_seq', (select net_request_id from old_delivery), false); end $$;

insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'After the crash');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'a new delivery is sent after the crash');

create temporary table new_delivery on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d
where d.status = 'in_flight' and d.id <> (select id from old_delivery);

-- While the new request waits in pg_net's queue, the old delivery's lease expires: its own request
-- was lost in the crash, so this is a failed attempt, not a request still waiting to be sent.
update int.plugin_deliveries set lease_expires_at = now() - interval '1 second'
where id = (select id from old_delivery);
select is(
  public.rpc_process_plugin_deliveries(100) - 'not_sent' - 'queued' - 'sent',
  '{"reconciled": 0, "delivered": 0, "retried": 1, "dead": 0, "expired_leases": 1, "extended_leases": 0}'::jsonb,
  'a lease lost in a crash is not extended by a new request that reuses its request id'
);

-- The new request is answered 2xx by its receiver (tenant B's), once, as pg_net records it.
insert into net._http_response (id, status_code, content)
select net_request_id, 200, 'ok' from new_delivery;
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '1',
  'a response after the crash settles exactly one delivery');
select isnt(
  (select status from int.plugin_deliveries where id = (select id from old_delivery)),
  'delivered',
  'the delivery whose request was lost in the crash is not marked delivered by another request''s 2xx'
);

select * from finish();
rollback;
