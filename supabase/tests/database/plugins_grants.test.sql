-- Clients (anon, authenticated) cannot reach int.*, audit.* or private.*, nor register plugins or create
-- tenants; they can call exactly the tenant-scoped RPCs.
begin;
select plan(24);

select is(
  (select array_agg(n order by n) from unnest(array['int', 'audit', 'private']) n
   where has_schema_privilege('anon', n, 'usage') or has_schema_privilege('authenticated', n, 'usage')),
  null, 'anon and authenticated have no usage on schemas int, audit, private');

select is(
  (select array_agg(format('%I.%I', n.nspname, c.relname) order by 1)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('int', 'audit', 'private') and c.relkind in ('r', 'p', 'v', 'm', 'S')
     and exists (
       select 1 from unnest(array['anon', 'authenticated']) r, unnest(array['select', 'insert', 'update', 'delete']) p
       where has_table_privilege(r, c.oid, p))),
  null, 'no table, view or sequence in int, audit or private grants anything to anon or authenticated');

select is(
  (select array_agg(p.oid::regprocedure::text order by 1)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('int', 'audit', 'private')
     and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))),
  null, 'no function in int, audit or private is executable by anon or authenticated');

select is(
  (select array_agg(format('%I.%I', n.nspname, c.relname) order by 1)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('public', 'int', 'audit') and c.relkind = 'r' and not c.relrowsecurity
     and c.relname in ('tenants', 'tenant_memberships', 'work_orders', 'entity_changes', 'plugins',
       'plugin_installations', 'plugin_subscriptions', 'plugin_deliveries', 'plugin_delivery_attempts')),
  null, 'RLS is enabled on every tenancy, work order, audit and plugin table');

select ok(not has_function_privilege('anon', 'public.rpc_register_plugin(text, text, text, boolean, boolean)', 'execute'),
  'anon cannot execute rpc_register_plugin');
select ok(not has_function_privilege('authenticated', 'public.rpc_register_plugin(text, text, text, boolean, boolean)', 'execute'),
  'authenticated cannot execute rpc_register_plugin');
select ok(has_function_privilege('service_role', 'public.rpc_register_plugin(text, text, text, boolean, boolean)', 'execute'),
  'service_role can execute rpc_register_plugin');
select ok(not has_function_privilege('authenticated', 'public.rpc_create_tenant(text, uuid)', 'execute'),
  'authenticated cannot execute rpc_create_tenant');
select ok(has_function_privilege('service_role', 'public.rpc_create_tenant(text, uuid)', 'execute'),
  'service_role can execute rpc_create_tenant');

select ok(has_function_privilege('authenticated', f, 'execute') and not has_function_privilege('anon', f, 'execute'),
  format('%s: authenticated may execute, anon may not', f))
from unnest(array[
  'public.rpc_add_tenant_member(uuid, uuid, text)',
  'public.rpc_install_plugin(uuid, text, jsonb, text, integer)',
  'public.rpc_update_plugin_installation(uuid, jsonb, text, boolean, integer)',
  'public.rpc_uninstall_plugin(uuid)',
  'public.rpc_upsert_webhook_subscription(uuid, text, text, text[], text[], boolean)',
  'public.rpc_delete_webhook_subscription(uuid)']) f;

select ok(not has_table_privilege('anon', 'public.' || t, 'select'), format('anon cannot read public.%s', t))
from unnest(array['tenants', 'tenant_memberships', 'work_orders']) t;

-- What a client actually gets when it tries.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-00000000a001","role":"authenticated"}', true);

select throws_ok('select count(*) from int.plugins', '42501', null, 'authenticated cannot select int.plugins');
select throws_ok($$insert into int.plugins (key, name) values ('sneaky', 'Sneaky')$$, '42501', null,
  'authenticated cannot insert into int.plugins');
select throws_ok('select count(*) from audit.entity_changes', '42501', null, 'authenticated cannot select audit.entity_changes');
select throws_ok('select count(*) from int.plugin_deliveries', '42501', null, 'authenticated cannot select int.plugin_deliveries');
select throws_ok($$select private.has_tenant_role(gen_random_uuid(), 'tenant.admin')$$, '42501', null,
  'authenticated cannot execute private helpers');
select throws_ok($$select public.rpc_register_plugin('sneaky', 'Sneaky')$$, '42501', null,
  'authenticated gets a permission error from rpc_register_plugin');

reset role;
select * from finish();
rollback;
