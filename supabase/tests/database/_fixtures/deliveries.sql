-- Shared fixture of the deliveries_*.test.sql files, included with `\ir` inside their transaction.
--
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
