-- The delivery queue: an audited statement queues one batch naming the versions of its matching active
-- subscriptions (not one row per change or per subscription); its deliveries are listed at once
-- (pending, with their final id and body) and the processor writes them as rows a slice at a time,
-- keeping those ids and bodies; the subscription's version at the time of the change decides what is
-- delivered; an uninstalled installation's part of a batch is dropped.
begin;
select plan(48);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- Besides the fixture's INSERT subscriptions (deliveries_test, in A and in B), tenant A has:
-- batches_more (INSERT, DELETE), batches_update (UPDATE of status only, with the row data) and
-- batches_off (INSERT, installation inactive).
select public.rpc_register_plugin(k, k) from unnest(array['batches_more', 'batches_update', 'batches_off']) as k;
create temporary table inst on commit drop as
select
  (select id from int.plugin_installations
   where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000' and plugin_key = 'deliveries_test') as i_a,
  public.rpc_install_plugin('aaaaaaaa-aaaa-4000-8000-000000000000', 'batches_more',
    '{"webhook_url": "https://hooks.example.com/more"}', 'deliveries_test_secret_a') as i_more,
  public.rpc_install_plugin('aaaaaaaa-aaaa-4000-8000-000000000000', 'batches_update',
    '{"webhook_url": "https://hooks.example.com/update"}', 'deliveries_test_secret_a') as i_update,
  public.rpc_install_plugin('aaaaaaaa-aaaa-4000-8000-000000000000', 'batches_off',
    '{"webhook_url": "https://hooks.example.com/off"}', 'deliveries_test_secret_a') as i_off;
select public.rpc_upsert_webhook_subscription(i_more, 'public', 'work_orders', '{INSERT,DELETE}'),
  public.rpc_upsert_webhook_subscription(i_update, 'public', 'work_orders', '{UPDATE}', '{status}', true),
  public.rpc_upsert_webhook_subscription(i_off, 'public', 'work_orders', '{INSERT}'),
  public.rpc_update_plugin_installation(i_off, p_is_active => false)
from inst;

-- One statement, five changes ------------------------------------------------------------------------
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Order ' || n from generate_series(1, 5) as n;

select is((select count(*)::int from int.plugin_delivery_batches), 1,
  'a 5-row INSERT queues one batch, not one per row or per subscription');
select results_eq(
  $$select p.plugin_key, cardinality(b.audit_ids), b.expanded
    from int.plugin_delivery_batches b
    cross join unnest(b.subscription_version_ids) as u(version_id)
    join int.plugin_subscription_versions v on v.id = u.version_id
    join int.plugin_installations p on p.id = v.installation_id
    order by p.plugin_key$$,
  $$values ('batches_more'::text, 5, 0), ('deliveries_test', 5, 0)$$,
  'it holds the statement''s 5 changes for the two matching subscriptions; the UPDATE-only, the inactive and the other tenant''s are not named'
);
select is((select count(*)::int from int.plugin_deliveries), 0, 'the statement itself writes no delivery row');
select is((select count(*)::int from int.plugin_queued_deliveries), 10, 'it queues 10 deliveries');

-- What the queue will write, as listed now.
create temporary table listed on commit drop as
select q.batch_id, q.position, q.id, q.installation_id, q.audit_id, q.payload from int.plugin_queued_deliveries q;
grant select on listed to service_role;

-- Listed at once ------------------------------------------------------------------------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select set_eq(
  $$select id, status, attempts, payload
    from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => 500)$$,
  $$select id, 'pending'::text, 0, payload from listed$$,
  'rpc_list_recent_deliveries lists the queued deliveries as pending, attempt 0, with their final id and body'
);
select results_eq(
  $$select id, payload from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => 3)$$,
  $$select id, payload from listed order by id limit 3$$,
  'with a smaller p_limit it lists the first of them in its order (newest first, then by id), bodies included'
);
select is((select count(*)::int from public.v_plugin_deliveries), 0,
  'v_plugin_deliveries shows only written deliveries, not yet these');
reset role;
select set_config('request.jwt.claims', '', true);

-- A queued delivery is pending: it cannot be redelivered yet, and the error says so.
select throws_ok(
  format('select public.rpc_redeliver_plugin_delivery(%L)', (select id from listed limit 1)),
  'PT409', null, 'a queued delivery cannot be redelivered: it is still pending'
);
select is((select count(*)::int from int.plugin_deliveries), 0, 'the refused redelivery writes nothing');

-- A run that fails after writing loses nothing: its rows and its cursor move roll back together.
savepoint failed_run;
select private.expand_plugin_delivery_batches(3);
rollback to savepoint failed_run;
select is((select array_agg(expanded order by id) from int.plugin_delivery_batches), array[0],
  'a run that rolls back leaves the batch as it was');
