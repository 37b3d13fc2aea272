-- public.rpc_plugin_ingest_webhook: the database end of inbound partner webhooks.
--
-- Why: a partner's signed request must be verified with the installation's Vault secret, and only the
-- database may read that secret, so the `ingest-webhook` function hands the raw body and the headers'
-- values to this RPC (service role only) and never sees the key. In order, the RPC:
--   1. finds the installation (unknown ids: unknown_installation, not logged: there is no tenant);
--   2. checks the delivery id and body size;
--   3. verifies the signature with the Vault secret named by the installation's secret_ref. The signed
--      content is Standard Webhooks': "<delivery id>.<timestamp>.<body>", keyed by the secret's UTF-8
--      bytes. The signature may be `v1,<base64>` (several, space-separated, as in `webhook-signature`)
--      or 64 hex digits (as in `X-Plugin-Signature`); both encode the same HMAC-SHA256. Comparison is
--      blinded (both sides HMAC-ed again with a random key) so its timing reveals nothing;
--   4. refuses a timestamp more than 5 minutes from now (stale_timestamp): with the id and timestamp
--      signed, a captured request cannot be replayed later;
--   5. requires an active installation of an active plugin;
--   6. records the delivery id once per installation: a duplicate returns the first result with
--      "duplicate": true and changes nothing (concurrent duplicates wait for the first to commit);
--   7. applies the allowlisted action inside the installation's tenant (private.inbound_apply).
-- Every request of a known installation leaves one row in int.inbound_webhook_log, whatever the
-- outcome. Refusals are returned, not raised, so that row survives; `ok` and `code` say what
-- happened: applied, invalid_delivery_id, payload_too_large, secret_unavailable, invalid_signature,
-- stale_timestamp, installation_inactive, plugin_inactive, invalid_json, invalid_payload,
-- unknown_action, invalid_args, work_order_not_found, action_failed. Only missing arguments and callers
-- other than the service role raise (22023, 42501).

