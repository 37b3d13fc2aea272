-- Retry delay of outbound plugin deliveries: exponential backoff with jitter.
--
-- The arithmetic lives in one immutable function so that pgTAP can check its bounds without
-- randomness: the processor passes random() as p_jitter. After failed attempt n the un-jittered
-- delay is 10 s * 2^(n - 1), capped at one hour (10 s, 20 s, 40 s, ... 2560 s, then 3600 s); the
-- jitter scales it by a factor between 0.8 and 1.2 so that deliveries that failed together (a
-- receiver outage) do not all come back in the same second.

create function private.plugin_retry_delay(p_attempt int, p_jitter double precision)
returns interval
language plpgsql
immutable
strict
set search_path = ''
as $$
declare
  v_base_seconds constant double precision := 10;
  v_cap_seconds constant double precision := 3600;
  v_seconds double precision;
begin
  if p_attempt < 1 then
    raise exception using
      errcode = '22023',
      message = format('p_attempt must be 1 or more (the number of the attempt that failed), got %s', p_attempt);
  end if;
  if p_jitter < 0 or p_jitter > 1 or p_jitter = 'NaN'::double precision then
    raise exception using
      errcode = '22023',
      message = format('p_jitter must be between 0 and 1 (for example random()), got %s', p_jitter);
  end if;
  -- 2^(n - 1) passes the cap by attempt 10; clamping the exponent keeps power() from overflowing
  v_seconds := least(v_base_seconds * power(2::double precision, least(p_attempt, 32) - 1), v_cap_seconds);
  return pg_catalog.make_interval(secs => v_seconds * (0.8 + 0.4 * p_jitter));
end
$$;

comment on function private.plugin_retry_delay(int, double precision) is
  'Delay before retrying a plugin delivery after failed attempt p_attempt: 10 s doubling per attempt, capped at 1 hour, times 0.8 + 0.4 * p_jitter (p_jitter in [0, 1], e.g. random()), so within ±20%.';

revoke all on function private.plugin_retry_delay(int, double precision) from public, anon, authenticated;
