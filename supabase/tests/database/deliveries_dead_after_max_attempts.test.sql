-- A delivery that keeps failing ends in `dead` after the installation's max_attempts (default 8) and
-- is never sent again by the processor.
begin;
select plan(9);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Doomed');

select is(
  (select max_attempts from int.plugin_installations where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  8,
  'installations allow 8 attempts by default'
);

create temporary table run on commit drop as
select attempt, null::jsonb as sent, null::jsonb as reconciled from generate_series(1, 8) as attempt;

do $$
declare
  v_attempt int;
begin
  for v_attempt in 1..8 loop
    perform pg_temp.make_due();
    update pg_temp.run set sent = public.rpc_process_plugin_deliveries(100) where attempt = v_attempt;
    perform pg_temp.answer_in_flight(500, null, false, 'boom');
    update pg_temp.run set reconciled = public.rpc_process_plugin_deliveries(100) where attempt = v_attempt;
  end loop;
end
$$;

select is(
  (select array_agg((sent ->> 'sent')::int order by attempt) from run),
  array[1, 1, 1, 1, 1, 1, 1, 1],
  'the delivery is sent eight times'
);
select is(
  (select array_agg((reconciled ->> 'retried')::int order by attempt) from run),
  array[1, 1, 1, 1, 1, 1, 1, 0],
  'the first seven failures are retried'
);
select is((select reconciled ->> 'dead' from run where attempt = 8), '1', 'the eighth failure is dead');

select is(
  (select row(status, attempts, last_status_code, last_error)::text from int.plugin_deliveries
   where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  row('dead', 8, 500, 'HTTP 500')::text,
  'the delivery is dead after 8 attempts, with the last status and error'
);
select is(
  (select array_agg(a.attempt order by a.id) from int.plugin_delivery_attempts a
   join int.plugin_deliveries d on d.id = a.delivery_id where d.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  array[1, 2, 3, 4, 5, 6, 7, 8],
  'each of the eight attempts is logged'
);

select pg_temp.make_due();
update int.plugin_deliveries set next_attempt_at = now() - interval '1 day' where status = 'dead';
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '0', 'a dead delivery is never sent again');

-- A smaller max_attempts is honoured.
update int.plugin_installations set max_attempts = 2 where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Short');
do $$
begin
  for i in 1..2 loop
    perform pg_temp.make_due();
    perform public.rpc_process_plugin_deliveries(100);
    perform pg_temp.answer_in_flight(404);
    perform public.rpc_process_plugin_deliveries(100);
  end loop;
end
$$;
select is(
  (select row(status, attempts)::text from int.plugin_deliveries
   where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  row('dead', 2)::text,
  'an installation with max_attempts 2 goes dead after two failures'
);
select is(
  (select count(*)::int from net.http_request_queue q
   join int.plugin_deliveries d on d.tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'
   where q.url = 'https://hooks.example.com/b'),
  2,
  'and was sent exactly twice'
);

select * from finish();
rollback;
