-- Deliveries of an inactive installation or plugin are kept and wait: nothing is sent and no attempt is
-- spent while it is inactive (requests already out are still settled), and they go out once it is
-- active again. A redelivery meanwhile waits with them.
begin;
select plan(14);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- Two deliveries in flight and one still queued when tenant A's installation is paused.
insert into public.work_orders (tenant_id, title)
values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'accepted'), ('aaaaaaaa-aaaa-4000-8000-000000000000', 'refused');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '2', 'two deliveries are sent');
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'queued');

create temporary table delivery_of on commit drop as
select w.title, d.id
from int.plugin_deliveries d
join audit.entity_changes c on c.id = d.audit_id
join public.work_orders w on w.id::text = c.record_id::text;

update int.plugin_installations set is_active = false where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';

insert into net._http_response (id, status_code, content)
select d.net_request_id, case f.title when 'accepted' then 200 else 503 end, 'answer'
from int.plugin_deliveries d join delivery_of f using (id);

select is(
  public.rpc_process_plugin_deliveries(100) - 'extended_leases' - 'not_sent' - 'expired_leases',
  '{"reconciled": 2, "delivered": 1, "retried": 1, "dead": 0, "queued": 1, "sent": 0}'::jsonb,
  'while inactive, the answers to requests already out are settled and the queued change is written, but nothing is sent'
);

select pg_temp.make_due();
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '0', 'due deliveries of an inactive installation wait');
select is(
  (select array_agg(row(d.status, d.attempts)::text order by d.status)
   from int.plugin_deliveries d where d.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  array[row('delivered', 1)::text, row('failed', 1)::text, row('pending', 0)::text],
  'they are kept, and waiting spends no attempt'
);
select is(
  (select count(*)::int from int.plugin_delivery_attempts a join int.plugin_deliveries d on d.id = a.delivery_id
   where d.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  2,
  'only the two answered tries are logged'
);

-- A redelivery while inactive goes back to pending and waits with the others.
select is(
  (select r.status from public.rpc_redeliver_plugin_delivery((select id from delivery_of where title = 'accepted')) as r),
  'pending',
  'a delivered delivery of an inactive installation can be redelivered'
);
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '0', 'and waits too');

-- Active again: everything waiting goes out.
update int.plugin_installations set is_active = true where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '3',
  'once the installation is active again, the failed, the queued and the redelivered delivery are sent');
select is(
  (select array_agg(d.attempts order by d.id) from int.plugin_deliveries d join delivery_of f using (id)),
  (select array_agg(case f.title when 'refused' then 2 else 1 end order by f.id) from delivery_of f),
  'each on its next attempt'
);
select is(pg_temp.answer_in_flight(200), 3, 'they are answered');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '3', 'and delivered');

-- The same for an inactive plugin (every installation of it).
insert into public.work_orders (tenant_id, title)
values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'plugin paused'), ('bbbbbbbb-bbbb-4000-8000-000000000000', 'plugin paused');
select private.expand_plugin_delivery_batches(100);
update int.plugins set is_active = false where key = 'deliveries_test';
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '0', 'deliveries of an inactive plugin wait');
update int.plugins set is_active = true where key = 'deliveries_test';
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '2', 'and go out when it is active again');
select is(
  (select count(*)::int from int.plugin_deliveries where status = 'in_flight' and attempts = 1), 2,
  'on their first attempt'
);

select * from finish();
rollback;
