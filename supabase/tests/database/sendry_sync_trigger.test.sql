-- The auth.users INSERT trigger queues POST <base>/v1/contacts with the Vault key and the documented
-- body and logs it; missing secrets or no email: nothing sent, signup unaffected; a request that
-- cannot be queued: logged as failed, signup unaffected.
begin;
select plan(12);
set local client_min_messages = error;

set local role supabase_auth_admin;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000001', 'early@example.com');
reset role;
select is((select count(*)::int from public.sendry_sync_log), 0,
  'without the Vault secrets a signup succeeds and nothing is logged or sent');
select is((select count(*)::int from net.http_request_queue where url like '%/v1/contacts'), 0, 'no contact request queued');

select vault.create_secret('sn_live_key', 'sendry_api_key');
select vault.create_secret('aud_123', 'sendry_audience_id');

set local role supabase_auth_admin;
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-4000-8000-000000000002', 'ada@example.com', '{"first_name": "Ada", "last_name": "Lovelace"}');
reset role;

create temporary table sent as
select l.user_id, l.source, l.attempt, l.status, q.url, q.headers, convert_from(q.body, 'UTF8')::jsonb as body
from public.sendry_sync_log l join net.http_request_queue q on q.id = l.request_id;

select is((select count(*)::int from sent), 1, 'one request queued and logged with its pg_net request id');
select is((select url from sent), 'https://api.sendry.online/v1/contacts', 'the default base URL is Sendry''s');
select is((select headers from sent),
  '{"Authorization": "Bearer sn_live_key", "Content-Type": "application/json"}'::jsonb,
  'the bearer key comes from Vault');
select is((select body from sent),
  '{"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "audience_id": "aud_123",
    "properties": {"supabase_user_id": "00000000-0000-4000-8000-000000000002", "signup_source": "supabase"}}'::jsonb,
  'the body has email, names, audience and properties');
select results_eq($$select source, attempt, status from sent$$, $$values ('signup'::text, 1, 'pending'::text)$$,
  'the log row is a pending first signup attempt');

-- An optional base URL (for tests or a regional endpoint), trailing slash tolerated.
select vault.create_secret('http://127.0.0.1:9999/', 'sendry_api_base_url');
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000003', 'bob@example.com');
select is(
  (select q.url from public.sendry_sync_log l join net.http_request_queue q on q.id = l.request_id
   where l.user_id = '00000000-0000-4000-8000-000000000003'),
  'http://127.0.0.1:9999/v1/contacts',
  'sendry_api_base_url overrides the base'
);

-- Rotation: the next signup uses the new key, no schema change.
select vault.update_secret((select id from vault.secrets where name = 'sendry_api_key'), 'sn_live_rotated');
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000004', 'carol@example.com');
select is(
  (select q.headers ->> 'Authorization' from public.sendry_sync_log l join net.http_request_queue q on q.id = l.request_id
   where l.user_id = '00000000-0000-4000-8000-000000000004'),
  'Bearer sn_live_rotated',
  'a key rotated with vault.update_secret is used by the next call'
);

-- Users without an email (phone, anonymous) are not synced.
insert into auth.users (id, phone) values ('00000000-0000-4000-8000-000000000005', '+15550100');
select is((select count(*)::int from public.sendry_sync_log where user_id = '00000000-0000-4000-8000-000000000005'), 0,
  'a user without email is skipped');

-- Configured but unusable (a base URL without a scheme): the signup goes through and the failure is
-- logged where v_sendry_sync_failures and rpc_sendry_retry_failed find it.
select vault.update_secret((select id from vault.secrets where name = 'sendry_api_base_url'), 'api.sendry.example');
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000006', 'dave@example.com');
select is(
  (select row(f.source, f.attempt, f.status_code, f.error)::text from public.v_sendry_sync_failures f
   where f.user_id = '00000000-0000-4000-8000-000000000006'),
  row('signup', 1, null::int, 'not queued: SQLSTATE P0001')::text,
  'a request that cannot be queued is logged as failed, to be retried'
);

select ok(
  not has_table_privilege('authenticated', 'public.sendry_sync_log', 'select')
    and not has_table_privilege('anon', 'public.sendry_sync_log', 'select')
    and (select relrowsecurity from pg_class where oid = 'public.sendry_sync_log'::regclass),
  'the sync log has RLS and no client grants'
);

select * from finish();
rollback;
