-- Work orders: the first audited domain table, tenant-scoped with RLS by membership.
--
-- Why: plugins subscribe to changes of audited tables; work orders are the table the plugin guide
-- and the tests use. Members of a tenant read, create and update its work orders; only tenant admins
-- delete them. Auditing is switched on by the audit migration (audit.track_table).

create table public.work_orders (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id),
  title text not null,
  status text not null default 'open',
  priority text not null default 'normal',
  assignee uuid null references auth.users (id) on delete set null,
  external_ref text null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint work_orders_title_length check (pg_catalog.length(pg_catalog.btrim(title)) between 1 and 500),
  constraint work_orders_status_check
    check (status in ('open', 'in_progress', 'on_hold', 'done', 'cancelled')),
  constraint work_orders_priority_check check (priority in ('low', 'normal', 'high', 'urgent')),
  constraint work_orders_external_ref_length
    check (external_ref is null or pg_catalog.length(external_ref) between 1 and 200)
);

comment on table public.work_orders is
  'Maintenance work orders of a tenant. Audited: every change lands in audit.entity_changes and fans out to plugins.';
comment on column public.work_orders.status is 'open, in_progress, on_hold, done or cancelled.';
comment on column public.work_orders.priority is 'low, normal, high or urgent.';
comment on column public.work_orders.assignee is 'The user working on it, if any.';
comment on column public.work_orders.external_ref is 'An id in an outside system (set by integrations).';

create index work_orders_tenant_id_idx on public.work_orders (tenant_id);
create index work_orders_assignee_idx on public.work_orders (assignee) where assignee is not null;

create trigger work_orders_touch_updated_at
  before update on public.work_orders
  for each row execute function private.touch_updated_at();

alter table public.work_orders enable row level security;

create policy work_orders_select_member on public.work_orders
  for select to authenticated
  using (
    tenant_id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  );

create policy work_orders_insert_member on public.work_orders
  for insert to authenticated
  with check (
    tenant_id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  );

create policy work_orders_update_member on public.work_orders
  for update to authenticated
  using (
    tenant_id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  )
  with check (
    tenant_id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  );

create policy work_orders_delete_admin on public.work_orders
  for delete to authenticated
  using (
    tenant_id in (
      select m.tenant_id from public.tenant_memberships m
      where m.user_id = (select auth.uid()) and m.role = 'tenant.admin'
    )
  );

comment on policy work_orders_select_member on public.work_orders is 'Members read their tenants'' work orders.';
comment on policy work_orders_insert_member on public.work_orders is
  'Members create work orders in their tenants.';
comment on policy work_orders_update_member on public.work_orders is
  'Members change their tenants'' work orders; moving one to another tenant needs membership in both.';
comment on policy work_orders_delete_admin on public.work_orders is 'Only tenant admins delete work orders.';

revoke all on table public.work_orders from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.work_orders to authenticated, service_role;
