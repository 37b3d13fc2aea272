-- Tenant admins' RPCs for outbound plugin deliveries:
--   rpc_list_recent_deliveries(p_tenant_id, p_installation_id, p_status, p_limit): newest first,
--     including deliveries still queued in batches (as pending), which v_plugin_deliveries shows only
--     once the processor has written them (within seconds, at its next run);
--   rpc_redeliver_plugin_delivery(p_delivery_id): a dead or delivered delivery back to pending.
-- Both require tenant.admin of the delivery's tenant (the service role passes) and reject bad input
-- with a clear error before writing anything.

create function public.rpc_list_recent_deliveries(
  p_tenant_id uuid,
  p_installation_id uuid default null,
  p_status text default null,
  p_limit int default 50
)
returns setof public.v_plugin_deliveries
language plpgsql
stable
-- definer: it checks that p_installation_id belongs to the tenant, in int.plugin_installations, which
-- clients cannot read; the rows themselves come from the tenant-filtered view.
security definer
set search_path = ''
as $$
declare
  v_batch record;
  v_batch_ids bigint[] := '{}';
  v_found int := 0;
  v_last_created_at timestamptz;
begin
  if p_tenant_id is null then
    raise exception using errcode = '22023', message = 'p_tenant_id is required';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 500 then
    raise exception using
      errcode = '22023',
      message = format('p_limit must be between 1 and 500, got %s', coalesce(p_limit::text, 'null'));
  end if;
  if p_status is not null and p_status not in ('pending', 'in_flight', 'delivered', 'failed', 'dead') then
    raise exception using
      errcode = '22023',
      message = format('p_status must be one of pending, in_flight, delivered, failed, dead; got %L', p_status);
  end if;
  perform private.require_tenant_role(p_tenant_id, 'tenant.admin');
  if p_installation_id is not null and not exists (
    select 1 from int.plugin_installations i where i.id = p_installation_id and i.tenant_id = p_tenant_id
  ) then
    raise exception using
      errcode = '22023',
      message = format('installation %s is not an installation of tenant %s', p_installation_id, p_tenant_id);
  end if;

  -- Only the newest batches can hold the newest p_limit queued deliveries: walk the tenant's batches
  -- from the newest until they hold p_limit (a batch's deliveries all have its created_at, so batches
  -- as new as the last one taken come along), instead of working out a whole backlog on every call.
  if p_status is null or p_status = 'pending' then
    for v_batch in
      select b.id, b.created_at
      from int.plugin_delivery_batches b
      where exists (
        select 1 from int.plugin_subscription_versions v
        where v.id = any (b.subscription_version_ids)
          and v.tenant_id = p_tenant_id
          and (p_installation_id is null or v.installation_id = p_installation_id)
      )
      order by b.created_at desc
    loop
      exit when v_found >= p_limit and v_batch.created_at < v_last_created_at;
      v_batch_ids := v_batch_ids || v_batch.id;
      v_last_created_at := v_batch.created_at;
      v_found := v_found + (
        select pg_catalog.count(*)::int
        from (
          select 1 from int.plugin_queued_deliveries q
          where q.batch_id = v_batch.id
            and q.tenant_id = p_tenant_id
            and (p_installation_id is null or q.installation_id = p_installation_id)
          limit p_limit
        ) as listed
      );
    end loop;
  end if;

  return query
  with queued as (
    -- Deliveries of committed changes that the processor has not written as rows yet (pending, due):
    -- the newest p_limit, chosen before any body is built.
    select q.id, q.tenant_id, q.installation_id, q.subscription_id, q.audit_id, q.event_type,
      q.include_payload, q.created_at
    from int.plugin_queued_deliveries q
    where q.batch_id = any (v_batch_ids)
      and q.tenant_id = p_tenant_id
      and (p_installation_id is null or q.installation_id = p_installation_id)
    order by q.created_at desc, q.id
    limit p_limit
  )
  select l.*
  from (
    select v.*
    from public.v_plugin_deliveries v
    where v.tenant_id = p_tenant_id
      and (p_installation_id is null or v.installation_id = p_installation_id)
      and (p_status is null or v.status = p_status)
    union all
    select k.id, k.tenant_id, k.installation_id, i.plugin_key, k.subscription_id, k.audit_id, k.event_type,
      'pending', 0, coalesce(i.max_attempts, 8), k.created_at, null, null, null, null, null, null,
      private.plugin_delivery_payload(k.id, k.tenant_id, k.installation_id, k.include_payload, c),
      k.created_at, k.created_at
    from queued k
    join audit.entity_changes c on c.id = k.audit_id
    join int.plugin_installations i on i.id = k.installation_id
  ) l
  order by l.created_at desc, l.id
  limit p_limit;
