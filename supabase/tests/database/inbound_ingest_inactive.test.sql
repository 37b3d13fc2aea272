-- Only an active installation of an active plugin may act; a missing Vault secret refuses everything.
begin;
select plan(5);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

update int.plugin_installations set is_active = false where id = 'aaaaaaaa-aaaa-4000-8000-0000000000f1';
select is(
  pg_temp.ingest('dlv-1', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
    ->> 'code',
  'installation_inactive', 'an inactive installation is refused');

update int.plugin_installations set is_active = true where id = 'aaaaaaaa-aaaa-4000-8000-0000000000f1';
update int.plugins set is_active = false where key = 'inbound_test';
select is(
  pg_temp.ingest('dlv-1', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
    ->> 'code',
  'plugin_inactive', 'an installation of an inactive plugin is refused');

update int.plugins set is_active = true where key = 'inbound_test';
delete from vault.secrets where name = 'inbound_test_secret_a';
select is(
  pg_temp.ingest('dlv-1', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
    ->> 'code',
  'secret_unavailable', 'without its Vault secret nothing can be verified');

select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'open',
  'nothing was applied');
select is((select count(*)::int from int.inbound_webhook_receipts), 0,
  'no delivery id was recorded, so the delivery can be retried once the installation works again');

select * from finish();
rollback;
