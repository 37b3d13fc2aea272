-- Grants of the delivery machinery: only the service role runs the processor; clients reach
-- deliveries only through the tenant admin RPCs and views; helpers are private.
begin;
select plan(20);

select function_privs_are('public', 'rpc_process_plugin_deliveries', array['integer'], 'anon', array[]::text[],
  'anon cannot execute the processor');
select function_privs_are('public', 'rpc_process_plugin_deliveries', array['integer'], 'authenticated',
  array[]::text[], 'authenticated cannot execute the processor');
select function_privs_are('public', 'rpc_process_plugin_deliveries', array['integer'], 'service_role',
  array['EXECUTE'], 'the service role can execute the processor');

select is(
  (select array_agg(p.oid::regprocedure::text order by 1)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'private'
     and p.proname in ('plugin_retry_delay', 'purge_plugin_deliveries', 'plugin_delivery_headers',
       'plugin_delivery_custom_headers', 'plugin_delivery_timeout_ms')
     and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))),
  null,
  'anon and authenticated cannot execute the private delivery helpers (purge, backoff, signing)'
);

select function_privs_are('public', 'rpc_list_recent_deliveries', array['uuid', 'uuid', 'text', 'integer'], 'anon',
  array[]::text[], 'anon cannot list deliveries');
select function_privs_are('public', 'rpc_list_recent_deliveries', array['uuid', 'uuid', 'text', 'integer'],
  'authenticated', array['EXECUTE'], 'authenticated can call the list RPC (it checks tenant.admin)');
select function_privs_are('public', 'rpc_redeliver_plugin_delivery', array['uuid'], 'anon', array[]::text[],
  'anon cannot redeliver');
select function_privs_are('public', 'rpc_redeliver_plugin_delivery', array['uuid'], 'authenticated',
  array['EXECUTE'], 'authenticated can call the redeliver RPC (it checks tenant.admin)');

select table_privs_are('public', 'v_plugin_deliveries', 'anon', array[]::text[], 'anon cannot read the deliveries view');
select table_privs_are('public', 'v_plugin_deliveries', 'authenticated', array['SELECT'],
  'authenticated can only select from the deliveries view');
select table_privs_are('public', 'v_plugin_delivery_attempts', 'anon', array[]::text[],
  'anon cannot read the attempts view');
select table_privs_are('public', 'v_plugin_delivery_attempts', 'authenticated', array['SELECT'],
  'authenticated can only select from the attempts view');

select is(
  (select array_agg(format('%s on %s', r, t) order by 1)
   from unnest(array['anon', 'authenticated']) as r,
     unnest(array['int.plugin_deliveries', 'int.plugin_delivery_attempts', 'int.plugin_redeliveries']) as t
   where has_table_privilege(r, t, 'select,insert,update,delete,truncate,references,trigger')),
  null,
  'anon and authenticated hold no privilege on the delivery tables or the redelivery log'
);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select throws_ok('select public.rpc_process_plugin_deliveries(10)', '42501', null,
  'authenticated gets a permission error from the processor');
select throws_ok('select private.purge_plugin_deliveries(interval ''1 day'')', '42501', null,
  'authenticated gets a permission error from the purge');
select throws_ok('select count(*) from int.plugin_delivery_attempts', '42501', null,
  'authenticated cannot read the attempts log');
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select public.rpc_process_plugin_deliveries(10)', '42501', null,
  'anon gets a permission error from the processor');
select throws_ok('select count(*) from int.plugin_deliveries', '42501', null, 'anon cannot read deliveries');
reset role;
select set_config('request.jwt.claims', '', true);

select is(
  (select row(p.prosecdef, pg_get_userbyid(p.proowner), p.proconfig)::text from pg_proc p
   where p.oid = 'public.rpc_process_plugin_deliveries(integer)'::regprocedure),
  row(true, 'postgres', array['search_path=""'])::text,
  'the processor is a security definer owned by postgres with an empty search_path'
);
select is(
  (select array_agg(p.proname::text order by 1) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where p.prosecdef and (p.proname like '%plugin_deliver%')
     and not coalesce(p.proconfig @> array['search_path=""'], false)),
  null,
  'every security definer delivery function pins an empty search_path'
);

select * from finish();
rollback;
