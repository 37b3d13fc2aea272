-- A retired subscription version is kept for a whole day (the existing
-- purge test's "recent" version is retired exactly 1 hour ago, which a 1-hour wait also keeps).
begin;
select plan(2);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

create temporary table retired on commit drop as
select s.version_id as id from int.plugin_subscriptions s where s.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
update int.plugin_subscriptions set include_payload = not include_payload
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
update int.plugin_subscription_versions v set created_at = now() - interval '3 days',
  retired_at = now() - interval '23 hours'
where v.id = (select id from retired);
select private.purge_plugin_deliveries(interval '7 days');
select ok(exists (select 1 from int.plugin_subscription_versions where id = (select id from retired)),
  'a version retired 23 hours ago is kept');

update int.plugin_subscription_versions set retired_at = now() - interval '25 hours'
where id = (select id from retired);
select private.purge_plugin_deliveries(interval '7 days');
select ok(not exists (select 1 from int.plugin_subscription_versions where id = (select id from retired)),
  'and purged once it was retired over a day ago');

select * from finish();
rollback;
