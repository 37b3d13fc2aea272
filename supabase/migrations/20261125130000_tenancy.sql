-- Tenancy: tenants, their members with a role each, and the role checks every tenant-scoped RPC uses.
--
-- Why: plugins are installed per tenant and audited rows belong to a tenant, so every plugin RPC
-- must answer "may the caller act as <role> in <tenant>?" the same way. Two roles exist:
-- `tenant.admin` (manages the tenant and its plugins) and `tenant.member` (works with its data); an
-- admin is also a member. Memberships are written only through RPCs; clients read their own tenants
-- and memberships through RLS.
--
-- Also creates the schema `private` for helpers that clients must never call (no usage, no execute
-- for anon and authenticated) and the shared `updated_at` trigger function.

create schema if not exists private;

comment on schema private is
  'Internal helpers (role checks, validation, triggers). Never callable by anon or authenticated.';

revoke all on schema private from public, anon, authenticated, service_role;

-- updated_at -----------------------------------------------------------------------------------------

create function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- Only a real change moves updated_at, so a no-op UPDATE stays a no-op (and audits nothing).
  if new is distinct from old then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end
$$;

comment on function private.touch_updated_at() is
  'BEFORE UPDATE trigger: sets updated_at to now() when any column really changed.';

revoke all on function private.touch_updated_at() from public, anon, authenticated;

-- Tables ---------------------------------------------------------------------------------------------

create table public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  created_at timestamptz not null default now(),
  constraint tenants_name_length check (pg_catalog.length(pg_catalog.btrim(name)) between 1 and 200)
);

comment on table public.tenants is
  'A customer organisation. Everything tenant-scoped (work orders, plugin installations) points here.';
comment on column public.tenants.name is 'Display name, 1 to 200 characters.';

create table public.tenant_memberships (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'tenant.member',
  created_at timestamptz not null default now(),
  primary key (tenant_id, user_id),
  constraint tenant_memberships_role_check check (role in ('tenant.admin', 'tenant.member'))
);

comment on table public.tenant_memberships is
  'Who belongs to which tenant, with one role: tenant.admin (also counts as member) or tenant.member.';
comment on column public.tenant_memberships.role is 'tenant.admin or tenant.member; an admin is also a member.';

-- Policies look memberships up by user; the primary key serves lookups by tenant.
create index tenant_memberships_user_id_idx on public.tenant_memberships (user_id);

alter table public.tenants enable row level security;
alter table public.tenant_memberships enable row level security;

create policy tenant_memberships_select_own on public.tenant_memberships
  for select to authenticated
  using (user_id = (select auth.uid()));

create policy tenants_select_member on public.tenants
  for select to authenticated
  using (
    id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  );

comment on policy tenant_memberships_select_own on public.tenant_memberships is
  'Users read their own memberships.';
comment on policy tenants_select_member on public.tenants is 'Users read the tenants they belong to.';

-- Clients read; all writes go through the RPCs below.
revoke all on table public.tenants, public.tenant_memberships from public, anon, authenticated, service_role;
grant select on table public.tenants, public.tenant_memberships to authenticated;
grant select, insert, update, delete on table public.tenants, public.tenant_memberships to service_role;

-- Role checks ----------------------------------------------------------------------------------------

create function private.current_actor()
returns uuid
language sql
stable
set search_path = ''
as $$
  -- auth.uid() without its failure mode: a `sub` that is not a uuid (third-party auth) gives null
  -- instead of an error, so an audited write never fails because of who made it.
  select case
    when s.sub ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
      then s.sub::uuid
  end
  from (
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
    ) as sub
  ) s
$$;

comment on function private.current_actor() is
  'The calling user''s id from the request JWT (like auth.uid()), or null when there is none or it is not a uuid.';

create function private.is_trusted_caller()
returns boolean
language sql
stable
set search_path = ''
as $$
  -- Trusted: a request made with the service role key (its JWT role is service_role), or a direct
  -- database session that carries no request JWT at all (migrations, pg_cron, psql as postgres or
  -- service_role). API requests always carry claims, so `authenticated` and `anon` never get here.
  -- current_user is not consulted because inside a security definer RPC it is always the owner.
  select coalesce(auth.role() = 'service_role', false)
    or (
      auth.jwt() is null
      and session_user::text not in ('anon', 'authenticated', 'authenticator')
    )
$$;

comment on function private.is_trusted_caller() is
  'True for the service role (JWT role service_role) and for direct database sessions without a request JWT.';

create function private.has_tenant_role(p_tenant_id uuid, p_role text)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_role is null or p_role not in ('tenant.admin', 'tenant.member') then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('unknown tenant role %L: use tenant.admin or tenant.member', p_role);
  end if;
  if private.is_trusted_caller() then
    return true;
  end if;
  return exists (
    select 1
    from public.tenant_memberships m
    where m.tenant_id = p_tenant_id
      and m.user_id = private.current_actor()
      and (m.role = p_role or (p_role = 'tenant.member' and m.role = 'tenant.admin'))
  );
end
$$;

comment on function private.has_tenant_role(uuid, text) is
  'Whether the caller holds p_role (tenant.admin implies tenant.member) in the tenant; the service role always does.';

