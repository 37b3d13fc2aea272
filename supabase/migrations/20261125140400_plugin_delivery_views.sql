-- Tenant admins' read models of outbound plugin deliveries: public.v_plugin_deliveries and
-- public.v_plugin_delivery_attempts.
--
-- Design: the int tables stay without any client grant (neither anon nor authenticated can read or
-- even name a table in `int`), so these views cannot be security_invoker views: an invoker view needs
-- its caller to hold SELECT on the tables below it, and RLS policies on int tables would only matter
-- with such grants. Instead the views read with the rights of their owner (postgres) and let through
-- only rows of tenants in which the caller ((select auth.uid())) is a tenant.admin, plus everything
-- for the service role and for direct database sessions without a request JWT (the SQL editor,
-- pg_cron, psql; never an API request, which always carries claims): the same rule as
-- private.has_tenant_role and private.is_trusted_caller, spelled out here because the API roles
-- cannot execute private functions and a view calls functions with its caller's rights. Rows
-- of other tenants never leave the view. security_barrier keeps a caller's own WHERE conditions from
-- being evaluated before that filter, so no function in a caller's query sees other tenants' rows.
-- Columns are chosen: the installation's secret_ref and pg_net's request id are not exposed.

create view public.v_plugin_deliveries
with (security_barrier = true)
as
select
  d.id,
  d.tenant_id,
  d.installation_id,
  i.plugin_key,
  d.subscription_id,
  d.audit_id,
  d.event_type,
  d.status,
  d.attempts,
  coalesce(i.max_attempts, 8) as max_attempts,
  d.next_attempt_at,
  d.lease_expires_at,
  d.last_status_code,
  d.last_error,
  d.delivered_at,
  r.created_at as redelivered_at,
  r.requested_by as redelivered_by,
  d.payload,
  d.created_at,
  d.updated_at
from int.plugin_deliveries d
join int.plugin_installations i on i.id = d.installation_id
left join lateral (
  select x.created_at, x.requested_by
  from int.plugin_redeliveries x
  where x.delivery_id = d.id
  order by x.created_at desc, x.id desc
  limit 1
) r on true
where (select auth.role()) = 'service_role'
  or ((select auth.jwt()) is null and session_user::text not in ('anon', 'authenticated', 'authenticator'))
  or d.tenant_id in (
    select m.tenant_id from public.tenant_memberships m
    where m.user_id = (select auth.uid()) and m.role = 'tenant.admin'
  );

comment on view public.v_plugin_deliveries is
  'Outbound plugin deliveries of the tenants the caller administers (tenant.admin); one row per delivery, newest state.';

create view public.v_plugin_delivery_attempts
with (security_barrier = true)
as
select
  a.id,
  a.delivery_id,
  d.tenant_id,
  d.installation_id,
  a.attempt,
  a.status_code,
  a.error,
  a.timed_out,
  a.duration_ms,
  -- Only what a refusing receiver said. pg_net follows redirects, so a receiver can send the request
  -- on to an address the webhook_url check refuses (a cloud metadata service, an internal API) and
  -- make its answer the response; such answers are 2xx when they leak something worth having.
  case when a.status_code between 200 and 299 then null else a.response_excerpt end as response_excerpt,
  a.created_at
from int.plugin_delivery_attempts a
join int.plugin_deliveries d on d.id = a.delivery_id
where (select auth.role()) = 'service_role'
  or ((select auth.jwt()) is null and session_user::text not in ('anon', 'authenticated', 'authenticator'))
  or d.tenant_id in (
    select m.tenant_id from public.tenant_memberships m
    where m.user_id = (select auth.uid()) and m.role = 'tenant.admin'
  );

comment on view public.v_plugin_delivery_attempts is
  'One row per try of an outbound plugin delivery (status, error, timeout, duration, and the response excerpt of a non-2xx answer) for the tenants the caller administers.';

revoke all on public.v_plugin_deliveries, public.v_plugin_delivery_attempts from public, anon, authenticated;
grant select on public.v_plugin_deliveries, public.v_plugin_delivery_attempts to authenticated, service_role;
