-- rpc_register_plugin: an idempotent upsert by key, for the service role only; bad keys and names get
-- clear errors and write nothing.
begin;
select plan(16);

set local role service_role;
set local request.jwt.claims to '{"role":"service_role"}';

select is(public.rpc_register_plugin('my_integration', 'My integration', 'Syncs work orders', true, true),
  'my_integration', 'registering returns the key');
select is(public.rpc_register_plugin('my_integration', 'My integration', 'Syncs work orders', true, true),
  'my_integration', 'registering the same plugin again succeeds');
select lives_ok($$select public.rpc_register_plugin('my_integration', 'My integration v2', null, false, false)$$,
  'registering an existing key updates it');
select lives_ok($$select public.rpc_register_plugin('ab', 'Shortest key')$$, 'a 2-character key is accepted');
select lives_ok(format('select public.rpc_register_plugin(%L, %L)', repeat('k', 80), 'Longest key'),
  'an 80-character key is accepted');

select throws_ok($$select public.rpc_register_plugin('a', 'Too short')$$, '22023',
  'plugin key must be 2 to 80 characters, got 1', 'a 1-character key is refused');
select throws_ok(format('select public.rpc_register_plugin(%L, %L)', repeat('k', 81), 'Too long'), '22023',
  'plugin key must be 2 to 80 characters, got 81', 'an 81-character key is refused');
select throws_ok($$select public.rpc_register_plugin('My-Plugin', 'Bad characters')$$, '22023',
  'plugin key ''My-Plugin'' may contain only lowercase letters a-z, digits and underscores',
  'uppercase letters and dashes are refused');
select throws_ok($$select public.rpc_register_plugin('my plugin', 'Space')$$, '22023', null, 'spaces are refused');
select throws_ok($$select public.rpc_register_plugin('plügin', 'Non-ASCII')$$, '22023', null,
  'non-ASCII letters are refused');
select throws_ok($$select public.rpc_register_plugin(null, 'No key')$$, '22023', 'plugin key is required',
  'a missing key is refused');
select throws_ok($$select public.rpc_register_plugin('no_name', '   ')$$, '22023',
  'plugin name must be 1 to 200 characters', 'a blank name is refused');

reset role;
reset request.jwt.claims;
select results_eq(
  $$select key || ' ' || name || ' ' || coalesce(description, '-') || ' ' || is_integration || ' ' || is_active
    from int.plugins where key = 'my_integration'$$,
  array['my_integration My integration v2 - false false'], 'the upsert stored the latest values');
select results_eq('select count(*)::int from int.plugins', array[3], 'refused calls wrote nothing');

set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select throws_ok($$select public.rpc_register_plugin('sneaky', 'Sneaky')$$, '42501', null,
  'authenticated users cannot register plugins');
reset role;
set local role anon;
set local request.jwt.claims to '{"role":"anon"}';
select throws_ok($$select public.rpc_register_plugin('sneaky', 'Sneaky')$$, '42501', null,
  'anon cannot register plugins');
reset role;

select * from finish();
rollback;
