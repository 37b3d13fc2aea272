-- Tenant admins' read model of inbound plugin webhooks: public.v_plugin_inbound_webhooks and
-- public.rpc_list_inbound_webhooks.
--
-- Design: like the outbound delivery views, the int tables have no client grant, so the view runs with
-- its owner's rights and keeps only rows of tenants where the caller (auth.uid()) is tenant.admin, or
-- every row for the service role. The filter is written out rather than calling
-- private.has_tenant_role, because a view's functions are executed with the caller's privileges and
-- clients cannot execute anything in `private`. security_barrier keeps a caller's own conditions from
-- running before that filter. It shows the log's outcome and code, never a body, signature or secret.

create view public.v_plugin_inbound_webhooks
with (security_barrier = true)
as
select
  l.id,
  l.tenant_id,
  l.installation_id,
  i.plugin_key,
  l.delivery_id,
  l.outcome,
  l.code,
  l.message,
  l.action,
  l.body_bytes,
  pg_catalog.encode(l.body_sha256, 'hex') as body_sha256,
  l.received_at
from int.inbound_webhook_log l
join int.plugin_installations i on i.id = l.installation_id
where (select auth.role()) = 'service_role'
  or l.tenant_id in (
    select m.tenant_id from public.tenant_memberships m
    where m.user_id = (select auth.uid()) and m.role = 'tenant.admin'
  );

comment on view public.v_plugin_inbound_webhooks is
  'Inbound plugin webhook requests (applied, rejected with a code, duplicate, failed) of the tenants the caller administers.';

revoke all on public.v_plugin_inbound_webhooks from public, anon, authenticated;
grant select on public.v_plugin_inbound_webhooks to authenticated, service_role;

create function public.rpc_list_inbound_webhooks(
  p_tenant_id uuid,
  p_installation_id uuid default null,
  p_outcome text default null,
  p_limit int default 50
)
returns setof public.v_plugin_inbound_webhooks
language plpgsql
stable
-- definer: checks that p_installation_id belongs to the tenant in int.plugin_installations, which
-- clients cannot read; the rows themselves come from the tenant-filtered view.
security definer
set search_path = ''
as $$
begin
  if p_tenant_id is null then
    raise exception using errcode = '22023', message = 'p_tenant_id is required';
  end if;
  if p_limit is null or p_limit not between 1 and 500 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('p_limit must be between 1 and 500, got %s', coalesce(p_limit::text, 'null'));
  end if;
  if p_outcome is not null and p_outcome not in ('applied', 'rejected', 'duplicate', 'failed') then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('p_outcome must be one of applied, rejected, duplicate, failed; got %L', p_outcome);
  end if;
  perform private.require_tenant_role(p_tenant_id, 'tenant.admin');
  if p_installation_id is not null and not exists (
    select 1 from int.plugin_installations i where i.id = p_installation_id and i.tenant_id = p_tenant_id
  ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('installation %s is not an installation of tenant %s', p_installation_id, p_tenant_id);
  end if;

  return query
  select v.*
  from public.v_plugin_inbound_webhooks v
  where v.tenant_id = p_tenant_id
    and (p_installation_id is null or v.installation_id = p_installation_id)
    and (p_outcome is null or v.outcome = p_outcome)
  order by v.received_at desc, v.id desc
  limit p_limit;
end
$$;

comment on function public.rpc_list_inbound_webhooks(uuid, uuid, text, int) is
  'Tenant admins: the tenant''s most recent inbound plugin webhook requests, newest first, optionally of one '
  'installation and/or with one outcome (applied, rejected, duplicate, failed); p_limit 1..500.';

revoke all on function public.rpc_list_inbound_webhooks(uuid, uuid, text, int) from public, anon, authenticated;
grant execute on function public.rpc_list_inbound_webhooks(uuid, uuid, text, int) to authenticated, service_role;
