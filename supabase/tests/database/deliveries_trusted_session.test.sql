-- A direct database session without a request JWT (the SQL editor as postgres, pg_cron, psql) is
-- trusted by every tenant-scoped RPC, like the service role: rpc_list_recent_deliveries lists the
-- tenant's delivery rows (not only those still queued), rpc_redeliver_plugin_delivery returns the
-- delivery it put back, and the views show the rows, as they do for the service role.
begin;
select plan(5);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Sent');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the delivery is sent');
select is(pg_temp.answer_in_flight(200), 1, 'the receiver answers');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '1', 'the delivery is delivered');

select is(
  (select array_agg(l.status) from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000') l),
  array['delivered'],
  'a direct session lists the tenant''s delivered delivery'
);
select is(
  (public.rpc_redeliver_plugin_delivery((select id from int.plugin_deliveries))).status,
  'pending',
  'a direct session''s redelivery returns the delivery, now pending'
);

select * from finish();
rollback;
