-- An in-flight delivery whose lease expires without a response (pg_net's unlogged tables lost the
-- request or its response) counts as a failed attempt and is retried; one still waiting in pg_net's
-- queue only gets a longer lease.
begin;
select plan(17);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Lost');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the delivery is sent');

create temporary table first_request on commit drop as
select d.id, d.net_request_id from int.plugin_deliveries d where d.status = 'in_flight';

-- Still queued (the worker is behind): the lease is extended, no attempt is counted.
update int.plugin_deliveries set lease_expires_at = now() - interval '1 second' where status = 'in_flight';
select is(
  public.rpc_process_plugin_deliveries(100) - 'not_sent',
  '{"reconciled": 0, "delivered": 0, "retried": 0, "dead": 0, "expired_leases": 0, "extended_leases": 1, "queued": 0, "sent": 0}'::jsonb,
  'an expired lease of a request still in pg_net''s queue is extended'
);
select is(
  (select row(d.status, d.attempts, d.lease_expires_at, d.net_request_id)::text from int.plugin_deliveries d
   join first_request f using (id)),
  (select row('in_flight', 1, now() + interval '32 seconds', f.net_request_id)::text from first_request f),
  'the delivery stays in flight on the same request with a new lease'
);

-- Sent, but the response is gone (pg_net's ttl, a crash): the lease expiry is a failed attempt.
delete from net.http_request_queue;
update int.plugin_deliveries set lease_expires_at = now() - interval '1 second' where status = 'in_flight';
select is(
  public.rpc_process_plugin_deliveries(100) - 'not_sent',
  '{"reconciled": 0, "delivered": 0, "retried": 1, "dead": 0, "expired_leases": 1, "extended_leases": 0, "queued": 0, "sent": 0}'::jsonb,
  'an expired lease with no response and no queued request is a failed attempt'
);
select is(
  (select row(status, attempts, last_error, net_request_id, lease_expires_at)::text from int.plugin_deliveries),
  row('failed', 1, 'lease expired without a response', null::bigint, null::timestamptz)::text,
  'the delivery fails with "lease expired without a response"'
);
select ok(
  (select next_attempt_at between now() + interval '8 seconds' and now() + interval '12 seconds'
   from int.plugin_deliveries),
  'and is retried after the backoff'
);
select is(
  (select row(attempt, status_code, error, timed_out)::text from int.plugin_delivery_attempts),
  row(1, null::int, 'lease expired without a response', false)::text,
  'the lost attempt is logged'
);

-- The retry is a new request; a late response to the lost one changes nothing.
select pg_temp.make_due();
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the delivery is sent again');
insert into net._http_response (id, status_code, content)
select net_request_id, 500, 'late' from first_request;
select is(public.rpc_process_plugin_deliveries(100) ->> 'reconciled', '0',
  'a late response to the lost request is ignored');
select is(pg_temp.answer_in_flight(200), 1, 'the retry is answered');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '1', 'the retry is delivered');
select is((select attempts from int.plugin_deliveries where id = (select id from first_request)), 2,
  'on the second attempt');

-- At the last attempt a lost response makes the delivery dead.
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Last try');
update int.plugin_installations set max_attempts = 1 where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the last attempt is sent');
delete from net.http_request_queue;
update int.plugin_deliveries set lease_expires_at = now() - interval '1 second' where status = 'in_flight';
select is(public.rpc_process_plugin_deliveries(100) ->> 'dead', '1',
  'a lease that expires on the last attempt makes the delivery dead');

-- pg_net's worker was down for a month: the request waited in its queue all along (every run extended
-- the lease) and is answered when the worker is back. The wait is longer than an int of milliseconds
-- holds; the run must still settle it (and every other delivery) rather than fail on the attempt's
-- duration.
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Long wait');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the delivery is sent');
update int.plugin_deliveries set updated_at = now() - interval '30 days' where status = 'in_flight';
select pg_temp.answer_in_flight(200);
select is(
  public.rpc_process_plugin_deliveries(100) ->> 'delivered', '1',
  'a delivery answered after a month in pg_net''s queue is delivered'
);
select is(
  (select a.duration_ms from int.plugin_delivery_attempts a
   join int.plugin_deliveries d on d.id = a.delivery_id
   join audit.entity_changes c on c.id = d.audit_id
   join public.work_orders w on w.id::text = c.record_id::text
   where w.title = 'Long wait'),
  2147483647,
  'its attempt records the longest duration an int holds'
);

select * from finish();
rollback;
