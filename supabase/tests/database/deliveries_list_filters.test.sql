-- rpc_list_recent_deliveries' filters, for a tenant with two installations and deliveries in several
-- statuses, written and still queued: the installation filter keeps only that installation's
-- deliveries, the status filter only that status (queued deliveries count as pending), and both combine.
begin;
select plan(7);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- A second installation in tenant A, of another plugin, subscribed to the same INSERTs.
select vault.create_secret('test-secret-a2-0123456789', 'deliveries_test_secret_a2');
create temporary table inst on commit drop as
select 'first' as name, i.id from int.plugin_installations i
where i.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
grant select, insert on inst to service_role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select public.rpc_register_plugin('deliveries_other', 'Other deliveries test', 'pgTAP fixture', true, true);
insert into inst
select 'second', public.rpc_install_plugin('aaaaaaaa-aaaa-4000-8000-000000000000', 'deliveries_other',
  '{"webhook_url": "https://hooks.example.com/a2"}', 'deliveries_test_secret_a2');
select public.rpc_upsert_webhook_subscription((select id from inst where name = 'second'), 'public', 'work_orders',
  array['INSERT']);
reset role;
select set_config('request.jwt.claims', '', true);
grant select on inst to authenticated;

-- Two changes: each installation gets two deliveries; the first installation's are delivered, the
-- second's stay in flight. Then one more change, still queued for both installations.
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Order ' || n from generate_series(1, 2) as n;
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '4', 'four deliveries are sent');
insert into net._http_response (id, status_code, content)
select d.net_request_id, 200, 'ok' from int.plugin_deliveries d
where d.installation_id = (select id from inst where name = 'first');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '2', 'the first installation''s two are delivered');
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Queued');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);

select is(
  (select array_agg(row(i.name, l.status)::text order by i.name, l.status)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000') l join inst i on i.id = l.installation_id),
  array['(first,delivered)', '(first,delivered)', '(first,pending)', '(second,in_flight)', '(second,in_flight)',
    '(second,pending)'],
  'unfiltered, the admin lists both installations'' deliveries'
);
select is(
  (select array_agg(row(i.name, l.status)::text order by l.status)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000',
     p_installation_id => (select id from inst where name = 'second')) l join inst i on i.id = l.installation_id),
  array['(second,in_flight)', '(second,in_flight)', '(second,pending)'],
  'the installation filter lists only that installation''s deliveries, queued ones included'
);
select is(
  (select array_agg(row(i.name, l.status)::text)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_status => 'delivered') l
   join inst i on i.id = l.installation_id),
  array['(first,delivered)', '(first,delivered)'],
  'the status filter lists only deliveries in that status, not the queued ones'
);
select is(
  (select array_agg(row(i.name, l.status)::text order by i.name)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_status => 'pending') l
   join inst i on i.id = l.installation_id),
  array['(first,pending)', '(second,pending)'],
  'filtering on pending lists the queued deliveries'
);
select is(
  (select array_agg(row(i.name, l.status)::text)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000',
     p_installation_id => (select id from inst where name = 'first'), p_status => 'in_flight') l
   join inst i on i.id = l.installation_id),
  null::text[],
  'both filters combine: the first installation has nothing in flight'
);

select * from finish();
rollback;
