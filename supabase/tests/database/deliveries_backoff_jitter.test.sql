-- The processor's retry schedule: the delay doubles with each failed attempt (10 s, 20 s, 40 s, each
-- ±20%), and deliveries that failed together get different delays (jitter), so a receiver that was
-- down is not hit by all of them in the same second when it comes back.
begin;
select plan(6);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Order ' || n from generate_series(1, 20) as n;

-- One failed round: send every due delivery, the receiver answers 503, reconcile.
create function pg_temp.fail_round()
returns void
language plpgsql
as $$
begin
  perform pg_temp.make_due();
  perform public.rpc_process_plugin_deliveries(100);
  perform pg_temp.answer_in_flight(503);
  perform public.rpc_process_plugin_deliveries(100);
end
$$;

-- The delay each failed delivery waits (now() is fixed inside this transaction).
create function pg_temp.delays()
returns table (attempts int, seconds double precision)
language sql
as $$
  select d.attempts, extract(epoch from d.next_attempt_at - now())::double precision
  from int.plugin_deliveries d
  where d.status = 'failed'
$$;

select pg_temp.fail_round();
select is(
  (select row(count(*), min(attempts), max(attempts))::text from pg_temp.delays()), row(20, 1, 1)::text,
  'twenty deliveries failed their first attempt'
);
select ok(
  (select bool_and(seconds between 8 and 12) from pg_temp.delays()),
  'after the first failure each waits 10 seconds ±20%'
);
select cmp_ok(
  (select count(distinct seconds)::int from pg_temp.delays()), '>', 1,
  'deliveries that failed together are spread out by jitter, not all due at the same moment'
);

select pg_temp.fail_round();
select ok(
  (select bool_and(attempts = 2 and seconds between 16 and 24) from pg_temp.delays()),
  'after the second failure each waits 20 seconds ±20%'
);

select pg_temp.fail_round();
select ok(
  (select bool_and(attempts = 3 and seconds between 32 and 48) from pg_temp.delays()),
  'after the third failure each waits 40 seconds ±20%'
);
select cmp_ok(
  (select count(distinct seconds)::int from pg_temp.delays()), '>', 1,
  'the later retries are jittered too'
);

select * from finish();
rollback;
