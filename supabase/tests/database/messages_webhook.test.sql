-- public.messages: RLS and grants; the insert trigger posts {id, message} to the Vault URL with the
-- Vault bearer token; without configuration the insert succeeds and nothing is queued.
begin;
select plan(11);
set local client_min_messages = error;

select has_table('public', 'messages', 'public.messages exists');
select ok((select relrowsecurity from pg_class where oid = 'public.messages'::regclass), 'RLS is enabled on messages');
select policies_are('public', 'messages', array['users read their own messages', 'users write their own messages'],
  'messages has one read and one write policy');

insert into public.messages (message) values ('unconfigured');
select is((select count(*)::int from net.http_request_queue), 0,
  'without the Vault secrets the insert succeeds and nothing is queued');

select vault.create_secret('https://hooks.example.com/messages', 'messages_webhook_url');
select vault.create_secret('10203040', 'messages_webhook_token');

insert into public.messages (message) values ('Hello world');
select results_eq(
  $$select q.method::text, q.url, q.headers, convert_from(q.body, 'UTF8')::jsonb from net.http_request_queue q$$,
  $$select 'POST'::text, 'https://hooks.example.com/messages'::text,
      '{"Content-Type": "application/json", "Authorization": "Bearer 10203040"}'::jsonb,
      jsonb_build_object('id', (select id from public.messages where message = 'Hello world'), 'message', 'Hello world')$$,
  'the insert queues POST {id, message} to the Vault URL with the Vault token'
);

-- Users write and read only their own messages.
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000001', 'a@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'b@example.com');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select lives_ok($$insert into public.messages (message) values ('mine')$$, 'a user can write a message');
select throws_ok(
  $$insert into public.messages (message, user_id) values ('forged', '00000000-0000-4000-8000-000000000002')$$,
  '42501', null, 'a user cannot write as someone else');
select results_eq($$select message from public.messages$$, $$values ('mine'::text)$$, 'a user reads only their own messages');
reset role;
select is((select count(*)::int from net.http_request_queue), 2, 'the user''s insert was queued too');

set local role anon;
select throws_ok($$insert into public.messages (message) values ('anon')$$, '42501', null, 'anon cannot write messages');
reset role;

select throws_ok($$insert into public.messages (message) values ('')$$, '23514', null, 'an empty message is refused');

select * from finish();
rollback;
