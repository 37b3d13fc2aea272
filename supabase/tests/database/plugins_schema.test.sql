-- The plugin platform's tables, columns, indexes and triggers exist as the delivery processor expects.
begin;
select plan(48);

select has_schema('int', 'schema int exists');
select has_schema('audit', 'schema audit exists');
select has_schema('private', 'schema private exists');

select has_table('public', 'tenants', 'public.tenants exists');
select has_table('public', 'tenant_memberships', 'public.tenant_memberships exists');
select has_table('public', 'work_orders', 'public.work_orders exists');
select has_table('audit', 'entity_changes', 'audit.entity_changes exists');
select has_table('int', 'plugins', 'int.plugins exists');
select has_table('int', 'plugin_installations', 'int.plugin_installations exists');
select has_table('int', 'plugin_subscriptions', 'int.plugin_subscriptions exists');
select has_table('int', 'plugin_deliveries', 'int.plugin_deliveries exists');
select has_table('int', 'plugin_delivery_attempts', 'int.plugin_delivery_attempts exists');
select has_table('int', 'plugin_delivery_batches', 'int.plugin_delivery_batches exists');
select has_view('int', 'plugin_queued_deliveries', 'int.plugin_queued_deliveries exists');

select ok(
  (select c.relpersistence = 'p' from pg_class c where c.oid = 'int.plugin_deliveries'::regclass),
  'the delivery queue is a logged table');

select columns_are('int', 'plugin_deliveries', array[
  'id', 'tenant_id', 'installation_id', 'subscription_id', 'audit_id', 'event_type', 'payload', 'status',
  'attempts', 'next_attempt_at', 'lease_expires_at', 'net_request_id', 'net_generation', 'last_status_code',
  'last_error', 'delivered_at', 'created_at', 'updated_at'], 'plugin_deliveries has the contract''s columns');
select col_type_is('int', 'plugin_deliveries', 'id', 'uuid', 'delivery id is a uuid');
select col_type_is('int', 'plugin_deliveries', 'payload', 'jsonb', 'payload is jsonb');
select col_default_is('int', 'plugin_deliveries', 'status', 'pending'::text, 'deliveries start pending');
select columns_are('int', 'plugin_delivery_attempts', array[
  'id', 'delivery_id', 'attempt', 'status_code', 'error', 'timed_out', 'duration_ms', 'response_excerpt',
  'created_at'], 'plugin_delivery_attempts has the contract''s columns');
select columns_are('audit', 'entity_changes', array[
  'id', 'tenant_id', 'table_schema', 'table_name', 'op', 'record_id', 'changed_fields', 'old_data',
  'new_data', 'actor', 'created_at'], 'entity_changes has the contract''s columns');
select columns_are('int', 'plugin_installations', array[
  'id', 'tenant_id', 'plugin_key', 'config', 'secret_ref', 'is_active', 'max_attempts', 'created_by',
  'created_at', 'updated_at'], 'plugin_installations has the contract''s columns');
select columns_are('int', 'plugin_subscriptions', array[
  'id', 'installation_id', 'tenant_id', 'table_schema', 'table_name', 'operations',
  'changed_fields_allowlist', 'include_payload', 'is_active', 'is_live', 'version_id', 'created_at', 'updated_at'],
  'plugin_subscriptions has the contract''s columns');
select columns_are('int', 'plugin_subscription_versions', array[
  'id', 'subscription_id', 'tenant_id', 'installation_id', 'operations', 'changed_fields_allowlist',
  'include_payload', 'created_at', 'retired_at'],
  'plugin_subscription_versions keeps what decides a subscription''s deliveries');
select columns_are('int', 'plugin_delivery_batches', array[
  'id', 'subscription_version_ids', 'audit_ids', 'expanded', 'delivery_id_seed', 'created_at'],
  'plugin_delivery_batches has the contract''s columns');
select ok(
  (select bool_and(c.relpersistence = 'p' and c.relrowsecurity) from pg_class c
   where c.oid in ('int.plugin_delivery_batches'::regclass, 'int.plugin_subscription_versions'::regclass)),
  'the batch queue and the subscription versions are logged tables with RLS on');