select is((select count(*)::int from int.plugin_queued_deliveries), 10, 'and every delivery still queued');

-- Written a slice at a time ----------------------------------------------------------------------------
select is(private.expand_plugin_delivery_batches(2), 2, 'expanding with a limit of 2 writes 2 deliveries');
select is((select array_agg(expanded order by id) from int.plugin_delivery_batches), array[2],
  'the batch''s cursor advances by 2');

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select set_eq(
  $$select id, payload
    from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => 500)$$,
  $$select id, payload from listed$$,
  'half written, the list still has each delivery once, with the same id and body'
);
select set_eq(
  $$select id from public.v_plugin_deliveries$$,
  $$select id from listed where position <= 2$$,
  'and v_plugin_deliveries now shows the 2 written ones: the first change, to both subscriptions'
);
select is((select count(distinct installation_id)::int from public.v_plugin_deliveries), 2,
  'a batch is written change by change, each to every subscription, not one subscription after the other');
reset role;
select set_config('request.jwt.claims', '', true);

select is(private.expand_plugin_delivery_batches(2), 2, 'a second limit of 2 writes 2 more');
select is((select array_agg(expanded order by id) from int.plugin_delivery_batches), array[4],
  'the cursor advances to 4');
select is(private.expand_plugin_delivery_batches(1), 1, 'a limit of 1 writes one more');
select set_eq(
  $$select id, payload, status, attempts from int.plugin_deliveries$$,
  $$select l.id, l.payload, 'pending'::text, 0 from listed l where l.position <= 5$$,
  'the 5 rows are pending, with the ids and bodies they were listed with'
);
select is((select count(*)::int from int.plugin_deliveries), (select count(distinct (installation_id, audit_id))::int from int.plugin_deliveries),
  'no change is written twice to one subscription');
select is(
  (select count(*)::int from int.plugin_queued_deliveries q join int.plugin_deliveries d using (id)), 0,
  'a written delivery is no longer queued'
);

select is(private.expand_plugin_delivery_batches(100000), 5, 'the rest is written in one go');
select is((select count(*)::int from int.plugin_delivery_batches), 0, 'the finished batch is deleted');
select set_eq(
  $$select id, installation_id, audit_id, payload from int.plugin_deliveries$$,
  $$select id, installation_id, audit_id, payload from listed$$,
  'all 10 deliveries are written once each, as listed'
);

