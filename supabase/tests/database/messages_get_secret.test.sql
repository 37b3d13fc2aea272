-- private.get_secret(): reads one Vault secret by name; a missing one is a clear error naming it and
-- never a value; no API role can execute it.
begin;
select plan(12);

select vault.create_secret('s3cr3t-value', 'test_get_secret');
select vault.create_secret('', 'test_empty_secret');

select is(private.get_secret('test_get_secret'), 's3cr3t-value', 'get_secret returns the decrypted value');

select throws_ok(
  $$select private.get_secret('no_such_secret')$$,
  'P0002',
  'Vault secret "no_such_secret" is missing or empty',
  'a missing secret raises P0002 naming it'
);

select throws_ok(
  $$select private.get_secret('test_empty_secret')$$,
  'P0002',
  'Vault secret "test_empty_secret" is missing or empty',
  'an empty secret counts as missing'
);

select throws_ok($$select private.get_secret('')$$, '22023', 'private.get_secret: the secret name must not be empty',
  'an empty name is refused');
select throws_ok($$select private.get_secret(null)$$, '22023', 'private.get_secret: the secret name must not be empty',
  'a null name is refused');

select is(private.get_optional_secret('no_such_secret'), null, 'get_optional_secret gives null for a missing secret');
select is(private.get_optional_secret('test_get_secret'), 's3cr3t-value', 'get_optional_secret returns the value');

select ok(
  not has_function_privilege('anon', 'private.get_secret(text)', 'execute')
    and not has_function_privilege('authenticated', 'private.get_secret(text)', 'execute')
    and not has_function_privilege('service_role', 'private.get_secret(text)', 'execute'),
  'anon, authenticated and service_role cannot execute get_secret'
);

select ok(
  not has_function_privilege('anon', 'private.get_optional_secret(text)', 'execute')
    and not has_function_privilege('authenticated', 'private.get_optional_secret(text)', 'execute'),
  'anon and authenticated cannot execute get_optional_secret'
);

select ok(
  not has_schema_privilege('anon', 'private', 'usage') and not has_schema_privilege('authenticated', 'private', 'usage'),
  'the private schema is closed to anon and authenticated'
);

select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'private' and p.proname in ('get_secret', 'get_optional_secret') and p.prosecdef
     and p.proconfig @> array['search_path=""']),
  array['get_optional_secret', 'get_secret'],
  'both helpers are security definer with an empty search_path'
);

set local role authenticated;
select throws_ok($$select private.get_secret('test_get_secret')$$, '42501', null,
  'an authenticated caller gets a permission error, not the value');
reset role;

select * from finish();
rollback;
