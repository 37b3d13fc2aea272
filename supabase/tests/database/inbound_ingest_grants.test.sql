-- Only the service role may call rpc_plugin_ingest_webhook; the inbound tables have no client grants.
begin;
select plan(12);

select function_privs_are('public', 'rpc_plugin_ingest_webhook', array['uuid', 'text', 'bigint', 'text', 'text'],
  'anon', array[]::text[], 'anon cannot execute rpc_plugin_ingest_webhook');
select function_privs_are('public', 'rpc_plugin_ingest_webhook', array['uuid', 'text', 'bigint', 'text', 'text'],
  'authenticated', array[]::text[], 'authenticated cannot execute rpc_plugin_ingest_webhook');
select function_privs_are('public', 'rpc_plugin_ingest_webhook', array['uuid', 'text', 'bigint', 'text', 'text'],
  'service_role', array['EXECUTE'], 'service_role can execute rpc_plugin_ingest_webhook');
select ok(not has_function_privilege('public', 'public.rpc_plugin_ingest_webhook(uuid, text, bigint, text, text)', 'execute'),
  'PUBLIC cannot execute rpc_plugin_ingest_webhook');

select ok(
  not exists (
    select 1 from information_schema.role_table_grants g
    where g.table_schema = 'int' and g.table_name in ('inbound_actions', 'inbound_webhook_receipts', 'inbound_webhook_log')
      and g.grantee in ('anon', 'authenticated', 'service_role', 'PUBLIC')
  ),
  'no API role has any grant on the inbound tables');
select ok(
  (select bool_and(c.relrowsecurity) from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'int' and c.relname in ('inbound_actions', 'inbound_webhook_receipts', 'inbound_webhook_log')),
  'RLS is enabled on the inbound tables');
select ok(
  (select bool_and(p.prosecdef and p.proconfig @> array['search_path=""'])
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.proname in ('rpc_plugin_ingest_webhook', 'rpc_list_inbound_webhooks')),
  'the inbound RPCs are security definer with an empty search_path');
select ok(
  not exists (
    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'private' and p.proname like 'inbound%'
      and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))
  ),
  'the private inbound helpers cannot be executed by anon or authenticated');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select throws_ok(
  $$select public.rpc_plugin_ingest_webhook('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'x', 1, 'v1,AAAA', '{}')$$,
  '42501', null, 'a signed-in user gets a permission error');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok(
  $$select public.rpc_plugin_ingest_webhook('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'x', 1, 'v1,AAAA', '{}')$$,
  '42501', null, 'anon gets a permission error');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select throws_ok(
  $$select public.rpc_plugin_ingest_webhook(null, 'x', 1, 'v1,AAAA', '{}')$$,
  '22023', 'p_installation_id, p_delivery_id, p_timestamp, p_signature and p_body are all required',
  'the service role gets a clear error for a missing argument');
select is(
  public.rpc_plugin_ingest_webhook('cccccccc-cccc-4000-8000-0000000000f1', 'x', 1, 'v1,AAAA', '{}') ->> 'code',
  'unknown_installation', 'the service role can call it');
reset role;

select * from finish();
rollback;
