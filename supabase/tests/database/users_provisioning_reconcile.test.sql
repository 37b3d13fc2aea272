-- private.reconcile_user_provisioning (pg_cron): pending calls settled from net._http_response when
-- the function never reported back; calls with neither queue row nor response after 15 min are lost.
begin;
select plan(6);
set local client_min_messages = error;

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'ok@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'http500@example.com'),
  ('00000000-0000-4000-8000-000000000003', 'neterror@example.com'),
  ('00000000-0000-4000-8000-000000000004', 'lost@example.com'),
  ('00000000-0000-4000-8000-000000000005', 'inflight@example.com');

update public.user_provisioning set status = 'pending', attempts = 1, last_error = null,
  request_id = 900000 + right(user_id::text, 1)::int,
  net_generation = private.pg_net_generation();
update public.user_provisioning set updated_at = now() - interval '20 minutes'
where user_id in ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000005');

insert into net._http_response (id, status_code, content, timed_out, error_msg) values
  (900001, 200, '{"status":"provisioned"}', false, null),
  (900002, 500, '{"error":"backend_unavailable","message":"the backend answered HTTP 503"}', false, null),
  (900003, null, null, true, 'Timeout of 10000 ms reached');
-- 900005 is still queued (the worker has not sent it yet), 900004 is nowhere.
insert into net.http_request_queue (id, method, url, headers, body, timeout_milliseconds)
values (900005, 'POST', 'http://127.0.0.1:1/x', '{}', null, 1000);

select is(private.reconcile_user_provisioning(), '{"settled": 3, "lost": 1}'::jsonb,
  'three answered calls settled, one lost');
select results_eq(
  $$select right(user_id::text, 1), status from public.user_provisioning order by user_id$$,
  $$values ('1', 'provisioned'), ('2', 'failed'), ('3', 'failed'), ('4', 'failed'), ('5', 'pending')$$,
  'a 2xx means provisioned; errors and lost calls fail; a queued call stays pending'
);
select matches((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'),
  '^handleNewUser answered HTTP 500: .*backend_unavailable', 'an error answer is kept with its status');
select is((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000003'),
  'handleNewUser call failed: Timeout of 10000 ms reached', 'a transport error is kept');
select is((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000004'),
  'handleNewUser call lost: no response was recorded', 'a lost call says so');
select is((select schedule || ' ' || command from cron.job where jobname = 'reconcile-user-provisioning'),
  '* * * * * select private.reconcile_user_provisioning()', 'pg_cron runs the reconcile every minute');

select * from finish();
rollback;
