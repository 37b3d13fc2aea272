-- Fan-out matching that plugins_fan_out.test.sql does not pin down (a
-- primary key change reaching INSERT- or DELETE-only subscriptions, an allowlist that overlaps the
-- changed fields without containing them, and an allowlist not filtering INSERTs).
begin;
select plan(3);

set local client_min_messages = error;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a;
select public.rpc_register_plugin(k, k) from unnest(array['g_delete', 'g_two_fields', 'g_insert']) k;
select vault.create_secret('signing-key', 'gaps_hmac');
create temp table inst on commit drop as
select
  public.rpc_install_plugin(a, 'g_delete', '{"webhook_url":"https://hooks.example.com/d"}', 'gaps_hmac') as i_delete,
  public.rpc_install_plugin(a, 'g_two_fields', '{"webhook_url":"https://hooks.example.com/t"}', 'gaps_hmac') as i_two,
  public.rpc_install_plugin(a, 'g_insert', '{"webhook_url":"https://hooks.example.com/i"}', 'gaps_hmac') as i_insert
from ids;
select public.rpc_upsert_webhook_subscription(i_delete, 'public', 'work_orders', '{DELETE}'),
  public.rpc_upsert_webhook_subscription(i_two, 'public', 'work_orders', '{UPDATE}', '{status,priority}'),
  public.rpc_upsert_webhook_subscription(i_insert, 'public', 'work_orders', '{INSERT,UPDATE}', '{status}')
from inst;
set local client_min_messages = warning;

create function pg_temp.sent() returns setof text language sql as $$
  select d.event_type || ' -> ' || p.plugin_key
  from int.plugin_deliveries d join int.plugin_installations p on p.id = d.installation_id
  order by d.audit_id, p.plugin_key
$$;

insert into public.work_orders (id, tenant_id, title)
select '00000000-0000-4000-8000-000000000f01', a, 'Fix the pump' from ids;
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()', array['work_orders.insert -> g_insert'],
  'a changed_fields allowlist narrows UPDATEs only: an INSERT still reaches its subscription');

truncate int.plugin_deliveries cascade;
update public.work_orders set status = 'in_progress';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select * from pg_temp.sent()',
  array['work_orders.update -> g_insert', 'work_orders.update -> g_two_fields'],
  'an UPDATE that changes one of two allowlisted fields is delivered (the lists overlap)');

truncate int.plugin_deliveries cascade;
update public.work_orders set id = '00000000-0000-4000-8000-000000000f02';
select private.expand_plugin_delivery_batches(100000);
select results_eq('select s from pg_temp.sent() s order by 1',
  array['work_orders.delete -> g_delete', 'work_orders.insert -> g_insert'],
  'an UPDATE of the primary key reaches DELETE and INSERT subscriptions as a delete and an insert');

select * from finish();
rollback;
