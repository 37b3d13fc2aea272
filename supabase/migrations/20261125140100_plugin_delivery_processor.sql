-- The outbound plugin delivery processor: public.rpc_process_plugin_deliveries(p_limit).
--
-- pg_cron runs it (see the cron migration) and the service role may run it on demand. One call:
--   1. writes up to p_limit deliveries queued by new changes (int.plugin_delivery_batches) as pending
--      rows (private.expand_plugin_delivery_batches). First, because it is the only step that locks
--      installations and subscriptions (for key share): an uninstall or a subscription delete locks
--      those rows, then their deliveries, so a run must not hold any delivery row while it waits for
--      them, or the two deadlock;
--   2. reconciles in_flight deliveries with the responses pg_net recorded in net._http_response:
--      2xx -> delivered; any other status, a timeout or a transport error -> failed with a backoff
--      (private.plugin_retry_delay), or dead once the installation's max_attempts are used up;
--   3. treats an in_flight delivery whose lease expired with no response as a failed attempt: pg_net's
--      tables are unlogged and its responses expire, so the queue must never wait on them forever. A
--      request that pg_net has not even taken from its queue yet (a backlog) only gets a longer lease;
--   4. claims due deliveries with `for update skip locked`, so concurrent runs never send one delivery
--      twice at once, and
--   5. signs each body and hands it to net.http_post, which sends it after this transaction commits.
-- Every try leaves one row in int.plugin_delivery_attempts.
--
-- Signing. The body pg_net sends is convert_to(body::text, 'UTF8') of the jsonb it is given, so the
-- processor passes the stored payload as that jsonb and signs payload::text: the signed bytes are the
-- sent bytes. The key is the UTF-8 bytes of the Vault secret named by the installation's secret_ref,
-- read once per installation per run. Headers:
--   X-Plugin-Signature  lowercase hex HMAC-SHA256(key, body)
--   webhook-id          the delivery id (stable across retries, for deduplication)
--   webhook-timestamp   unix seconds when signed
--   webhook-signature   v1,<base64 HMAC-SHA256(key, id.timestamp.body)> (Standard Webhooks; receivers
--                       verify with `new Webhook(secret, { format: "raw" })` of the standardwebhooks
--                       package, which takes a string secret's char codes as the key bytes: the same
--                       bytes for an ASCII secret; pass the UTF-8 bytes as a Uint8Array otherwise)
--   X-Plugin-Delivery-Id, X-Plugin-Event-Type, Content-Type: application/json, and the installation's
--   non-secret config.headers (which cannot override any of the above).
-- Neither the secret nor a signature is stored or logged anywhere but in the outgoing request
-- (pg_net keeps a request's headers in its queue until it is sent; that is inherent to pg_net).
--
-- Request ids restart when pg_net is created again or its unlogged tables are reset (a crash): a
-- delivery records the generation of ids it was sent in (private.pg_net_generation), and only that
-- generation's queue and responses are matched to it. A delivery sent in an earlier one gets no
-- response; its lease expiry retries it.

-- The installation's own headers, minus anything that would clash with the headers the processor sets
-- (or that curl computes itself): only string values of a JSON object are kept.
create function private.plugin_delivery_custom_headers(p_headers jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_object_agg(h.key, h.value), '{}'::jsonb)
  from pg_catalog.jsonb_each(
    case when pg_catalog.jsonb_typeof(p_headers) = 'object' then p_headers else '{}'::jsonb end
  ) as h
  where pg_catalog.jsonb_typeof(h.value) = 'string'
    and pg_catalog.lower(h.key) not in ('content-type', 'content-length', 'host', 'user-agent',
      'transfer-encoding', 'connection')
    and pg_catalog.lower(h.key) not like 'x-plugin-%'
    and pg_catalog.lower(h.key) not like 'webhook-%'
$$;

comment on function private.plugin_delivery_custom_headers(jsonb) is
  'The string-valued headers of an installation''s config.headers that do not clash with the headers a delivery sets itself.';

revoke all on function private.plugin_delivery_custom_headers(jsonb) from public, anon, authenticated;

-- The complete header set of one delivery attempt, signatures included. Immutable and in SQL so that
-- it is inlined into the processor's set-based send; p_key is the HMAC key (the secret's UTF-8 bytes).
create function private.plugin_delivery_headers(
  p_delivery_id uuid,
  p_event_type text,
  p_body text,
  p_timestamp bigint,
  p_key bytea,
  p_custom_headers jsonb
)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select p_custom_headers || pg_catalog.jsonb_build_object(
    'Content-Type', 'application/json',
    'X-Plugin-Delivery-Id', p_delivery_id,
    'X-Plugin-Event-Type', p_event_type,
    'X-Plugin-Signature',
    pg_catalog.encode(extensions.hmac(pg_catalog.convert_to(p_body, 'UTF8'), p_key, 'sha256'), 'hex'),
    'webhook-id', p_delivery_id,
    'webhook-timestamp', p_timestamp::text,
    'webhook-signature', 'v1,' || pg_catalog.encode(
      extensions.hmac(
        pg_catalog.convert_to(p_delivery_id::text || '.' || p_timestamp::text || '.' || p_body, 'UTF8'),
        p_key,
        'sha256'
      ),
      'base64'
    )
  )