create function private.require_tenant_role(p_tenant_id uuid, p_role text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_tenant_id is null then
    raise exception using errcode = '22023', message = 'tenant id is required';
  end if;
  if not private.has_tenant_role(p_tenant_id, p_role) then
    raise exception using
      errcode = '42501',
      message = pg_catalog.format('permission denied: you need the %s role in tenant %s', p_role, p_tenant_id),
      hint = 'A tenant admin can grant roles with rpc_add_tenant_member.';
  end if;
end
$$;

comment on function private.require_tenant_role(uuid, text) is
  'Raises 42501 (permission denied) unless private.has_tenant_role(p_tenant_id, p_role).';

revoke all on function private.current_actor() from public, anon, authenticated;
revoke all on function private.is_trusted_caller() from public, anon, authenticated;
revoke all on function private.has_tenant_role(uuid, text) from public, anon, authenticated;
revoke all on function private.require_tenant_role(uuid, text) from public, anon, authenticated;

-- RPCs -----------------------------------------------------------------------------------------------

create function public.rpc_create_tenant(p_name text, p_admin_user_id uuid)
returns uuid
language plpgsql
volatile
-- definer: writes tenants and memberships and calls private helpers, none of which the API roles
-- can reach; execute is granted to service_role only and the body checks for it again.
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
begin
  if not private.is_trusted_caller() then
    raise exception using errcode = '42501', message = 'permission denied: only the service role can create tenants';
  end if;
  if p_name is null or pg_catalog.length(pg_catalog.btrim(p_name)) not between 1 and 200 then
    raise exception using errcode = '22023', message = 'tenant name must be 1 to 200 characters';
  end if;
  if p_admin_user_id is null then
    raise exception using errcode = '22023', message = 'admin user id is required';
  end if;
  if not exists (select 1 from auth.users u where u.id = p_admin_user_id) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('user %s does not exist', p_admin_user_id);
  end if;

  insert into public.tenants (name) values (pg_catalog.btrim(p_name)) returning id into v_tenant_id;
  insert into public.tenant_memberships (tenant_id, user_id, role)
  values (v_tenant_id, p_admin_user_id, 'tenant.admin');
  return v_tenant_id;
end
$$;

comment on function public.rpc_create_tenant(text, uuid) is
  'Service role only: creates a tenant named p_name with p_admin_user_id as its first tenant.admin; returns the tenant id.';

create function public.rpc_add_tenant_member(
  p_tenant_id uuid,
  p_user_id uuid,
  p_role text default 'tenant.member'
)
returns void
language plpgsql
volatile
-- definer: memberships are not writable by the API roles; the body requires tenant.admin first.
security definer
set search_path = ''
as $$
begin
  perform private.require_tenant_role(p_tenant_id, 'tenant.admin');
  -- Membership changes of one tenant take turns, so that two admins demoting each other at once cannot
  -- both pass the last-admin check below. `no key update` does not block rows referencing the tenant.
  perform 1 from public.tenants t where t.id = p_tenant_id for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = pg_catalog.format('tenant %s does not exist', p_tenant_id);
  end if;
  -- Again now that it is this call's turn: an admin demoted by the change it waited for (committed
  -- meanwhile, so this statement sees it) must not go on, e.g. to make themselves admin again.
  perform private.require_tenant_role(p_tenant_id, 'tenant.admin');
  if p_user_id is null then
    raise exception using errcode = '22023', message = 'user id is required';
  end if;
  if p_role is null or p_role not in ('tenant.admin', 'tenant.member') then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('role must be tenant.admin or tenant.member, not %L', p_role);
  end if;
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception using errcode = '22023', message = pg_catalog.format('user %s does not exist', p_user_id);
  end if;
  -- Never leave a tenant without an admin.
  if p_role = 'tenant.member'
    and exists (
      select 1 from public.tenant_memberships m
      where m.tenant_id = p_tenant_id and m.user_id = p_user_id and m.role = 'tenant.admin'
    )
    and not exists (
      select 1 from public.tenant_memberships m
      where m.tenant_id = p_tenant_id and m.user_id <> p_user_id and m.role = 'tenant.admin'
    )
  then
    raise exception using errcode = '22023', message = 'a tenant needs at least one tenant.admin';
  end if;

  insert into public.tenant_memberships (tenant_id, user_id, role)
  values (p_tenant_id, p_user_id, p_role)
  on conflict (tenant_id, user_id) do update set role = excluded.role
  where public.tenant_memberships.role is distinct from excluded.role;
end
$$;

comment on function public.rpc_add_tenant_member(uuid, uuid, text) is
  'Tenant admins: adds p_user_id to the tenant with p_role (default tenant.member), or changes their role.';

revoke all on function public.rpc_create_tenant(text, uuid) from public, anon, authenticated;
revoke all on function public.rpc_add_tenant_member(uuid, uuid, text) from public, anon, authenticated;
grant execute on function public.rpc_create_tenant(text, uuid) to service_role;
grant execute on function public.rpc_add_tenant_member(uuid, uuid, text) to authenticated, service_role;