create function private.inbound_signature_valid(p_key bytea, p_message bytea, p_signatures text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_blind bytea := extensions.gen_random_bytes(32);
  v_expected bytea := extensions.hmac(extensions.hmac(p_message, p_key, 'sha256'), v_blind, 'sha256');
  v_entries text[] := pg_catalog.regexp_split_to_array(pg_catalog.btrim(coalesce(p_signatures, '')), '\s+');
  v_entry text;
  v_given bytea;
  v_matched boolean := false;
begin
  if pg_catalog.cardinality(v_entries) > 10 then
    return false;
  end if;
  foreach v_entry in array v_entries loop
    v_given := null;
    if v_entry ~ '^v1,[A-Za-z0-9+/]{43}=$' then
      v_given := pg_catalog.decode(pg_catalog.substr(v_entry, 4), 'base64');
    elsif v_entry ~ '^(sha256=)?[0-9A-Fa-f]{64}$' then
      v_given := pg_catalog.decode(pg_catalog.right(v_entry, 64), 'hex');
    end if;
    -- Every entry is compared, and only blinded values are, so timing says nothing about the key.
    if v_given is not null and extensions.hmac(v_given, v_blind, 'sha256') = v_expected then
      v_matched := true;
    end if;
  end loop;
  return v_matched;
end
$$;

comment on function private.inbound_signature_valid(bytea, bytea, text) is
  'Whether one of the signatures (v1,<base64> entries or 64 hex digits) is the HMAC-SHA256 of p_message under p_key; blinded comparison.';

revoke all on function private.inbound_signature_valid(bytea, bytea, text) from public, anon, authenticated;

create function private.inbound_log(
  p_installation_id uuid,
  p_tenant_id uuid,
  p_delivery_id text,
  p_outcome jsonb,
  p_log_outcome text,
  p_body_bytes int,
  p_body_sha256 bytea
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
begin
  insert into int.inbound_webhook_log (
    installation_id, tenant_id, delivery_id, outcome, code, message, action, body_bytes, body_sha256
  )
  values (
    p_installation_id, p_tenant_id,
    case when pg_catalog.length(p_delivery_id) <= 200 then p_delivery_id end,
    p_log_outcome, p_outcome ->> 'code', pg_catalog.left(p_outcome ->> 'message', 500),
    pg_catalog.left(p_outcome ->> 'action', 100), p_body_bytes, p_body_sha256
  );
  return p_outcome;
end
$$;

comment on function private.inbound_log(uuid, uuid, text, jsonb, text, int, bytea) is
  'Writes one int.inbound_webhook_log row for an inbound request and returns the outcome unchanged.';

revoke all on function private.inbound_log(uuid, uuid, text, jsonb, text, int, bytea)
  from public, anon, authenticated;

create function public.rpc_plugin_ingest_webhook(
  p_installation_id uuid,
  p_delivery_id text,
  p_timestamp bigint,
  p_signature text,
  p_body text
)
returns jsonb
language plpgsql
volatile
-- definer: reads the installation's Vault secret (vault.decrypted_secrets is readable by postgres
-- only) and writes int tables and the tenant's work orders, none of which the API roles can reach.
-- Execute is granted to service_role only and the body checks for it again.
security definer
set search_path = ''
as $$
declare
  v_max_body_bytes constant int := 262144;
  v_window_seconds constant int := 300;
  v_ids jsonb := pg_catalog.jsonb_build_object('installation_id', p_installation_id, 'delivery_id', p_delivery_id);
  v_tenant_id uuid;
  v_secret_ref text;
  v_installation_active boolean;
  v_plugin_active boolean;
  v_body_bytes int;
  v_body_sha256 bytea;
  v_key bytea;
  v_age numeric;
  v_inserted int;
  v_outcome jsonb;
  v_state text;
begin
  if not private.is_trusted_caller() then
    raise exception using
      errcode = '42501', message = 'permission denied: only the service role can ingest plugin webhooks';
  end if;
  if p_installation_id is null or p_delivery_id is null or p_timestamp is null or p_signature is null
    or p_body is null
  then
    raise exception using
      errcode = '22023',
      message = 'p_installation_id, p_delivery_id, p_timestamp, p_signature and p_body are all required';
  end if;

  select i.tenant_id, i.secret_ref, i.is_active, p.is_active
  into v_tenant_id, v_secret_ref, v_installation_active, v_plugin_active
  from int.plugin_installations i
  join int.plugins p on p.key = i.plugin_key
  where i.id = p_installation_id;
  if not found then
    return private.inbound_outcome('unknown_installation',
      pg_catalog.format('No plugin installation has the id %s', p_installation_id), v_ids);
  end if;

  v_body_bytes := pg_catalog.octet_length(p_body);
  v_body_sha256 := extensions.digest(p_body, 'sha256');

  if pg_catalog.length(p_delivery_id) not between 1 and 200 or p_delivery_id ~ '[[:space:][:cntrl:]]' then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('invalid_delivery_id',
        'The delivery id must be 1 to 200 characters without spaces or control characters', v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;
  if v_body_bytes > v_max_body_bytes then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('payload_too_large',
        pg_catalog.format('The body must be at most %s bytes', v_max_body_bytes), v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;

  select pg_catalog.convert_to(s.decrypted_secret, 'UTF8') into v_key
  from vault.decrypted_secrets s
  where s.name = v_secret_ref;
  if v_key is null or pg_catalog.length(v_key) = 0 then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('secret_unavailable',
        'The installation''s Vault secret (secret_ref) is missing or empty, so no signature can be verified', v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;
  if not private.inbound_signature_valid(
    v_key,
    pg_catalog.convert_to(p_delivery_id || '.' || p_timestamp::text || '.' || p_body, 'UTF8'),
    p_signature)
  then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('invalid_signature',
        'No signature matches: sign "<delivery id>.<timestamp>.<raw body>" with HMAC-SHA256 and the installation''s secret',
        v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;
  v_age := extract(epoch from pg_catalog.now()) - p_timestamp;
  if pg_catalog.abs(v_age) > v_window_seconds then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('stale_timestamp',
        pg_catalog.format('The timestamp is %s s %s: it must be within %s s of the database''s clock',
          pg_catalog.round(pg_catalog.abs(v_age)), case when v_age > 0 then 'old' else 'in the future' end,
          v_window_seconds),
        v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;
  if not v_installation_active then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('installation_inactive', 'The plugin installation is not active', v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;
  if not v_plugin_active then
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('plugin_inactive', 'The plugin is not active in the catalog', v_ids),
      'rejected', v_body_bytes, v_body_sha256);
  end if;

  begin
    -- A concurrent request with the same id waits here until the first one commits, then conflicts.
    insert into int.inbound_webhook_receipts (installation_id, delivery_id, tenant_id, body_sha256, result)
    values (p_installation_id, p_delivery_id, v_tenant_id, v_body_sha256, '{}')
    on conflict (installation_id, delivery_id) do nothing;
    get diagnostics v_inserted = row_count;
    if v_inserted = 1 then
      v_outcome := private.inbound_apply(v_tenant_id, p_installation_id, p_body) || v_ids;
      update int.inbound_webhook_receipts r
      set result = v_outcome, action = pg_catalog.left(v_outcome ->> 'action', 100)
      where r.installation_id = p_installation_id and r.delivery_id = p_delivery_id;
    end if;
  exception when others then
    -- Unexpected: the receipt and any partial change roll back with this block, so a retry can apply it.
    get stacked diagnostics v_state = returned_sqlstate;
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      private.inbound_outcome('action_failed',
        pg_catalog.format('The action failed (SQLSTATE %s) and nothing was applied; retrying may work', v_state),
        v_ids),
      'failed', v_body_bytes, v_body_sha256);
  end;

  if v_inserted = 0 then
    select r.result into v_outcome
    from int.inbound_webhook_receipts r
    where r.installation_id = p_installation_id and r.delivery_id = p_delivery_id;
    return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
      v_outcome || '{"duplicate": true}'::jsonb, 'duplicate', v_body_bytes, v_body_sha256);
  end if;
  return private.inbound_log(p_installation_id, v_tenant_id, p_delivery_id,
    v_outcome || '{"duplicate": false}'::jsonb,
    case when (v_outcome ->> 'ok')::boolean then 'applied' else 'rejected' end,
    v_body_bytes, v_body_sha256);
end
$$;

comment on function public.rpc_plugin_ingest_webhook(uuid, text, bigint, text, text) is
  'Service role only: verifies an inbound partner webhook (HMAC-SHA256 of "id.timestamp.body" with the installation''s '
  'Vault secret, 5-minute window), deduplicates it by delivery id and applies its allowlisted action in the '
  'installation''s tenant. Returns {ok, code, message, duplicate, action, result}; every request is logged.';

revoke all on function public.rpc_plugin_ingest_webhook(uuid, text, bigint, text, text)
  from public, anon, authenticated;
grant execute on function public.rpc_plugin_ingest_webhook(uuid, text, bigint, text, text) to service_role;
