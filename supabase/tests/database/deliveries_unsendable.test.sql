-- One delivery that cannot be queued (pg_net refuses its URL) fails on its own: the other deliveries
-- of the same run are still sent, and the error keeps the URL out of the table.
begin;
select plan(6);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- A URL pg_net refuses (the install RPC would not accept it; it is written directly here).
update int.plugin_installations
set config = jsonb_set(config, '{webhook_url}', '"https://bad host.example.com/?token=abc"')
where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';

insert into public.work_orders (tenant_id, title)
select t, 'Order' from unnest(array['aaaaaaaa-aaaa-4000-8000-000000000000',
  'aaaaaaaa-aaaa-4000-8000-000000000000', 'bbbbbbbb-bbbb-4000-8000-000000000000']::uuid[]) as t;

select is(
  public.rpc_process_plugin_deliveries(100) - 'extended_leases' - 'reconciled' - 'delivered',
  '{"queued": 3, "sent": 2, "not_sent": 1, "retried": 1, "dead": 0, "expired_leases": 0}'::jsonb,
  'the two good deliveries are sent and the bad one is not'
);
select is(
  (select array_agg(status) from int.plugin_deliveries where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  array['in_flight', 'in_flight'],
  'the other tenant''s deliveries went out'
);
select is(
  (select row(status, attempts)::text from int.plugin_deliveries
   where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  row('failed', 1)::text,
  'the unsendable delivery fails its attempt and waits for a retry'
);
select matches(
  (select last_error from int.plugin_deliveries where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  '^could not queue the request: invalid URL <url>',
  'the error says why'
);
select ok(
  (select last_error not like '%token=abc%' and last_error not like '%bad host%'
   from int.plugin_deliveries where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  'and leaves the URL out'
);
select is((select count(*)::int from net.http_request_queue), 2, 'only the good requests are queued');

select * from finish();
rollback;
