-- Tenant admins read their own tenant's deliveries, through rpc_list_recent_deliveries and the
-- v_plugin_deliveries / v_plugin_delivery_attempts views, and never another tenant's (nor another
-- tenant's deliveries still queued, which only the RPC lists).
begin;
select plan(25);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'A' || n from generate_series(1, 3) as n;
insert into public.work_orders (tenant_id, title)
select 'bbbbbbbb-bbbb-4000-8000-000000000000', 'B' || n from generate_series(1, 2) as n;
-- send everything once, deliver one of A's, so there are attempts and two statuses
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '5', 'five deliveries are sent');
insert into net._http_response (id, status_code, content)
select net_request_id, 200, 'ok' from int.plugin_deliveries
where status = 'in_flight' order by tenant_id, created_at, id limit 1;
insert into net._http_response (id, status_code, content)
select net_request_id, 200, 'ok' from int.plugin_deliveries
where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '3', 'three are delivered');

update int.plugin_deliveries d set created_at = now() - x.n * interval '1 minute'
from (select id, row_number() over (order by id) as n from int.plugin_deliveries) as x
where x.id = d.id;

-- One more change in tenant B, queued but not yet written by the processor.
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'B3');

create temporary table installation_of on commit drop as
select tenant_id, id from int.plugin_installations;
grant select on installation_of to authenticated;

-- Admin of tenant A.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);

select is(
  (select count(*)::int from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000')),
  3, 'an admin lists the three deliveries of their tenant'
);
select is(
  (select count(*)::int from public.v_plugin_deliveries), 3,
  'the view shows an admin only their tenant''s deliveries'
);
select is(
  (select array_agg(distinct tenant_id) from public.v_plugin_delivery_attempts),
  array['aaaaaaaa-aaaa-4000-8000-000000000000'::uuid],
  'the attempts view shows only their tenant''s attempts'
);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''bbbbbbbb-bbbb-4000-8000-000000000000'')',
  '42501', null, 'an admin cannot list another tenant''s deliveries'
);
select is(
  (select count(*)::int from public.v_plugin_deliveries where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  0, 'nor see them in the view'
);

select is(
  (select array_agg(status) from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_status => 'delivered')),
  array['delivered'], 'the status filter returns only deliveries in that status'
);
select is(
  (select count(*)::int from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000',
     p_installation_id => (select id from installation_of where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'))),
  3, 'the installation filter returns that installation''s deliveries'
);
select is(
  (select count(*)::int from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => 2)),
  2, 'p_limit bounds the result'
);
select is(
  (select array_agg(created_at) from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000')),
  (select array_agg(created_at order by created_at desc)
   from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000')),
  'deliveries come newest first'
);

select throws_ok(
  format('select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'', %L)',
    (select id from installation_of where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000')),
  '22023', null, 'an installation of another tenant is refused'
);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'', p_status => ''lost'')',
  '22023', 'p_status must be one of pending, in_flight, delivered, failed, dead; got ''lost''',
  'an unknown status is refused with a clear error'
);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'', p_limit => 0)',
  '22023', 'p_limit must be between 1 and 500, got 0', 'p_limit 0 is refused'
);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'', p_limit => 501)',
  '22023', 'p_limit must be between 1 and 500, got 501', 'p_limit above 500 is refused'
);
select throws_ok(
  'select * from int.plugin_deliveries', '42501', null, 'an admin cannot read the int tables directly'
);

-- Admin of tenant B.
select set_config('request.jwt.claims', '{"sub": "bbbbbbbb-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select is(
  (select array_agg(distinct tenant_id) from public.rpc_list_recent_deliveries('bbbbbbbb-bbbb-4000-8000-000000000000')),
  array['bbbbbbbb-bbbb-4000-8000-000000000000'::uuid], 'the other admin lists only their own tenant''s deliveries'
);
select is(
  (select array_agg(status order by status) from public.rpc_list_recent_deliveries('bbbbbbbb-bbbb-4000-8000-000000000000')),
  array['delivered', 'delivered', 'pending'], 'including their queued one, as pending'
);
select is((select count(*)::int from public.v_plugin_deliveries), 2, 'and sees only those in the view');

-- A plain member of tenant A.
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000002", "role": "authenticated"}', true);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'')',
  '42501', null, 'a member who is not an admin cannot list deliveries'
);
select is((select count(*)::int from public.v_plugin_deliveries), 0, 'and sees none in the view');

-- anon
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok(
  'select * from public.rpc_list_recent_deliveries(''aaaaaaaa-aaaa-4000-8000-000000000000'')',
  '42501', null, 'anon cannot list deliveries'
);
select throws_ok('select * from public.v_plugin_deliveries', '42501', null, 'anon cannot read the view');

-- service role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*)::int from public.v_plugin_deliveries), 5, 'the service role sees every tenant');
reset role;

select hasnt_column('public', 'v_plugin_deliveries', 'net_request_id', 'the view does not expose pg_net''s request id');

select * from finish();
rollback;