$$;

comment on function private.plugin_delivery_headers(uuid, text, text, bigint, bytea, jsonb) is
  'Headers of one outbound plugin delivery: custom headers, Content-Type, X-Plugin-* (hex HMAC-SHA256 of the body) and Standard Webhooks webhook-id/-timestamp/-signature.';

revoke all on function private.plugin_delivery_headers(uuid, text, text, bigint, bytea, jsonb)
  from public, anon, authenticated;

-- An installation's request timeout in milliseconds (pg_net's default when unset or not a number).
create function private.plugin_delivery_timeout_ms(p_config jsonb)
returns int
language sql
immutable
set search_path = ''
as $$
  select case
    when pg_catalog.jsonb_typeof(p_config -> 'timeout_ms') = 'number'
      and (p_config ->> 'timeout_ms')::numeric between 1 and 300000
      then (p_config ->> 'timeout_ms')::numeric::int
    else 5000
  end
$$;

comment on function private.plugin_delivery_timeout_ms(jsonb) is
  'The timeout_ms of an installation config for net.http_post, 5000 (pg_net''s default) when unset or invalid.';

revoke all on function private.plugin_delivery_timeout_ms(jsonb) from public, anon, authenticated;

create function public.rpc_process_plugin_deliveries(p_limit int default 500)
returns jsonb
language plpgsql
volatile
-- definer: the processor reads Vault secrets (vault.decrypted_secrets is readable by postgres only),
-- net._http_response and the int tables; it is granted to service_role only.
security definer
set search_path = ''
as $$
declare
  -- how long after its request's timeout a delivery may stay in_flight without a response
  v_lease_margin constant interval := interval '30 seconds';
  v_lease_expired_error constant text := 'lease expired without a response';
  v_reconciled int := 0;
  v_delivered int := 0;
  v_retried int := 0;
  v_dead int := 0;
  v_expired int := 0;
  v_extended int := 0;
  v_queued int;
  v_sent int := 0;
  v_not_sent int := 0;
  v_failed int;
  v_died int;
  v_claimed uuid[];
  v_timestamp bigint;
  v_request_id bigint;
  v_row record;
  -- the generation of pg_net request ids that this run's requests belong to
  v_net bigint := private.pg_net_generation();
