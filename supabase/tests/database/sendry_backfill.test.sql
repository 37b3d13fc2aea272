-- rpc_sendry_backfill: resumable batches by user id, skipping users already synced or in flight,
-- progress in every answer, clear errors that write nothing; service role only.
begin;
select plan(12);
set local client_min_messages = error;

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'u1@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'u2@example.com'),
  ('00000000-0000-4000-8000-000000000003', null),
  ('00000000-0000-4000-8000-000000000004', 'u4@example.com'),
  ('00000000-0000-4000-8000-000000000005', 'u5@example.com');
-- u2 is already synced, u4 failed earlier (it is sent again).
insert into public.sendry_sync_log (user_id, request_id, source, status) values
  ('00000000-0000-4000-8000-000000000002', 1, 'signup', 'ok'),
  ('00000000-0000-4000-8000-000000000004', 2, 'signup', 'failed');

select ok(has_function_privilege('service_role', 'public.rpc_sendry_backfill(integer, boolean)', 'execute')
  and not has_function_privilege('authenticated', 'public.rpc_sendry_backfill(integer, boolean)', 'execute')
  and not has_function_privilege('anon', 'public.rpc_sendry_backfill(integer, boolean)', 'execute'),
  'only service_role may run the backfill');

set local role service_role;
select throws_ok($$select public.rpc_sendry_backfill(2)$$, 'P0002', 'Vault secret "sendry_api_key" is missing or empty',
  'without Vault configuration the backfill names the missing secret');
reset role;
select vault.create_secret('sn_live_key', 'sendry_api_key');
select vault.create_secret('aud_123', 'sendry_audience_id');
set local role service_role;
select throws_ok($$select public.rpc_sendry_backfill(0)$$, '22023', 'p_batch_size must be between 1 and 1000',
  'a batch size of 0 is refused');
select throws_ok($$select public.rpc_sendry_backfill(1001)$$, '22023', 'p_batch_size must be between 1 and 1000',
  'a batch size over 1000 is refused');
select is((select count(*)::int from public.sendry_sync_log), 2, 'refused calls wrote nothing');

select is(public.rpc_sendry_backfill(2) - 'started_at' - 'finished_at',
  '{"scanned": 2, "queued": 1, "skipped": 1, "remaining": 3, "done": false,
    "total_scanned": 2, "total_queued": 1, "total_skipped": 1}'::jsonb,
  'batch 1: u1 queued, u2 skipped (already synced)');
select is(public.rpc_sendry_backfill(2) - 'started_at' - 'finished_at',
  '{"scanned": 2, "queued": 1, "skipped": 1, "remaining": 1, "done": false,
    "total_scanned": 4, "total_queued": 2, "total_skipped": 2}'::jsonb,
  'batch 2 resumes after the cursor: no email skipped, the earlier failure queued again');
select is(public.rpc_sendry_backfill(2) ->> 'done', 'true', 'batch 3 finishes');
select is(public.rpc_sendry_backfill(2) ->> 'scanned', '0', 'calling again after the end does nothing');
reset role;

select results_eq(
  $$select right(user_id::text, 1), source from public.sendry_sync_log where source = 'backfill' order by user_id$$,
  $$values ('1', 'backfill'), ('4', 'backfill'), ('5', 'backfill')$$,
  'each eligible user was queued exactly once'
);

set local role service_role;
select is((public.rpc_sendry_backfill(1000, true) - 'started_at' - 'finished_at') ->> 'queued', '0',
  'a restart skips users with a pending or ok request');
reset role;
select is((select count(*)::int from public.sendry_sync_log), 5, 'the restart queued nothing');

select * from finish();
rollback;
