-- rpc_record_user_provisioning (the function reports back) and rpc_retry_user_provisioning (re-send
-- failed ones): validation, idempotence, grants.
begin;
select plan(19);
set local client_min_messages = error;

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'a@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'b@example.com'),
  ('00000000-0000-4000-8000-000000000003', 'c@example.com');
-- Start from no status at all (the trigger recorded "not configured" failures).
delete from public.user_provisioning;

-- grants
select ok(has_function_privilege('service_role', 'public.rpc_record_user_provisioning(uuid, text, text)', 'execute'),
  'service_role may record provisioning');
select ok(not has_function_privilege('anon', 'public.rpc_record_user_provisioning(uuid, text, text)', 'execute')
  and not has_function_privilege('authenticated', 'public.rpc_record_user_provisioning(uuid, text, text)', 'execute'),
  'anon and authenticated may not record provisioning');
select ok(has_function_privilege('service_role', 'public.rpc_retry_user_provisioning(uuid, integer)', 'execute')
  and not has_function_privilege('authenticated', 'public.rpc_retry_user_provisioning(uuid, integer)', 'execute')
  and not has_function_privilege('anon', 'public.rpc_retry_user_provisioning(uuid, integer)', 'execute'),
  'only service_role may retry');
select ok(not has_table_privilege('authenticated', 'public.user_provisioning', 'select')
  and not has_table_privilege('anon', 'public.v_user_provisioning_failures', 'select'),
  'clients cannot read provisioning status');
select ok((select relrowsecurity from pg_class where oid = 'public.user_provisioning'::regclass),
  'RLS is enabled on user_provisioning');

set local role service_role;

-- record: validation writes nothing
select throws_ok($$select public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000002', 'done')$$,
  '22023', 'p_status must be ''provisioned'' or ''failed'', not ''done''', 'an unknown status is refused');
select throws_ok($$select public.rpc_record_user_provisioning(null, 'failed')$$, '22023', 'p_user_id is required',
  'a missing user id is refused');
select throws_ok(
  $$select public.rpc_record_user_provisioning('00000000-0000-4000-8000-0000000000ff', 'provisioned')$$,
  'P0002', 'user 00000000-0000-4000-8000-0000000000ff does not exist', 'an unknown user is refused');
select is((select count(*)::int from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'), 0,
  'refused calls wrote nothing');

-- record: outcomes
select is(public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000002', 'failed', 'the backend answered HTTP 503'),
  'failed', 'a failure is recorded');
select is((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'),
  'the backend answered HTTP 503', 'with its reason');
select is(public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000002', 'provisioned'), 'provisioned',
  'a later success wins');
select is(public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000002', 'failed', 'late duplicate'),
  'provisioned', 'a provisioned user stays provisioned when a stale failure arrives');
select is((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'),
  null, 'and keeps no error');

-- retry
select throws_ok($$select * from public.rpc_retry_user_provisioning(null, 0)$$, '22023',
  'p_limit must be between 1 and 1000', 'a bad limit is refused');
select throws_ok($$select * from public.rpc_retry_user_provisioning()$$, 'P0002',
  'Vault secret "handle_new_user_url" is missing or empty', 'retry without Vault configuration names the secret');

reset role;
select vault.create_secret('http://127.0.0.1:54321/functions/v1/handleNewUser', 'handle_new_user_url');
select vault.create_secret('bearer-s3cret', 'handle_new_user_secret');
select public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000001', 'failed', 'the backend answered HTTP 500');
select public.rpc_record_user_provisioning('00000000-0000-4000-8000-000000000003', 'failed', 'the backend answered HTTP 500');
set local role service_role;

select results_eq(
  $$select user_id::text from public.rpc_retry_user_provisioning()$$,
  $$values ('00000000-0000-4000-8000-000000000001'), ('00000000-0000-4000-8000-000000000003')$$,
  'retry re-sends every failed user and skips the provisioned one'
);
reset role;
select results_eq(
  $$select p.status, p.attempts, q.url from public.user_provisioning p
    join net.http_request_queue q on q.id = p.request_id
    where p.user_id = '00000000-0000-4000-8000-000000000003'$$,
  $$values ('pending'::text, 2, 'http://127.0.0.1:54321/functions/v1/handleNewUser'::text)$$,
  'a retried user is pending again with a new queued request'
);
set local role service_role;
select is(
  (select count(*)::int from public.rpc_retry_user_provisioning('00000000-0000-4000-8000-000000000002')),
  0, 'retrying one provisioned user sends nothing'
);
reset role;

select * from finish();
rollback;
