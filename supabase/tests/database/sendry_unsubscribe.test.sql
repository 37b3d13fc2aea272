-- rpc_sendry_record_unsubscribe: marks the profiles of users with the address, once per webhook id;
-- unknown addresses are fine; bad input is refused and writes nothing; service role only.
begin;
select plan(12);
set local client_min_messages = error;

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'ada@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'bob@example.com');
delete from public.profiles where id = '00000000-0000-4000-8000-000000000002';

select ok(has_function_privilege('service_role', 'public.rpc_sendry_record_unsubscribe(text, text, timestamptz)', 'execute')
  and not has_function_privilege('authenticated', 'public.rpc_sendry_record_unsubscribe(text, text, timestamptz)', 'execute')
  and not has_function_privilege('anon', 'public.rpc_sendry_record_unsubscribe(text, text, timestamptz)', 'execute'),
  'only service_role may record unsubscribes');

set local role service_role;
select is(public.rpc_sendry_record_unsubscribe('msg_1', ' ADA@example.com', '2026-11-25T09:30:00Z'),
  '{"duplicate": false, "matched_users": 1}'::jsonb, 'the matching user is marked (case-insensitive)');
reset role;
select results_eq($$select unsubscribed, unsubscribed_at from public.profiles where id = '00000000-0000-4000-8000-000000000001'$$,
  $$values (true, '2026-11-25T09:30:00Z'::timestamptz)$$, 'the profile is unsubscribed with the event time');

set local role service_role;
select is(public.rpc_sendry_record_unsubscribe('msg_1', 'ada@example.com'),
  '{"duplicate": true, "matched_users": 1}'::jsonb, 'a replayed webhook id is reported as a duplicate');
reset role;
update public.profiles set unsubscribed = false where id = '00000000-0000-4000-8000-000000000001';
set local role service_role;
select is(public.rpc_sendry_record_unsubscribe('msg_1', 'ada@example.com') ->> 'duplicate', 'true', 'still a duplicate');
reset role;
select is((select unsubscribed from public.profiles where id = '00000000-0000-4000-8000-000000000001'), false,
  'a duplicate processes nothing');

set local role service_role;
select is(public.rpc_sendry_record_unsubscribe('msg_2', 'bob@example.com'),
  '{"duplicate": false, "matched_users": 1}'::jsonb, 'a user without a profile row gets one');
select is(public.rpc_sendry_record_unsubscribe('msg_3', 'nobody@example.com'),
  '{"duplicate": false, "matched_users": 0}'::jsonb, 'an unknown address is not an error');
select throws_ok($$select public.rpc_sendry_record_unsubscribe('', 'ada@example.com')$$, '22023',
  'p_webhook_id must be 1 to 200 characters', 'an empty webhook id is refused');
select throws_ok($$select public.rpc_sendry_record_unsubscribe('msg_4', 'not-an-address')$$, '22023',
  'p_email must be an email address', 'a malformed address is refused');
reset role;
select is((select unsubscribed from public.profiles where id = '00000000-0000-4000-8000-000000000002'), true,
  'bob is unsubscribed');
select is((select count(*)::int from private.sendry_webhook_events where webhook_id = 'msg_4'), 0,
  'a refused call records nothing');

select * from finish();
rollback;
