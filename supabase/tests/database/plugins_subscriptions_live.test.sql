-- A subscription is live (the fan-out queues for it) exactly while it, its installation and its plugin
-- are all active; switching any of them off and on again is followed at once, and changes made while
-- it is off are never delivered.
begin;
select plan(13);

-- Tenants A and B with admins, Vault secrets and one `deliveries_test` installation each, subscribed to
-- work_orders INSERTs.
\ir _fixtures/deliveries.sql

create temporary table ids on commit drop as
select i.id as installation_id, s.id as subscription_id, s.updated_at
from int.plugin_installations i
join int.plugin_subscriptions s on s.installation_id = i.id
where i.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';

create function pg_temp.live() returns boolean language sql as $$
  select s.is_live from int.plugin_subscriptions s join ids on ids.subscription_id = s.id
$$;
create function pg_temp.queue_one(p_title text) returns int language sql as $$
  insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', p_title);
  select count(*)::int from int.plugin_queued_deliveries q
  join audit.entity_changes c on c.id = q.audit_id
  where c.new_data ->> 'title' = p_title
$$;

select ok(pg_temp.live(), 'a new subscription of an active installation of an active plugin is live');
select is(pg_temp.queue_one('while live'), 1, 'a change is queued for it');

select public.rpc_update_plugin_installation(installation_id, p_is_active => false) from ids;
select ok(not pg_temp.live(), 'switching the installation off takes the subscription off the fan-out');
select is(pg_temp.queue_one('installation off'), 0, 'a change made meanwhile queues nothing');
select public.rpc_update_plugin_installation(installation_id, p_is_active => true) from ids;
select ok(pg_temp.live(), 'switching the installation on again makes it live again');

select public.rpc_register_plugin('deliveries_test', 'Deliveries test', 'pgTAP fixture', true, false);
select ok(
  not exists (select 1 from int.plugin_subscriptions s where s.is_live),
  'switching the plugin off takes every subscription of its installations, in both tenants, off'
);
select is(pg_temp.queue_one('plugin off'), 0, 'a change made while the plugin is off queues nothing');

update int.plugin_installations set is_active = false where id = (select installation_id from ids);
select public.rpc_register_plugin('deliveries_test', 'Deliveries test', 'pgTAP fixture', true, true);
select ok(not pg_temp.live(), 'the plugin on again does not revive a subscription of an inactive installation');
select ok(
  (select s.is_live from int.plugin_subscriptions s
   where s.tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  'while the other tenant''s subscription is live again'
);
update int.plugin_installations set is_active = true where id = (select installation_id from ids);

update int.plugin_subscriptions set is_active = false where id = (select subscription_id from ids);
select ok(not pg_temp.live(), 'an inactive subscription is never live');
update int.plugin_subscriptions set is_active = true where id = (select subscription_id from ids);
select ok(pg_temp.live(), 'and live again once active');

-- Only the subscription's own edits count as updates of it.
update int.plugin_subscriptions s set updated_at = '2000-01-01' from ids where s.id = ids.subscription_id;
select public.rpc_update_plugin_installation(installation_id, p_is_active => false) from ids;
select public.rpc_update_plugin_installation(installation_id, p_is_active => true) from ids;
select is(
  (select s.updated_at from int.plugin_subscriptions s join ids on ids.subscription_id = s.id),
  '2000-01-01'::timestamptz,
  'switching the installation does not touch the subscription''s updated_at'
);

select is(
  public.rpc_process_plugin_deliveries(100) ->> 'sent', '1',
  'only the change made while everything was active is ever sent'
);

select * from finish();
rollback;
