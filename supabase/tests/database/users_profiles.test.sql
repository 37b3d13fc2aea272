-- public.profiles: created at signup with names from metadata, readable only by their user.
begin;
select plan(12);
set local client_min_messages = error;

select has_table('public', 'profiles', 'public.profiles exists');
select ok((select relrowsecurity from pg_class where oid = 'public.profiles'::regclass), 'RLS is enabled on profiles');
select policies_are('public', 'profiles', array['users read their own profile'], 'profiles has exactly the read policy');

-- A signup as GoTrue does it: an insert by supabase_auth_admin.
set local role supabase_auth_admin;
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-4000-8000-0000000000a1', 'ada@example.com', '{"first_name": "  Ada ", "last_name": "Lovelace"}'),
  ('00000000-0000-4000-8000-0000000000b2', 'bob@example.com', '{"given_name": "Bob", "family_name": "Builder"}'),
  ('00000000-0000-4000-8000-0000000000c3', null, null);
reset role;

select results_eq(
  $$select id::text, first_name, last_name, unsubscribed from public.profiles order by id$$,
  $$values ('00000000-0000-4000-8000-0000000000a1', 'Ada', 'Lovelace', false),
           ('00000000-0000-4000-8000-0000000000b2', 'Bob', 'Builder', false),
           ('00000000-0000-4000-8000-0000000000c3', null::text, null::text, false)$$,
  'the signup trigger creates one profile per user with trimmed names (given/family as fallback)'
);

-- Metadata is client input: a name that is not a string, or blank, is not a name.
set local role supabase_auth_admin;
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-4000-8000-0000000000e5', 'eve@example.com',
  '{"first_name": {"evil": true}, "given_name": "Eve", "last_name": "  ", "family_name": 42}');
reset role;
select is(
  (select row(first_name, last_name)::text from public.profiles where id = '00000000-0000-4000-8000-0000000000e5'),
  row('Eve', null::text)::text,
  'names that are not strings or are blank are skipped (a string fallback is used)'
);

-- Tabs and line breaks are trimmed like spaces (handleNewUser sends the backend the same names).
set local role supabase_auth_admin;
insert into auth.users (id, email, raw_user_meta_data)
values ('00000000-0000-4000-8000-0000000000f6', 'tab@example.com',
  jsonb_build_object('first_name', E'\tGrace\r\n', 'last_name', E' \t\n', 'family_name', E'\u00a0Hopper'));
reset role;
select is(
  (select row(first_name, last_name)::text from public.profiles where id = '00000000-0000-4000-8000-0000000000f6'),
  row('Grace', E'\u00a0Hopper')::text,
  'tabs and line breaks around a name are trimmed; other characters stay'
);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true);
select results_eq($$select id::text from public.profiles$$, $$values ('00000000-0000-4000-8000-0000000000a1')$$,
  'a user sees only their own profile');
select throws_ok($$update public.profiles set unsubscribed = true$$, '42501', null,
  'a user cannot update profiles directly');
select throws_ok($$insert into public.profiles (id) values ('00000000-0000-4000-8000-0000000000d4')$$, '42501', null,
  'a user cannot insert profiles');
reset role;

set local role anon;
select throws_ok($$select * from public.profiles$$, '42501', null, 'anon cannot read profiles');
reset role;

delete from auth.users where id = '00000000-0000-4000-8000-0000000000b2';
select is((select count(*)::int from public.profiles where id = '00000000-0000-4000-8000-0000000000b2'), 0,
  'deleting the user deletes the profile');

select ok(
  (select p.prosecdef and p.proconfig @> array['search_path=""'] from pg_proc p
   where p.oid = 'private.create_profile_for_new_user()'::regprocedure),
  'the profile trigger function is security definer with an empty search_path'
);

select * from finish();
rollback;
