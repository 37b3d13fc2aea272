-- Statement-level auditing is set-based: a 10,000-row statement writes 10,000 audit rows from one call
-- of the audit trigger (and one call of the fan-out hook, audit.changes_captured, which queues one
-- batch per matching subscription), not 10,000.
begin;
select plan(9);

set local client_min_messages = error;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a;
select public.rpc_register_plugin('bulk', 'Bulk');
select vault.create_secret('signing-key', 'bulk_hmac');
select public.rpc_upsert_webhook_subscription(
  public.rpc_install_plugin(a, 'bulk', '{"webhook_url":"https://hooks.example.com/bulk"}', 'bulk_hmac'),
  'public', 'work_orders', '{INSERT,UPDATE}') from ids;
reset client_min_messages;

set local track_functions = 'pl';
insert into public.work_orders (tenant_id, title) select a, 'Work order ' || g from ids, generate_series(1, 10000) g;

select is((select count(*)::int from audit.entity_changes where op = 'INSERT'), 10000,
  'a 10,000-row INSERT writes 10,000 audit rows');
select is(pg_stat_get_xact_function_calls('audit.capture_changes'::regproc), 1::bigint,
  'the audit trigger ran once for the whole statement');
select is(pg_stat_get_xact_function_calls('audit.changes_captured'::regproc), 1::bigint,
  'the fan-out hook ran once for the whole statement');
select is(
  (select array_agg(cardinality(audit_ids)) from int.plugin_delivery_batches), array[10000],
  'and wrote one batch for the one matching subscription, holding all 10,000 changes');
select is((select count(*)::int from int.plugin_queued_deliveries), 10000, 'which queues 10,000 deliveries');

update public.work_orders set priority = 'high';
select is((select count(*)::int from audit.entity_changes where op = 'UPDATE' and changed_fields = '{priority}'), 10000,
  'a 10,000-row UPDATE writes 10,000 audit rows with the changed column');
select is(pg_stat_get_xact_function_calls('audit.capture_changes'::regproc), 2::bigint,
  'again from one trigger call');
select is(pg_stat_get_xact_function_calls('audit.changes_captured'::regproc), 2::bigint,
  'and one call of the fan-out hook');
select is((select count(*)::int from int.plugin_delivery_batches), 2,
  'which queued one more batch for the subscription');

select * from finish();
rollback;