-- The allowlist at the time of the change decides --------------------------------------------------------
truncate int.plugin_deliveries cascade;
update public.work_orders set title = 'Order 1 (renamed)' where title = 'Order 1';
create temporary table version_before on commit drop as
select s.version_id from int.plugin_subscriptions s join inst on s.installation_id = inst.i_update;
update int.plugin_subscriptions set changed_fields_allowlist = '{title}'
where installation_id = (select i_update from inst);
select ok(
  (select v.retired_at is not null from int.plugin_subscription_versions v join version_before b on v.id = b.version_id)
  and (select s.version_id <> b.version_id and v.changed_fields_allowlist = '{title}' and v.retired_at is null
       from int.plugin_subscriptions s join inst on s.installation_id = inst.i_update
       cross join version_before b join int.plugin_subscription_versions v on v.id = s.version_id),
  'the edit gives the subscription a new version and retires the one the queued change names'
);
update int.plugin_subscriptions set is_active = is_active, updated_at = now()
where installation_id = (select i_update from inst);
select is(
  (select count(*)::int from int.plugin_subscription_versions v join inst on v.installation_id = inst.i_update), 2,
  'a write that changes no delivery rule makes no new version'
);
select private.expand_plugin_delivery_batches(100000);
select is(
  (select count(*)::int from int.plugin_deliveries d join inst on d.installation_id = inst.i_update), 0,
  'an UPDATE whose changed fields miss the allowlist it was queued with yields no delivery, even once the allowlist matches'
);
update public.work_orders set title = 'Order 1 (renamed again)' where title = 'Order 1 (renamed)';
select private.expand_plugin_delivery_batches(100000);
select is(
  (select d.payload #> '{data,changed_fields}' from int.plugin_deliveries d join inst on d.installation_id = inst.i_update),
  '["title"]'::jsonb,
  'an UPDATE queued after the allowlist changed is delivered'
);

-- An uninstalled installation's part of a batch is dropped -------------------------------------------
truncate int.plugin_deliveries cascade;
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Order 6');
select public.rpc_uninstall_plugin(i_more) from inst;
select is((select count(*)::int from int.plugin_delivery_batches), 1, 'the batch is still queued after the uninstall');
select is(private.expand_plugin_delivery_batches(100000), 1,
  'expanding skips the uninstalled installation without error and writes the other');
select is((select count(*)::int from int.plugin_delivery_batches), 0, 'the batch is gone');
select is((select array_agg(installation_id) from int.plugin_deliveries), (select array[i_a] from inst),
  'only the installed subscription got a delivery');

-- The processor reports what it wrote as "queued" ----------------------------------------------------
truncate int.plugin_deliveries cascade;
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Order ' || n from generate_series(7, 9) as n;
select is(
  public.rpc_process_plugin_deliveries(2) - 'extended_leases' - 'not_sent',
  '{"reconciled": 0, "delivered": 0, "retried": 0, "dead": 0, "expired_leases": 0, "queued": 2, "sent": 2}'::jsonb,
  'a run writes at most p_limit queued deliveries, reports them as queued and sends them'
);
select is(public.rpc_process_plugin_deliveries(100) ->> 'queued', '1', 'the next run writes the rest');
select is(public.rpc_process_plugin_deliveries(100) ->> 'queued', '0', 'then nothing is left to write');
select is(
  (select array_agg(status) from int.plugin_deliveries), array['in_flight', 'in_flight', 'in_flight'],
  'every queued delivery was sent'
);

-- A large statement is split into batches of at most 10,000 changes ---------------------------------------
delete from int.plugin_delivery_batches;
-- Reads of the audit log so far in this transaction: a one-tenant statement's fan-out has its audit ids
-- and needs no read of the log, however many changes it has (reading 100,000 back costs some 150 ms).
create temp table audit_log_reads on commit drop as
select seq_scan + coalesce(idx_scan, 0) as n from pg_stat_xact_user_tables where relid = 'audit.entity_changes'::regclass;
insert into public.work_orders (tenant_id, title)
select 'bbbbbbbb-bbbb-4000-8000-000000000000', 'Bulk ' || n from generate_series(1, 10001) as n;
select is(
  (select seq_scan + coalesce(idx_scan, 0) from pg_stat_xact_user_tables where relid = 'audit.entity_changes'::regclass)
    - (select n from audit_log_reads),
  0::bigint,
  'a 10,001-row statement of one tenant queues its changes without reading them back from the audit log'
);
select results_eq(
  $$select cardinality(audit_ids) from int.plugin_delivery_batches order by id$$,
  $$values (10000), (1)$$,
  'a 10,001-row statement queues two batches: 10,000 changes and 1'
);
select is(
  (select count(distinct id)::int from int.plugin_queued_deliveries),
  10001,
  'together they queue one delivery per change, each with its own id'
);
select is(
  (select count(distinct q.audit_id)::int from int.plugin_queued_deliveries q
   join audit.entity_changes c on c.id = q.audit_id
   where c.new_data ->> 'title' like 'Bulk %'),
  10001,
  'and every change of the statement is in one of them'
);

-- The same for a table without tenant_id, whose statements match no subscription.
create table public.bulk_untenanted (id int primary key);
select audit.track_table('public.bulk_untenanted');
update audit_log_reads set n = (
  select seq_scan + coalesce(idx_scan, 0) from pg_stat_xact_user_tables where relid = 'audit.entity_changes'::regclass);
create temp table batches_before on commit drop as select count(*) as n from int.plugin_delivery_batches;
insert into public.bulk_untenanted select n from generate_series(1, 10001) as n;
select is(
  (select seq_scan + coalesce(idx_scan, 0) from pg_stat_xact_user_tables where relid = 'audit.entity_changes'::regclass)
    - (select n from audit_log_reads),
  0::bigint,
  'a 10,001-row statement on a table without tenant_id reads nothing back from the audit log'
);
select is((select count(*) from int.plugin_delivery_batches) - (select n from batches_before), 0::bigint,
  'and queues no batch');

-- A batch's progress stays within its size -----------------------------------------------------------------
select throws_ok(
  $$update int.plugin_delivery_batches set expanded = 10001 where cardinality(audit_ids) = 1$$,
  '23514', null,
  'moving a batch''s progress past its size is refused');
select throws_ok(
  $$update int.plugin_delivery_batches set expanded = -1 where cardinality(audit_ids) = 1$$,
  '23514', null,
  'and so is a negative progress');
select is((select expanded from int.plugin_delivery_batches where cardinality(audit_ids) = 1), 0,
  'the batch keeps its progress');

-- A batch whose installations are all gone is dropped -------------------------------------------------
delete from int.plugin_delivery_batches;
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Orphaned');
select public.rpc_uninstall_plugin(i.id)
from int.plugin_installations i where i.tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';
select is(private.expand_plugin_delivery_batches(100000), 0, 'a batch whose installations are all gone writes nothing');
select is((select count(*)::int from int.plugin_delivery_batches), 0, 'and is dropped');

select * from finish();
rollback;
