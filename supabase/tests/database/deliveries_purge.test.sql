-- private.purge_plugin_deliveries deletes delivered deliveries (and their attempts) older than the
-- retention, and subscription versions retired over a day ago that no batch names; it keeps
-- everything else.
begin;
select plan(10);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', s
from unnest(array['old delivered', 'new delivered', 'old dead', 'old pending']) as s;

select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '4', 'four deliveries are sent');
select is(pg_temp.answer_in_flight(200), 4, 'and answered');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '4', 'and delivered');

update int.plugin_deliveries d
set status = case when w.title like '%dead' then 'dead' when w.title like '%pending' then 'pending' else d.status end,
  delivered_at = case when w.title like 'old%' then now() - interval '8 days' else now() - interval '6 days' end,
  created_at = now() - interval '9 days'
from audit.entity_changes a
join public.work_orders w on w.id::text = a.record_id::text
where a.id = d.audit_id;

select is(private.purge_plugin_deliveries(interval '7 days'), 1::bigint, 'one delivery is purged');
select is(
  (select array_agg(w.title order by w.title) from int.plugin_deliveries d
   join audit.entity_changes a on a.id = d.audit_id
   join public.work_orders w on w.id::text = a.record_id::text),
  array['new delivered', 'old dead', 'old pending'],
  'only the delivered delivery older than the retention is gone; dead and pending ones stay'
);
select is(
  (select count(*)::int from int.plugin_delivery_attempts a
   where not exists (select 1 from int.plugin_deliveries d where d.id = a.delivery_id)),
  0,
  'its attempts went with it'
);
select is((select count(*)::int from int.plugin_delivery_attempts), 3, 'the other attempts stay');

-- Subscription versions: tenant A's subscription is edited three times. Its first version was retired
-- two days ago and is named by a queued batch, its second two days ago and named by nothing, its
-- third an hour ago and named by nothing; its fourth is current.
create temporary table versions on commit drop as
with s as (
  select s.id from int.plugin_subscriptions s where s.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'
)
select (select version_id from int.plugin_subscriptions where id = s.id) as v1 from s;
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'queued');
update int.plugin_subscriptions set include_payload = not include_payload
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
alter table versions add column v2 bigint;
update versions set v2 = (select version_id from int.plugin_subscriptions where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000');
update int.plugin_subscriptions set include_payload = not include_payload
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
alter table versions add column v3 bigint;
update versions set v3 = (select version_id from int.plugin_subscriptions where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000');
update int.plugin_subscriptions set include_payload = not include_payload
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
update int.plugin_subscription_versions v set created_at = now() - interval '3 days',
  retired_at = case when v.id in (x.v1, x.v2) then now() - interval '2 days' else now() - interval '1 hour' end
from versions x where v.id in (x.v1, x.v2, x.v3);
update int.plugin_subscription_versions v set created_at = now() - interval '3 days'
from int.plugin_subscriptions s where v.id = s.version_id;

select private.purge_plugin_deliveries(interval '7 days');
select is(
  (select array_agg(v.id order by v.id) from int.plugin_subscription_versions v
   where v.subscription_id = (select s.id from int.plugin_subscriptions s
                              where s.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000')),
  (select array[x.v1, x.v3, s.version_id] from versions x, int.plugin_subscriptions s
   where s.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  'of the retired versions only the one retired over a day ago that no batch names is purged; the current one stays'
);
select is(private.expand_plugin_delivery_batches(100), 1,
  'the queued change is still delivered, as the version it was queued with');

select throws_ok(
  'select private.purge_plugin_deliveries(interval ''-1 day'')', '22023',
  'p_retention must not be negative, got -1 days', 'a negative retention is refused'
);

select * from finish();
rollback;
