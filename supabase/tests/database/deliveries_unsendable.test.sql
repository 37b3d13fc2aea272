-- One delivery that cannot be queued (pg_net refuses its URL) fails on its own: the other deliveries
-- of the same run are still sent, and the error keeps the URL out of the table.
begin;
select plan(6);

-- Fixture: tenants A and B, each with an admin (A also with a plain member), a Vault secret and one
-- installation of the `deliveries_test` plugin subscribed to work_orders INSERTs. Other features'
-- triggers on auth.users warn about their own missing Vault secrets: keep that out of the output.
set local client_min_messages = error;
do $fixture$
declare
  v_installation uuid;
begin
  insert into auth.users (id, email) values
    ('aaaaaaaa-0000-4000-8000-000000000001', 'admin-a@deliveries.test'),
    ('aaaaaaaa-0000-4000-8000-000000000002', 'member-a@deliveries.test'),
    ('bbbbbbbb-0000-4000-8000-000000000001', 'admin-b@deliveries.test');
  insert into public.tenants (id, name) values
    ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Tenant A'),
    ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Tenant B');
  insert into public.tenant_memberships (tenant_id, user_id, role) values
    ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000001', 'tenant.admin'),
    ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000002', 'tenant.member'),
    ('bbbbbbbb-bbbb-4000-8000-000000000000', 'bbbbbbbb-0000-4000-8000-000000000001', 'tenant.admin');
  perform vault.create_secret('test-secret-a-0123456789', 'deliveries_test_secret_a');
  perform vault.create_secret('test-secret-b-0123456789', 'deliveries_test_secret_b');

  set local role service_role;
  perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
  perform public.rpc_register_plugin('deliveries_test', 'Deliveries test', 'pgTAP fixture', true, true);
  v_installation := public.rpc_install_plugin(
    'aaaaaaaa-aaaa-4000-8000-000000000000', 'deliveries_test',
    '{"webhook_url": "https://hooks.example.com/a", "timeout_ms": 2000, "headers": {"X-Tenant": "a"}}',
    'deliveries_test_secret_a');
  perform public.rpc_upsert_webhook_subscription(v_installation, 'public', 'work_orders', array['INSERT']);
  v_installation := public.rpc_install_plugin(
    'bbbbbbbb-bbbb-4000-8000-000000000000', 'deliveries_test',
    '{"webhook_url": "https://hooks.example.com/b"}', 'deliveries_test_secret_b');
  perform public.rpc_upsert_webhook_subscription(v_installation, 'public', 'work_orders', array['INSERT']);
  reset role;
  perform set_config('request.jwt.claims', '', true);
end
$fixture$;

-- Answers every in-flight request the way the pg_net worker would record it.
create function pg_temp.answer_in_flight(
  p_status_code int, p_error text default null, p_timed_out boolean default false, p_content text default 'ok'
)
returns int
language sql
as $$
  with answered as (
    insert into net._http_response (id, status_code, content, timed_out, error_msg)
    select d.net_request_id, p_status_code, case when p_status_code is not null then p_content end,
      p_timed_out, p_error
    from int.plugin_deliveries d
    where d.status = 'in_flight'
    returning 1
  )
  select count(*)::int from answered
$$;

-- Makes every waiting delivery due now, instead of sleeping through its backoff.
create function pg_temp.make_due()
returns void
language sql
as $$
  update int.plugin_deliveries set next_attempt_at = now() - interval '1 second'
  where status in ('pending', 'failed')
$$;

-- A URL pg_net refuses (the install RPC would not accept it; it is written directly here).
update int.plugin_installations
set config = jsonb_set(config, '{webhook_url}', '"https://bad host.example.com/?token=abc"')
where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';

insert into public.work_orders (tenant_id, title)
select t, 'Order' from unnest(array['aaaaaaaa-aaaa-4000-8000-000000000000',
  'aaaaaaaa-aaaa-4000-8000-000000000000', 'bbbbbbbb-bbbb-4000-8000-000000000000']::uuid[]) as t;

select is(
  public.rpc_process_plugin_deliveries(100) - 'extended_leases' - 'reconciled' - 'delivered',
  '{"sent": 2, "not_sent": 1, "retried": 1, "dead": 0, "expired_leases": 0}'::jsonb,
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