end
$$;

comment on function public.rpc_list_recent_deliveries(uuid, uuid, text, int) is
  'Tenant admins: the tenant''s most recent outbound plugin deliveries (including those still queued, as pending), newest first, optionally of one installation and/or in one status (pending, in_flight, delivered, failed, dead); p_limit 1..500.';

revoke all on function public.rpc_list_recent_deliveries(uuid, uuid, text, int) from public, anon, authenticated;
grant execute on function public.rpc_list_recent_deliveries(uuid, uuid, text, int) to authenticated, service_role;

create function public.rpc_redeliver_plugin_delivery(p_delivery_id uuid)
returns public.v_plugin_deliveries
language plpgsql
volatile
-- definer: it updates int.plugin_deliveries and logs to int.plugin_redeliveries, which clients cannot
-- write, after checking that the caller is an admin of the delivery's tenant.
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
  v_status text;
  v_attempts int;
  v_result public.v_plugin_deliveries;
begin
  if p_delivery_id is null then
    raise exception using errcode = '22023', message = 'p_delivery_id is required';
  end if;
  select d.tenant_id, d.status, d.attempts into v_tenant_id, v_status, v_attempts
  from int.plugin_deliveries d
  where d.id = p_delivery_id
  for update;
  if not found then
    -- Still queued (listed as pending, not written as a row yet)?
    select q.tenant_id into v_tenant_id from int.plugin_queued_deliveries q where q.id = p_delivery_id;
    if not found then
      raise exception using errcode = 'PT404', message = format('delivery %s does not exist', p_delivery_id);
    end if;
    v_status := 'pending';
  end if;
  perform private.require_tenant_role(v_tenant_id, 'tenant.admin');
  if v_status not in ('dead', 'delivered') then
    -- PT409: PostgREST answers 409 Conflict (a plain 55000 would be a 500, which clients retry).
    raise exception using
      errcode = 'PT409',
      message = format(
        'only a dead or delivered delivery can be redelivered; delivery %s is %s', p_delivery_id, v_status
      ),
      hint = 'pending, failed and in_flight deliveries are still being delivered';
  end if;

  -- A fresh start: the full retry budget again (the attempts log keeps the earlier tries).
  update int.plugin_deliveries d
  set status = 'pending',
    attempts = 0,
    next_attempt_at = now(),
    lease_expires_at = null,
    net_request_id = null,
    last_status_code = null,
    last_error = null,
    delivered_at = null,
    updated_at = now()
  where d.id = p_delivery_id;
  insert into int.plugin_redeliveries (delivery_id, tenant_id, requested_by, previous_status, previous_attempts)
  values (p_delivery_id, v_tenant_id, private.current_actor(), v_status, v_attempts);

  select v.* into v_result from public.v_plugin_deliveries v where v.id = p_delivery_id;
  return v_result;
end
$$;

comment on function public.rpc_redeliver_plugin_delivery(uuid) is
  'Tenant admins: puts a dead or delivered outbound plugin delivery back to pending with a fresh retry budget and records who did it; other statuses are refused.';

revoke all on function public.rpc_redeliver_plugin_delivery(uuid) from public, anon, authenticated;
grant execute on function public.rpc_redeliver_plugin_delivery(uuid) to authenticated, service_role;