begin
  if p_limit is null or p_limit < 1 or p_limit > 100000 then
    raise exception using
      errcode = '22023',
      message = format('p_limit must be between 1 and 100000, got %s', coalesce(p_limit::text, 'null'));
  end if;

  -- 1. Delivery rows for the changes queued since the last run (first: see above).
  v_queued := private.expand_plugin_delivery_batches(p_limit);

  -- 2. Reconcile in_flight deliveries that have a response.
  with answered as (
    select d.id, d.attempts, d.updated_at as sent_at, coalesce(i.max_attempts, 8) as max_attempts,
      r.status_code, coalesce(r.timed_out, false) as timed_out, r.error_msg, r.content, r.created
    from int.plugin_deliveries d
    join net._http_response r on r.id = d.net_request_id
    join int.plugin_installations i on i.id = d.installation_id
    where d.status = 'in_flight'
      and d.net_generation = v_net
    for update of d skip locked
  ),
  outcome as (
    select a.*,
      case
        when a.status_code between 200 and 299 then 'delivered'
        when a.attempts >= a.max_attempts then 'dead'
        else 'failed'
      end as new_status,
      case
        when a.status_code between 200 and 299 then null
        when a.error_msg is not null then a.error_msg
        when a.status_code is not null then format('HTTP %s', a.status_code)
        else 'no status code and no error in the response'
      end as error
    from answered a
  ),
  logged as (
    insert into int.plugin_delivery_attempts
      (delivery_id, attempt, status_code, error, timed_out, duration_ms, response_excerpt)
    -- pg_net records no reply time: `created` is the start of the worker round that took the request
    -- (it inserts a round's responses in that round's transaction). So duration_ms is how long the
    -- request waited for pg_net, and delivered_at is when pg_net took it. A wait longer than an int of
    -- milliseconds (24.8 days: pg_net's worker was down and the lease kept being extended) is recorded
    -- as that int's maximum: a failed cast here would stop every run until pg_net's ttl dropped the response.
    select o.id, o.attempts, o.status_code, o.error, o.timed_out,
      least(greatest(0, round(extract(epoch from o.created - o.sent_at) * 1000)), 2147483647)::int,
      left(o.content, 500)
    from outcome o
  ),
  updated as (
    update int.plugin_deliveries d
    set status = o.new_status,
      delivered_at = case when o.new_status = 'delivered' then o.created end,
      next_attempt_at = case
        when o.new_status = 'failed' then now() + private.plugin_retry_delay(o.attempts, random())
        else d.next_attempt_at
      end,
      last_status_code = o.status_code,
      last_error = o.error,
      net_request_id = null,
      net_generation = null,
      lease_expires_at = null,
      updated_at = now()
    from outcome o
    where d.id = o.id
    returning o.new_status
  )
  select count(*),
    count(*) filter (where new_status = 'delivered'),
    count(*) filter (where new_status = 'failed'),
    count(*) filter (where new_status = 'dead')
  into v_reconciled, v_delivered, v_retried, v_dead
  from updated;

  -- 3. In_flight deliveries whose lease expired without a response. A request still in pg_net's queue
  --    has not been sent yet (the worker is behind or down, and its queue survives that): extend the
  --    lease. Otherwise the request or its response is lost: count a failed attempt, so it is retried.
  with expired as (
    select d.id, d.attempts, coalesce(i.max_attempts, 8) as max_attempts,
      private.plugin_delivery_timeout_ms(i.config) as timeout_ms,
      d.net_generation is not distinct from v_net
        and exists (select 1 from net.http_request_queue q where q.id = d.net_request_id) as queued
    from int.plugin_deliveries d
    join int.plugin_installations i on i.id = d.installation_id
    where d.status = 'in_flight'
      and d.lease_expires_at < now()
      and not (
        d.net_generation is not distinct from v_net
        and exists (select 1 from net._http_response r where r.id = d.net_request_id)
      )
    for update of d skip locked
  ),
  logged as (
    insert into int.plugin_delivery_attempts (delivery_id, attempt, error, timed_out)
    select e.id, e.attempts, v_lease_expired_error, false
    from expired e
    where not e.queued
  ),
  updated as (
    update int.plugin_deliveries d
    set status = case
        when e.queued then 'in_flight'
        when e.attempts >= e.max_attempts then 'dead'
        else 'failed'
      end,
      lease_expires_at = case
        when e.queued then now() + pg_catalog.make_interval(secs => e.timeout_ms / 1000.0) + v_lease_margin
      end,
      net_request_id = case when e.queued then d.net_request_id end,
      net_generation = case when e.queued then d.net_generation end,
      next_attempt_at = case
        when not e.queued and e.attempts < e.max_attempts
          then now() + private.plugin_retry_delay(greatest(e.attempts, 1), random())
        else d.next_attempt_at
      end,
      last_status_code = case when e.queued then d.last_status_code end,
      last_error = case when e.queued then d.last_error else v_lease_expired_error end,
      updated_at = case when e.queued then d.updated_at else now() end
    from expired e
    where d.id = e.id
    returning d.status, e.queued
  )
  select count(*) filter (where not queued),
    count(*) filter (where queued),
    count(*) filter (where status = 'failed'),
    count(*) filter (where status = 'dead')
  into v_expired, v_extended, v_failed, v_died
  from updated;
  v_retried := v_retried + v_failed;
  v_dead := v_dead + v_died;

  -- 4. Claim due deliveries of active installations of active plugins. The row locks hold until this
  --    transaction ends, when the requests go out; a concurrent run skips these rows.
  select array_agg(c.id)
  into v_claimed
  from (
    select d.id
    from int.plugin_deliveries d
    where d.status in ('pending', 'failed')
      and d.next_attempt_at <= now()
      and exists (
        select 1
        from int.plugin_installations i
        join int.plugins p on p.key = i.plugin_key
        where i.id = d.installation_id and i.is_active and p.is_active
      )
    order by d.next_attempt_at
    limit p_limit
    for update of d skip locked
  ) as c;

  if v_claimed is not null then
    v_timestamp := floor(extract(epoch from clock_timestamp()))::bigint;

    -- 5. Sign and send, set-based: one Vault read per installation, one statement for all requests.
    begin
      with installation as materialized (
        select i.id, i.config ->> 'webhook_url' as url,
          private.plugin_delivery_timeout_ms(i.config) as timeout_ms,
          private.plugin_delivery_custom_headers(i.config -> 'headers') as custom_headers,
          (
            select pg_catalog.convert_to(s.decrypted_secret, 'UTF8')
            from vault.decrypted_secrets s
            where s.name = i.secret_ref
          ) as signing_key
        from int.plugin_installations i
        where i.id in (select d.installation_id from int.plugin_deliveries d where d.id = any (v_claimed))
      ),
      sent as materialized (
        select d.id, inst.timeout_ms,
          net.http_post(
            url := inst.url,
            body := d.payload,
            headers := private.plugin_delivery_headers(
              d.id, d.event_type, d.payload::text, v_timestamp, inst.signing_key, inst.custom_headers
            ),
            timeout_milliseconds := inst.timeout_ms
          ) as request_id
        from int.plugin_deliveries d
        join installation inst on inst.id = d.installation_id
        where d.id = any (v_claimed)
          and inst.signing_key is not null
          and inst.url is not null
      )
      update int.plugin_deliveries d
      set status = 'in_flight',
        attempts = d.attempts + 1,
        net_request_id = s.request_id,
        net_generation = v_net,
        lease_expires_at = now() + pg_catalog.make_interval(secs => s.timeout_ms / 1000.0) + v_lease_margin,
        updated_at = now()
      from sent s
      where d.id = s.id;
      get diagnostics v_sent = row_count;
    exception when others then
      -- One bad request (for example a URL pg_net refuses) must not hold up the others: send one by
      -- one, and fail only the deliveries whose request could not be queued.
      v_sent := 0;
      for v_row in
        select d.id, d.event_type, d.payload, i.config ->> 'webhook_url' as url,
          private.plugin_delivery_timeout_ms(i.config) as timeout_ms,
          private.plugin_delivery_custom_headers(i.config -> 'headers') as custom_headers,
          (
            select pg_catalog.convert_to(s.decrypted_secret, 'UTF8')
            from vault.decrypted_secrets s
            where s.name = i.secret_ref
          ) as signing_key
        from int.plugin_deliveries d
        join int.plugin_installations i on i.id = d.installation_id
        where d.id = any (v_claimed)
        order by d.next_attempt_at
      loop
        continue when v_row.signing_key is null or v_row.url is null;
        begin
          v_request_id := net.http_post(
            url := v_row.url,
            body := v_row.payload,
            headers := private.plugin_delivery_headers(
              v_row.id, v_row.event_type, v_row.payload::text, v_timestamp, v_row.signing_key,
              v_row.custom_headers
            ),
            timeout_milliseconds := v_row.timeout_ms
          );
          update int.plugin_deliveries
          set status = 'in_flight',
            attempts = attempts + 1,
            net_request_id = v_request_id,
            net_generation = v_net,
            lease_expires_at = now() + pg_catalog.make_interval(secs => v_row.timeout_ms / 1000.0)
              + v_lease_margin,
            updated_at = now()
          where id = v_row.id;
          v_sent := v_sent + 1;
        exception when others then
          -- the message of a refused URL quotes it; keep URLs (which may carry tokens) out of the table
          update int.plugin_deliveries
          set last_error = 'could not queue the request: '
            || regexp_replace(
              regexp_replace(sqlerrm, '"[^"]*://[^"]*"', '<url>', 'g'),
              '[a-zA-Z][a-zA-Z0-9+.-]*://[^[:space:]]*', '<url>', 'g')
          where id = v_row.id;
        end;
      end loop;
    end;

    -- Claimed deliveries that were not sent count as a failed attempt: no Vault secret under the
    -- installation's secret_ref (deliveries are only ever sent signed), no webhook_url, or a request
    -- pg_net refused. The error names the secret_ref, never a secret.
    with unsent as (
      select d.id, d.attempts + 1 as attempt, coalesce(i.max_attempts, 8) as max_attempts,
        case
          when i.secret_ref is null then 'the installation has no secret_ref: deliveries are only sent signed'
          when not exists (select 1 from vault.secrets s where s.name = i.secret_ref)
            then format('Vault secret %L (the installation''s secret_ref) was not found', i.secret_ref)
          when coalesce(i.config ->> 'webhook_url', '') = '' then 'the installation has no webhook_url'
          else coalesce(d.last_error, 'could not queue the request')
        end as error
      from int.plugin_deliveries d
      join int.plugin_installations i on i.id = d.installation_id
      where d.id = any (v_claimed) and d.status <> 'in_flight'
    ),
    logged as (
      insert into int.plugin_delivery_attempts (delivery_id, attempt, error, timed_out)
      select u.id, u.attempt, u.error, false
      from unsent u
    ),
    updated as (
      update int.plugin_deliveries d
      set status = case when u.attempt >= u.max_attempts then 'dead' else 'failed' end,
        attempts = u.attempt,
        next_attempt_at = case
          when u.attempt >= u.max_attempts then d.next_attempt_at
          else now() + private.plugin_retry_delay(u.attempt, random())
        end,
        last_status_code = null,
        last_error = u.error,
        net_request_id = null,
        net_generation = null,
        lease_expires_at = null,
        updated_at = now()
      from unsent u
      where d.id = u.id
      returning d.status
    )
    select count(*), count(*) filter (where status = 'failed'), count(*) filter (where status = 'dead')
    into v_not_sent, v_failed, v_died
    from updated;
    v_retried := v_retried + v_failed;
    v_dead := v_dead + v_died;
  end if;

  return jsonb_build_object(
    'reconciled', v_reconciled,
    'delivered', v_delivered,
    'retried', v_retried,
    'dead', v_dead,
    'expired_leases', v_expired,
    'extended_leases', v_extended,
    'queued', v_queued,
    'sent', v_sent,
    'not_sent', v_not_sent
  );
end
$$;

comment on function public.rpc_process_plugin_deliveries(int) is
  'Service role only (pg_cron runs it): writes up to p_limit newly queued deliveries, reconciles in-flight plugin deliveries with pg_net responses, fails expired leases, then claims up to p_limit due deliveries (for update skip locked), signs them and queues them with net.http_post. Returns counts: reconciled, delivered, retried, dead, expired_leases, extended_leases, queued, sent, not_sent.';

revoke all on function public.rpc_process_plugin_deliveries(int) from public, anon, authenticated;
grant execute on function public.rpc_process_plugin_deliveries(int) to service_role;