select is(
  (select array_agg(distinct g.grantee::text order by g.grantee::text)
   from information_schema.role_table_grants g
   where g.table_schema = 'int'
     and g.table_name in ('plugin_delivery_batches', 'plugin_queued_deliveries', 'plugin_subscription_versions')
     and g.grantee in ('PUBLIC', 'anon', 'authenticated', 'service_role')),
  null, 'clients have no grants on the batch queue, the queued-deliveries view or the subscription versions');
select col_default_is('int', 'plugin_installations', 'max_attempts', 8, 'installations allow 8 attempts by default');

select has_index('int', 'plugin_deliveries', 'plugin_deliveries_due_idx', 'due deliveries are indexed');
select has_index('int', 'plugin_deliveries', 'plugin_deliveries_in_flight_idx', 'in-flight deliveries are indexed');
select has_index('int', 'plugin_deliveries', 'plugin_deliveries_installation_idx', 'deliveries by installation are indexed');
select has_index('int', 'plugin_deliveries', 'plugin_deliveries_tenant_idx', 'deliveries by tenant are indexed');
select has_index('int', 'plugin_delivery_attempts', 'plugin_delivery_attempts_delivery_id_idx', 'attempts by delivery are indexed');
select has_index('public', 'work_orders', 'work_orders_tenant_id_idx', 'work orders by tenant are indexed');

select fk_ok('int', 'plugin_deliveries', 'installation_id', 'int', 'plugin_installations', 'id',
  'deliveries reference their installation');
select fk_ok('int', 'plugin_deliveries', 'subscription_id', 'int', 'plugin_subscriptions', 'id',
  'deliveries reference their subscription');

-- Statement-level triggers with transition tables (tgtype bit 0 clear = statement level).
select ok(
  (select count(*) = 3 from pg_trigger t
   where t.tgrelid = 'public.work_orders'::regclass and t.tgfoid = 'audit.capture_changes'::regproc
     and t.tgtype & 1 = 0 and (t.tgnewtable is not null or t.tgoldtable is not null)),
  'work_orders has three statement-level audit triggers with transition tables');
select ok(audit.is_tracked('public.work_orders'), 'work_orders is audited');
select is(
  (select count(*)::int from pg_trigger t where t.tgrelid = 'audit.entity_changes'::regclass), 0,
  'no trigger is left on audit.entity_changes: the audit trigger calls the fan-out directly');
select has_function('audit', 'changes_captured', array['text', 'text', 'text', 'bigint[]', 'uuid[]'],
  'the fan-out hook audit.changes_captured exists');

select has_function('public', 'rpc_register_plugin', array['text', 'text', 'text', 'boolean', 'boolean'],
  'rpc_register_plugin exists');
select has_function('public', 'rpc_install_plugin', array['uuid', 'text', 'jsonb', 'text', 'integer'],
  'rpc_install_plugin exists');
select has_function('public', 'rpc_update_plugin_installation', array['uuid', 'jsonb', 'text', 'boolean', 'integer'],
  'rpc_update_plugin_installation exists');
select has_function('public', 'rpc_uninstall_plugin', array['uuid'], 'rpc_uninstall_plugin exists');
select has_function('public', 'rpc_upsert_webhook_subscription',
  array['uuid', 'text', 'text', 'text[]', 'text[]', 'boolean'], 'rpc_upsert_webhook_subscription exists');
select has_function('public', 'rpc_delete_webhook_subscription', array['uuid'], 'rpc_delete_webhook_subscription exists');
select has_function('private', 'require_tenant_role', array['uuid', 'text'], 'private.require_tenant_role exists');

-- Supabase's Security Advisor warns about every function without a fixed search_path (lint 0011).
select is_empty(
  $$select n.nspname || '.' || p.proname
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    left join pg_depend d on d.objid = p.oid and d.deptype = 'e'
    where n.nspname in ('public', 'private', 'int', 'audit')
      and d.objid is null
      and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')$$,
  'every function of the project sets its search_path'
);

select * from finish();
rollback;
