-- The auth.users INSERT trigger queues the handleNewUser call: Vault URL and bearer secret, the
-- database-webhook payload without password hash or tokens, status pending; it never blocks a signup.
begin;
select plan(13);
set local client_min_messages = error;

-- Without the Vault secrets: the signup succeeds and the failure is recorded, naming the secret.
set local role supabase_auth_admin;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000001', 'early@example.com');
reset role;
select ok(exists (select 1 from auth.users where id = '00000000-0000-4000-8000-000000000001'),
  'a signup (as supabase_auth_admin) succeeds while handleNewUser is not configured');
select results_eq(
  $$select status, attempts, request_id, last_error from public.user_provisioning
    where user_id = '00000000-0000-4000-8000-000000000001'$$,
  $$values ('failed'::text, 0, null::bigint, 'not sent: Vault secret "handle_new_user_url" is missing or empty'::text)$$,
  'the user is recorded as failed, naming the missing secret'
);

select vault.create_secret('http://127.0.0.1:54321/functions/v1/handleNewUser', 'handle_new_user_url');
select vault.create_secret('bearer-s3cret', 'handle_new_user_secret');
select vault.create_secret('sn_key', 'sendry_api_key');
select vault.create_secret('aud_1', 'sendry_audience_id');

set local role supabase_auth_admin;
insert into auth.users (id, email, encrypted_password, raw_user_meta_data, confirmation_token, recovery_token,
  email_change_token_new, email_change_token_current, phone_change_token, reauthentication_token)
values ('00000000-0000-4000-8000-000000000002', 'ada@example.com', '$2a$10$hashhashhash',
  '{"first_name": "Ada"}', 'ct-secret', 'rt-secret', 'ectn-secret', 'ectc-secret', 'pct-secret', 'rat-secret');
reset role;

select is(
  (select status from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'),
  'pending',
  'a configured signup is recorded as pending'
);

create temporary table sent as
select q.id, q.method, q.url, q.headers, q.timeout_milliseconds, convert_from(q.body, 'UTF8')::jsonb as body
from net.http_request_queue q
where q.id = (select request_id from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002');

select is((select count(*)::int from sent), 1, 'exactly one request is queued, under the recorded request id');
select is((select url from sent), 'http://127.0.0.1:54321/functions/v1/handleNewUser', 'it goes to the Vault URL');
select is((select method from sent), 'POST', 'it is a POST');
select is((select headers from sent),
  '{"Content-Type": "application/json", "Authorization": "Bearer bearer-s3cret"}'::jsonb,
  'it carries the Vault bearer secret');
select is((select timeout_milliseconds from sent), 10000, 'pg_net waits 10 s for the function');
select is(
  (select body - 'record' from sent),
  '{"type": "INSERT", "table": "users", "schema": "auth", "old_record": null}'::jsonb,
  'the body is a database-webhook payload'
);
select is(
  (select body -> 'record' ->> 'id' || ' ' || (body -> 'record' ->> 'email') || ' ' || (body #>> '{record,raw_user_meta_data,first_name}') from sent),
  '00000000-0000-4000-8000-000000000002 ada@example.com Ada',
  'the record carries id, email and metadata'
);
select is(
  (select array_agg(k order by k) from sent, jsonb_object_keys(body -> 'record') k
   where k = 'encrypted_password' or k like '%token%'),
  null,
  'the record has no password hash and no token column'
);
select ok(
  (select body::text !~ '(secret|hashhash)' from sent),
  'no token value or password hash appears anywhere in the body'
);

-- A broken URL in Vault: the signup still succeeds; the error keeps only its SQLSTATE (no URL).
select vault.update_secret((select id from vault.secrets where name = 'handle_new_user_url'), 'not a url at all');
set local role supabase_auth_admin;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000003', 'bob@example.com');
reset role;
select matches(
  (select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000003'),
  '^not sent: queueing the call failed \(SQLSTATE [0-9A-Z]{5}\)$',
  'a broken URL gives a failed status with only the SQLSTATE, and the signup succeeds'
);

select * from finish();
rollback;
