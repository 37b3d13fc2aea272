-- rpc_process_plugin_deliveries reconciles in-flight deliveries with pg_net's responses: 2xx is
-- delivered, anything else is a failed attempt retried with backoff; every try is logged.
begin;
select plan(21);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Order ' || n from generate_series(1, 4) as n;
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '4', 'four deliveries are sent');

-- Give each in-flight delivery a different outcome.
create temporary table outcome on commit drop as
select d.id, d.net_request_id, row_number() over (order by d.id) as n
from int.plugin_deliveries d where d.status = 'in_flight';

insert into net._http_response (id, status_code, content, timed_out, error_msg)
select o.net_request_id,
  case o.n when 1 then 204 when 2 then 503 end,
  case o.n when 1 then repeat('x', 1000) when 2 then 'try later' end,
  o.n = 3,
  case o.n
    when 3 then 'Timeout of 2000 ms reached. Total time: 2000.1 ms (DNS time: 0 ms, TCP/SSL handshake time: 0 ms, HTTP Request/Response time: 2000.1 ms)'
    when 4 then 'Couldn''t connect to server'
  end
from outcome o;

select is(
  public.rpc_process_plugin_deliveries(100) - 'extended_leases' - 'not_sent',
  '{"reconciled": 4, "delivered": 1, "retried": 3, "dead": 0, "expired_leases": 0, "queued": 0, "sent": 0}'::jsonb,
  'the processor reconciles four responses: one delivered, three to retry'
);

-- 2xx
select is((select d.status from int.plugin_deliveries d join outcome o using (id) where o.n = 1), 'delivered',
  'a 2xx response marks the delivery delivered');
select is((select d.delivered_at from int.plugin_deliveries d join outcome o using (id) where o.n = 1), now(),
  'delivered_at is pg_net''s time for the response: when its worker took the request');
select is(
  (select row(a.attempt, a.status_code, a.error, a.timed_out, length(a.response_excerpt))::text
   from int.plugin_delivery_attempts a join outcome o on o.id = a.delivery_id where o.n = 1),
  row(1, 204, null::text, false, 500)::text,
  'the successful attempt is logged with its status and a response excerpt cut to 500 characters'
);
select is(
  (select row(d.net_request_id, d.lease_expires_at)::text from int.plugin_deliveries d join outcome o using (id)
   where o.n = 1),
  row(null::bigint, null::timestamptz)::text,
  'a reconciled delivery lets go of its request and lease'
);

-- 503
select is(
  (select row(d.status, d.last_status_code, d.last_error)::text from int.plugin_deliveries d join outcome o using (id)
   where o.n = 2),
  row('failed', 503, 'HTTP 503')::text,
  'a non-2xx response fails the attempt with the status code'
);
select ok(
  (select d.next_attempt_at between now() + interval '8 seconds' and now() + interval '12 seconds'
   from int.plugin_deliveries d join outcome o using (id) where o.n = 2),
  'the first retry is due 10 seconds ±20% later'
);
select is(
  (select row(a.status_code, a.error, a.response_excerpt)::text
   from int.plugin_delivery_attempts a join outcome o on o.id = a.delivery_id where o.n = 2),
  row(503, 'HTTP 503', 'try later')::text,
  'the failed attempt is logged with status, error and response excerpt'
);

-- timeout
select is(
  (select row(d.status, d.last_status_code)::text from int.plugin_deliveries d join outcome o using (id) where o.n = 3),
  row('failed', null::int)::text,
  'a timeout fails the attempt'
);
select ok(
  (select a.timed_out and a.error like 'Timeout of 2000 ms reached%'
   from int.plugin_delivery_attempts a join outcome o on o.id = a.delivery_id where o.n = 3),
  'the timed-out attempt is logged as timed out with pg_net''s message'
);

-- transport error
select is(
  (select row(d.status, d.last_error)::text from int.plugin_deliveries d join outcome o using (id) where o.n = 4),
  row('failed', 'Couldn''t connect to server')::text,
  'a transport error fails the attempt with pg_net''s error text'
);
select is(
  (select count(*)::int from int.plugin_delivery_attempts a join outcome o on o.id = a.delivery_id),
  4,
  'one attempt row per try'
);
select ok(
  (select bool_and(a.duration_ms >= 0) from int.plugin_delivery_attempts a join outcome o on o.id = a.delivery_id),
  'every attempt records a duration'
);

-- Nothing is resent before its backoff has passed; once due, the failed ones go out again.
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '0', 'failed deliveries wait for their backoff');
select pg_temp.make_due();
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '3', 'due failed deliveries are sent again');
select is(
  (select array_agg(d.attempts order by o.n) from int.plugin_deliveries d join outcome o using (id) where o.n > 1),
  array[2, 2, 2],
  'the retry is their second attempt'
);
select is(
  (select count(*)::int from net.http_request_queue), 7,
  'a retry is a new pg_net request'
);

select is(pg_temp.answer_in_flight(200), 3, 'the receiver accepts the retries');
select is(public.rpc_process_plugin_deliveries(100) ->> 'delivered', '3', 'the retries are delivered');
select is(
  (select count(*)::int from int.plugin_deliveries where status = 'delivered'), 4,
  'every delivery ends delivered'
);

select * from finish();
rollback;
