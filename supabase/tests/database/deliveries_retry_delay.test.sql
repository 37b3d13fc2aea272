-- private.plugin_retry_delay: exponential backoff (10 s doubling, capped at 1 hour) with ±20% jitter.
begin;
select plan(14);

select is(private.plugin_retry_delay(1, 0.5), interval '10 seconds',
  'the first retry waits 10 seconds without jitter');
select is(private.plugin_retry_delay(2, 0.5), interval '20 seconds', 'the second retry waits 20 seconds');
select is(private.plugin_retry_delay(3, 0.5), interval '40 seconds', 'the third retry waits 40 seconds');

select is(
  (select count(*)::int from generate_series(1, 8) as n
   where private.plugin_retry_delay(n + 1, 0.5) = 2 * private.plugin_retry_delay(n, 0.5)),
  8,
  'each attempt doubles the delay until the cap'
);

select is(private.plugin_retry_delay(9, 0.5), interval '2560 seconds', 'attempt 9 waits 2560 seconds');
select is(private.plugin_retry_delay(10, 0.5), interval '1 hour', 'attempt 10 reaches the one hour cap');
select is(private.plugin_retry_delay(1000000, 0.5), interval '1 hour',
  'a huge attempt number stays at the cap without overflowing');

select is(private.plugin_retry_delay(1, 0), interval '8 seconds', 'jitter 0 shortens the delay by 20%');
select is(private.plugin_retry_delay(10, 1), interval '72 minutes', 'jitter 1 lengthens the delay by 20%');

select ok(
  (select bool_and(
     private.plugin_retry_delay(n, random())
       between 0.8 * private.plugin_retry_delay(n, 0.5) and 1.2 * private.plugin_retry_delay(n, 0.5))
   from generate_series(1, 20) as n, generate_series(1, 50) as sample),
  'random jitter always stays within ±20% of the un-jittered delay'
);

select ok(
  (select count(distinct private.plugin_retry_delay(5, random())) > 1 from generate_series(1, 20)),
  'random jitter spreads retries of the same attempt'
);

select throws_ok('select private.plugin_retry_delay(0, 0.5)', '22023',
  'p_attempt must be 1 or more (the number of the attempt that failed), got 0',
  'attempt 0 is refused with a clear error');
select throws_ok('select private.plugin_retry_delay(1, 1.5)', '22023',
  'p_jitter must be between 0 and 1 (for example random()), got 1.5',
  'jitter outside [0, 1] is refused with a clear error');

select is(
  (select provolatile from pg_proc where oid = 'private.plugin_retry_delay(int, double precision)'::regprocedure),
  'i',
  'the delay function is immutable'
);

select * from finish();
rollback;
