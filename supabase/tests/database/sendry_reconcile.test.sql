-- private.sendry_reconcile_sync_log (pg_cron) copies pg_net outcomes into the log; the failure view
-- lists users whose latest attempt failed; rpc_sendry_retry_failed re-sends them.
begin;
select plan(10);
set local client_min_messages = error;

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'ok@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'unauthorized@example.com'),
  ('00000000-0000-4000-8000-000000000003', 'timeout@example.com'),
  ('00000000-0000-4000-8000-000000000004', 'lost@example.com'),
  ('00000000-0000-4000-8000-000000000005', 'queued@example.com');

insert into public.sendry_sync_log (user_id, request_id, net_generation, source, created_at)
select u.id, 800000 + right(u.id::text, 1)::int,
  private.pg_net_generation(), 'signup',
  case when right(u.id::text, 1) in ('4', '5') then now() - interval '20 minutes' else now() end
from auth.users u;

insert into net._http_response (id, status_code, content, timed_out, error_msg) values
  (800001, 201, '{"id":"con_1"}', false, null),
  (800002, 401, '{"message":"Invalid API key"}', false, null),
  (800003, null, null, true, 'Timeout of 5000 ms reached. Total time: 5001.1 ms');
insert into net.http_request_queue (id, method, url, headers, body, timeout_milliseconds)
values (800005, 'POST', 'http://127.0.0.1:1/v1/contacts', '{}', null, 5000);

select is(private.sendry_reconcile_sync_log(), '{"ok": 1, "failed": 3, "lost": 1}'::jsonb,
  'one ok, two failed answers and one lost request');
select results_eq(
  $$select right(user_id::text, 1), status, status_code from public.sendry_sync_log order by user_id$$,
  $$values ('1', 'ok', 201), ('2', 'failed', 401), ('3', 'failed', null), ('4', 'failed', null), ('5', 'pending', null)$$,
  'statuses and codes are copied; a still-queued request stays pending'
);
select is((select error from public.sendry_sync_log where user_id = '00000000-0000-4000-8000-000000000002'),
  'Sendry answered HTTP 401: {"message":"Invalid API key"}', 'an error answer is kept with an excerpt');
select is((select error from public.sendry_sync_log where user_id = '00000000-0000-4000-8000-000000000003'),
  'timed out: Timeout of 5000 ms reached. Total time: 5001.1 ms', 'a timeout says so');
select is(private.sendry_reconcile_sync_log(), '{"ok": 0, "failed": 0, "lost": 0}'::jsonb,
  'reconciling again changes nothing');

set local role service_role;
select results_eq(
  $$select right(user_id::text, 1), status_code from public.v_sendry_sync_failures order by user_id$$,
  $$values ('2', 401), ('3', null::int), ('4', null::int)$$,
  'the failure view lists the failed users (service role)'
);
select throws_ok($$select * from public.rpc_sendry_retry_failed()$$, 'P0002',
  'Vault secret "sendry_api_key" is missing or empty', 'retry without Vault configuration names the secret');
reset role;

select vault.create_secret('sn_live_key', 'sendry_api_key');
select vault.create_secret('aud_123', 'sendry_audience_id');
set local role service_role;
select is(public.rpc_sendry_retry_failed(2), '{"queued": 2, "still_failed": 1}'::jsonb,
  'retry re-sends up to p_limit failed users');
select is((select count(*)::int from public.v_sendry_sync_failures), 1, 'retried users leave the failure view');
reset role;

select is((select schedule || ' ' || command from cron.job where jobname = 'sendry-reconcile-sync-log'),
  '* * * * * select private.sendry_reconcile_sync_log()', 'pg_cron reconciles every minute');

select * from finish();
rollback;
