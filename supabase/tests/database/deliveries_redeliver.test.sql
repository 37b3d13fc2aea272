-- rpc_redeliver_plugin_delivery: a tenant admin puts a dead or delivered delivery back to pending
-- with a fresh retry budget; other statuses, other tenants and non-admins are refused.
begin;
select plan(17);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', s from unnest(array['dead', 'delivered', 'pending', 'failed', 'in_flight']) as s;
-- Write the queued deliveries as rows (the processor's first step) so their states can be set.
select private.expand_plugin_delivery_batches(100);

-- Put each delivery in the state its work order is named after.
update int.plugin_deliveries d
set status = w.title,
  attempts = case w.title when 'pending' then 0 when 'dead' then 8 else 1 end,
  last_status_code = case w.title when 'dead' then 500 when 'delivered' then 200 end,
  last_error = case w.title when 'dead' then 'HTTP 500' end,
  delivered_at = case w.title when 'delivered' then now() - interval '1 hour' end,
  net_request_id = case w.title when 'in_flight' then 42 end,
  lease_expires_at = case w.title when 'in_flight' then now() + interval '1 minute' end,
  next_attempt_at = case w.title when 'failed' then now() + interval '1 minute' else d.next_attempt_at end
from audit.entity_changes a
join public.work_orders w on w.id::text = a.record_id::text
where a.id = d.audit_id;

create temporary table delivery_of on commit drop as
select d.status, d.id from int.plugin_deliveries d where d.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
grant select on delivery_of to anon, authenticated, service_role;

select is((select count(distinct status)::int from delivery_of), 5, 'the fixture has a delivery in each status');

-- A plain member of the tenant, an admin of another tenant and anon are refused.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000002", "role": "authenticated"}', true);
select throws_ok(
  format('select public.rpc_redeliver_plugin_delivery(%L)', (select id from delivery_of where status = 'dead')),
  '42501', null, 'a tenant member who is not an admin cannot redeliver'
);
select set_config('request.jwt.claims', '{"sub": "bbbbbbbb-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select throws_ok(
  format('select public.rpc_redeliver_plugin_delivery(%L)', (select id from delivery_of where status = 'dead')),
  '42501', null, 'an admin of another tenant cannot redeliver'
);
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok(
  format('select public.rpc_redeliver_plugin_delivery(%L)', (select id from delivery_of where status = 'dead')),
  '42501', null, 'anon cannot redeliver'
);

-- The tenant's admin.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);

select is(
  (select row(r.status, r.attempts, r.last_status_code, r.last_error, r.delivered_at, r.redelivered_by,
     r.redelivered_at, r.next_attempt_at)::text
   from public.rpc_redeliver_plugin_delivery((select id from delivery_of where status = 'dead')) as r),
  row('pending', 0, null::int, null::text, null::timestamptz, 'aaaaaaaa-0000-4000-8000-000000000001'::uuid,
    now(), now())::text,
  'a dead delivery goes back to pending, due now, with a fresh retry budget and who redelivered it'
);
select is(
  (select r.status from public.rpc_redeliver_plugin_delivery((select id from delivery_of where status = 'delivered')) as r),
  'pending',
  'a delivered delivery can be sent again'
);

select throws_ok(
  format('select public.rpc_redeliver_plugin_delivery(%L)', (select id from delivery_of where status = s.status)),
  'PT409',
  format('only a dead or delivered delivery can be redelivered; delivery %s is %s',
    (select id from delivery_of where status = s.status), s.status),
  format('a %s delivery cannot be redelivered', s.status)
)
from unnest(array['pending', 'failed', 'in_flight']) as s(status);

select throws_ok(
  'select public.rpc_redeliver_plugin_delivery(''00000000-0000-4000-8000-00000000dead'')',
  'PT404', 'delivery 00000000-0000-4000-8000-00000000dead does not exist',
  'an unknown delivery is reported as not found (PT404: HTTP 404 through the API)'
);
select throws_ok(
  'select public.rpc_redeliver_plugin_delivery(null)', '22023', 'p_delivery_id is required',
  'a null delivery id is refused'
);

reset role;
select set_config('request.jwt.claims', '', true);

select is(
  (select row(x.requested_by, x.previous_status, x.previous_attempts)::text from int.plugin_redeliveries x
   where x.delivery_id = (select id from delivery_of where status = 'dead')),
  row('aaaaaaaa-0000-4000-8000-000000000001'::uuid, 'dead', 8)::text,
  'the redelivery is logged with who asked and the state before'
);
select is(
  (select array_agg(d.status order by f.status collate "C") from int.plugin_deliveries d join delivery_of f using (id)),
  array['pending', 'pending', 'failed', 'in_flight', 'pending'],
  'only the dead and the delivered delivery changed'
);
select is(
  (select row(attempts, last_error, net_request_id)::text from int.plugin_deliveries
   where id = (select id from delivery_of where status = 'in_flight')),
  row(1, null::text, 42::bigint)::text,
  'a refused redelivery changes nothing'
);

-- The service role may redeliver too.
update int.plugin_deliveries set status = 'dead' where id = (select id from delivery_of where status = 'delivered');
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(
  (select row(r.status, r.redelivered_by)::text
   from public.rpc_redeliver_plugin_delivery((select id from delivery_of where status = 'delivered')) as r),
  row('pending', null::uuid)::text,
  'the service role can redeliver'
);
reset role;
select set_config('request.jwt.claims', '', true);

-- The processor picks redelivered deliveries up like new ones.
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '3', 'the redelivered and the pending deliveries are sent');
select is(
  (select attempts from int.plugin_deliveries where id = (select id from delivery_of where status = 'dead')),
  1,
  'a redelivered delivery starts again at attempt 1'
);

select * from finish();
rollback;
