-- The handleNewUser call stays small whatever a user puts into their signup metadata: pg_net never
-- sends a POST body over 64 KB (it waits until the timeout), and the function refuses bodies over
-- 256 KB, so an unbounded record would fail on every retry and the user would never be provisioned.
-- An oversized record keeps its columns but carries only the names of its metadata.
begin;
select plan(6);
set local client_min_messages = error;

select vault.create_secret('http://127.0.0.1:54321/functions/v1/handleNewUser', 'handle_new_user_url');
select vault.create_secret('bearer-s3cret', 'handle_new_user_secret');

-- Metadata is whatever the client sent to signUp (options.data): here 100 KB of it besides the names.
set local role supabase_auth_admin;
insert into auth.users (id, email, raw_user_meta_data, raw_app_meta_data)
values ('00000000-0000-4000-8000-000000000001', 'big@example.com',
  jsonb_build_object('given_name', ' Ada ', 'last_name', 'Lovelace', 'bio', repeat('x', 100000)),
  '{"provider": "email", "providers": ["email"]}');
-- A normal signup is sent as it is.
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-4000-8000-000000000002', 'small@example.com', '{"first_name": "Bob", "plan": "pro"}');
reset role;

create temporary table sent as
select p.user_id, octet_length(q.body) as bytes, convert_from(q.body, 'UTF8')::jsonb as body
from public.user_provisioning p join net.http_request_queue q on q.id = p.request_id;

select cmp_ok((select bytes from sent where user_id = '00000000-0000-4000-8000-000000000001'), '<', 65536,
  'the body of an oversized signup stays under pg_net''s 64 KB');
select is(
  -- (cut short so that a failure does not print 100 KB)
  (select left((body #> '{record,raw_user_meta_data}')::text, 200) from sent
   where user_id = '00000000-0000-4000-8000-000000000001'),
  '{"last_name": "Lovelace", "first_name": "Ada"}',
  'it keeps the names the backend gets (as the profile has them)'
);
select is(
  (select (body -> 'record' ->> 'id') || ' ' || (body -> 'record' ->> 'email') || ' '
     || (body -> 'record' ->> 'metadata_truncated')
   from sent where user_id = '00000000-0000-4000-8000-000000000001'),
  '00000000-0000-4000-8000-000000000001 big@example.com true',
  'it keeps id and email and says the metadata was cut'
);
select is(
  (select body #> '{record,raw_app_meta_data}' from sent where user_id = '00000000-0000-4000-8000-000000000001'),
  '{"provider": "email"}'::jsonb,
  'the app metadata keeps the provider'
);
select is(
  (select body #> '{record,raw_user_meta_data}' from sent where user_id = '00000000-0000-4000-8000-000000000002'),
  '{"first_name": "Bob", "plan": "pro"}'::jsonb,
  'a normal record is sent whole'
);
select ok(
  (select not (body -> 'record' ? 'metadata_truncated') from sent
   where user_id = '00000000-0000-4000-8000-000000000002'),
  'and is not marked as cut'
);

select * from finish();
rollback;
