-- Plugin subscriptions: which audited changes an installation receives.
--
-- Why: nothing is delivered until an installation subscribes to (table_schema, table_name) with a
-- set of operations. For UPDATE, changed_fields_allowlist narrows it to changes that touch at least
-- one listed column (null or empty: any change). include_payload (false by default) decides whether
-- deliveries carry the old and new row or only record_id and changed_fields. Tenant admins upsert and
-- delete subscriptions through RPCs; the table must exist, be audited and have a tenant_id column
-- (changes of other tables belong to no tenant), and the allowlist must name real columns.
--
-- Every subscription points at its current version (version_id): an immutable copy, in
-- int.plugin_subscription_versions, of what decides its deliveries (installation, operations,
-- allowlist, payload choice). The fan-out records the versions that matched a statement, so the
-- deliveries queued before an edit keep the subscription as it was when the change was made.

-- Versions outlive their subscription (the queued deliveries of a deleted subscription are still
-- sent) but not their installation (an uninstall drops what was still queued for it).
create table int.plugin_subscription_versions (
  id bigint generated always as identity primary key,
  subscription_id uuid not null,
  tenant_id uuid not null,
  installation_id uuid not null references int.plugin_installations (id) on delete cascade,
  operations text[] not null,
  changed_fields_allowlist text[] null,
  include_payload boolean not null,
  created_at timestamptz not null default now(),
  retired_at timestamptz null
);

comment on table int.plugin_subscription_versions is
  'Immutable snapshots of a subscription''s delivery rules, named by queued batches; written by a trigger on int.plugin_subscriptions.';
comment on column int.plugin_subscription_versions.retired_at is
  'When the subscription was edited or deleted; null while this is its current version.';

create index plugin_subscription_versions_installation_id_idx
  on int.plugin_subscription_versions (installation_id);

alter table int.plugin_subscription_versions enable row level security;

revoke all on table int.plugin_subscription_versions from public, anon, authenticated, service_role;

create table int.plugin_subscriptions (
  id uuid primary key default gen_random_uuid(),
  installation_id uuid not null references int.plugin_installations (id) on delete cascade,
  tenant_id uuid not null,
  table_schema text not null,
  table_name text not null,
  operations text[] not null,
  changed_fields_allowlist text[] null,
  include_payload boolean not null default false,
  is_active boolean not null default true,
  is_live boolean not null default false,
  version_id bigint not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint plugin_subscriptions_installation_table_key unique (installation_id, table_schema, table_name),
  -- A subscription's tenant is always its installation's tenant.
  constraint plugin_subscriptions_installation_tenant_fkey foreign key (installation_id, tenant_id)
    references int.plugin_installations (id, tenant_id) on delete cascade,
  constraint plugin_subscriptions_operations_check
    check (pg_catalog.cardinality(operations) > 0 and operations <@ array['INSERT', 'UPDATE', 'DELETE']),
  constraint plugin_subscriptions_allowlist_check
    check (changed_fields_allowlist is null or pg_catalog.array_position(changed_fields_allowlist, null) is null)
);

comment on table int.plugin_subscriptions is
  'An installation''s subscription to the audited changes of one table: operations, UPDATE column filter, payload choice.';
comment on column int.plugin_subscriptions.operations is 'Non-empty subset of INSERT, UPDATE, DELETE.';
comment on column int.plugin_subscriptions.changed_fields_allowlist is
  'UPDATEs are delivered only when they change one of these columns; null or empty means any change.';
comment on column int.plugin_subscriptions.include_payload is
  'false: deliveries carry record_id and changed_fields only; true: also old_data and new_data.';
comment on column int.plugin_subscriptions.version_id is
  'The current int.plugin_subscription_versions row, kept by a trigger.';
comment on column int.plugin_subscriptions.is_live is
  'Kept by triggers: the subscription, its installation and its plugin are all active. The fan-out reads only this.';

-- The fan-out looks subscriptions up by (tenant, table) for every audited statement: one index scan,
-- no join to installations and plugins (that join costed a third of a single-row insert).
create index plugin_subscriptions_match_idx on int.plugin_subscriptions (tenant_id, table_schema, table_name)
  where is_live;

-- Not when only is_live changes: that is the installation's or the plugin's doing, not an edit.
create trigger plugin_subscriptions_touch_updated_at
  before update of installation_id, tenant_id, table_schema, table_name, operations, changed_fields_allowlist,
    include_payload, is_active
  on int.plugin_subscriptions
  for each row execute function private.touch_updated_at();

-- version_id -----------------------------------------------------------------------------------------

create function private.plugin_subscription_set_version()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and (
    new.installation_id, new.tenant_id, new.operations, new.changed_fields_allowlist, new.include_payload
  ) is not distinct from (
    old.installation_id, old.tenant_id, old.operations, old.changed_fields_allowlist, old.include_payload
  ) then
    new.version_id := old.version_id;
    return new;
  end if;
  if tg_op = 'UPDATE' then
    update int.plugin_subscription_versions set retired_at = now() where id = old.version_id;
  end if;
  insert into int.plugin_subscription_versions
    (subscription_id, tenant_id, installation_id, operations, changed_fields_allowlist, include_payload)
  values (new.id, new.tenant_id, new.installation_id, new.operations, new.changed_fields_allowlist, new.include_payload)
  returning id into new.version_id;
  return new;
end
$$;

comment on function private.plugin_subscription_set_version() is
  'BEFORE trigger on int.plugin_subscriptions: a new version (and the old one retired) whenever a rule that decides deliveries changes.';

create trigger plugin_subscriptions_set_version
  before insert or update on int.plugin_subscriptions
  for each row execute function private.plugin_subscription_set_version();

create function private.plugin_subscription_retire_version()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update int.plugin_subscription_versions set retired_at = now() where id = old.version_id;
  return null;
end
$$;

comment on function private.plugin_subscription_retire_version() is
  'AFTER DELETE trigger on int.plugin_subscriptions: retires the deleted subscription''s current version.';

create trigger plugin_subscriptions_retire_version
  after delete on int.plugin_subscriptions
  for each row execute function private.plugin_subscription_retire_version();

revoke all on function private.plugin_subscription_set_version() from public, anon, authenticated;
revoke all on function private.plugin_subscription_retire_version() from public, anon, authenticated;

-- is_live --------------------------------------------------------------------------------------------

create function private.plugin_subscription_set_live()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- `for share`: an installation or plugin switched on or off by a transaction still open is waited
  -- for (and read as it committed), and one switched later waits for this subscription to commit, so
  -- that its follow-up below sees it. Without the lock, a subscription written meanwhile kept the
  -- state from before the switch: silent after a reactivation, or queueing while off.
  new.is_live := new.is_active and coalesce((
    select i.is_active and p.is_active
    from int.plugin_installations i
    join int.plugins p on p.key = i.plugin_key
    where i.id = new.installation_id
    for share of i, p
  ), false);
  return new;
end
$$;

comment on function private.plugin_subscription_set_live() is
  'BEFORE trigger on int.plugin_subscriptions: is_live = the subscription, its installation and its plugin are active.';

create trigger plugin_subscriptions_set_live
  before insert or update of installation_id, is_active on int.plugin_subscriptions
  for each row execute function private.plugin_subscription_set_live();

create function private.plugin_subscriptions_follow_parents()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_table_name = 'plugins' then
    update int.plugin_subscriptions s
    set is_live = s.is_active and i.is_active and new.is_active
    from int.plugin_installations i
    where i.id = s.installation_id and i.plugin_key = new.key;
  else
    update int.plugin_subscriptions s
    set is_live = s.is_active and new.is_active
      and exists (select 1 from int.plugins p where p.key = new.plugin_key and p.is_active)
    where s.installation_id = new.id;
  end if;
  return null;
end
$$;

comment on function private.plugin_subscriptions_follow_parents() is
  'AFTER trigger on int.plugin_installations and int.plugins: recomputes is_live of the subscriptions below the changed row.';

create trigger plugin_installations_subscriptions_live
  after update of is_active on int.plugin_installations
  for each row when (old.is_active is distinct from new.is_active)
  execute function private.plugin_subscriptions_follow_parents();

create trigger plugins_subscriptions_live
  after update of is_active on int.plugins
  for each row when (old.is_active is distinct from new.is_active)
  execute function private.plugin_subscriptions_follow_parents();

revoke all on function private.plugin_subscription_set_live() from public, anon, authenticated;
revoke all on function private.plugin_subscriptions_follow_parents() from public, anon, authenticated;

alter table int.plugin_subscriptions enable row level security;

revoke all on table int.plugin_subscriptions from public, anon, authenticated, service_role;

-- RPCs -----------------------------------------------------------------------------------------------

create function public.rpc_upsert_webhook_subscription(
  p_installation_id uuid,
  p_table_schema text,
  p_table_name text,
  p_operations text[],
  p_changed_fields_allowlist text[] default null,
  p_include_payload boolean default false
)
returns uuid
language plpgsql
volatile
-- definer: int.* is not granted to any API role; the body requires tenant.admin of the
-- installation's tenant first.
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid := private.installation_tenant(p_installation_id);
  v_table regclass;
  v_schema text;
  v_name text;
  v_operations text[];
  v_allowlist text[];
  v_unknown text;
  v_id uuid;
begin
  perform private.require_tenant_role(v_tenant_id, 'tenant.admin');

  if p_table_schema is null or p_table_schema = '' or p_table_name is null or p_table_name = '' then
    raise exception using errcode = '22023', message = 'table_schema and table_name are required';
  end if;
  -- Names are taken literally (no quoting or case folding), as they appear in the catalog.
  select c.oid, n.nspname, c.relname into v_table, v_schema, v_name
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname = p_table_schema and c.relname = p_table_name and c.relkind in ('r', 'p');
  if v_table is null then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('table %I.%I does not exist', p_table_schema, p_table_name);
  end if;
  if not audit.is_tracked(v_table) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('table %s is not audited, so it has no changes to subscribe to', v_table),
      hint = pg_catalog.format('A migration can start auditing it: select audit.track_table(%L);', v_table::text);
  end if;
  if not exists (
    select 1 from pg_catalog.pg_attribute a
    where a.attrelid = v_table and a.attname = 'tenant_id' and not a.attisdropped
  ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('table %s has no tenant_id column, so its changes belong to no tenant', v_table);
  end if;

  if p_operations is null or pg_catalog.cardinality(p_operations) = 0 then
    raise exception using
      errcode = '22023', message = 'operations must list at least one of INSERT, UPDATE, DELETE';
  end if;
  if exists (
    select 1 from pg_catalog.unnest(p_operations) o(op)
    where o.op is null or pg_catalog.upper(o.op) not in ('INSERT', 'UPDATE', 'DELETE')
  ) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('operations may only contain INSERT, UPDATE and DELETE, got %s', p_operations);
  end if;
  select pg_catalog.array_agg(distinct pg_catalog.upper(o.op) order by pg_catalog.upper(o.op))
  into v_operations
  from pg_catalog.unnest(p_operations) o(op);

  if p_changed_fields_allowlist is not null and pg_catalog.cardinality(p_changed_fields_allowlist) > 0 then
    if pg_catalog.array_position(p_changed_fields_allowlist, null) is not null then
      raise exception using errcode = '22023', message = 'changed_fields_allowlist must not contain null';
    end if;
    select pg_catalog.string_agg(f.name, ', ' order by f.name) into v_unknown
    from pg_catalog.unnest(p_changed_fields_allowlist) f(name)
    where not exists (
      select 1 from pg_catalog.pg_attribute a
      where a.attrelid = v_table and a.attname = f.name and a.attnum > 0 and not a.attisdropped
    );
    if v_unknown is not null then
      raise exception using
        errcode = '22023',
        message = pg_catalog.format('changed_fields_allowlist names columns that %s does not have: %s',
          v_table, v_unknown);
    end if;
    select pg_catalog.array_agg(distinct f.name order by f.name) into v_allowlist
    from pg_catalog.unnest(p_changed_fields_allowlist) f(name);
  end if;

  insert into int.plugin_subscriptions as s (
    installation_id, tenant_id, table_schema, table_name, operations, changed_fields_allowlist, include_payload
  )
  values (
    p_installation_id, v_tenant_id, v_schema, v_name, v_operations, v_allowlist, coalesce(p_include_payload, false)
  )
  on conflict (installation_id, table_schema, table_name) do update
    set operations = excluded.operations,
      changed_fields_allowlist = excluded.changed_fields_allowlist,
      include_payload = excluded.include_payload,
      is_active = true
  returning s.id into v_id;
  return v_id;
end
$$;

comment on function public.rpc_upsert_webhook_subscription(uuid, text, text, text[], text[], boolean) is
  'Tenant admins: subscribes an installation to an audited table''s changes (or replaces that subscription); '
  'returns the subscription id.';

create function public.rpc_delete_webhook_subscription(p_subscription_id uuid)
returns void
language plpgsql
volatile
-- definer: int.* is not granted to any API role; the body requires tenant.admin of the
-- subscription's tenant first.
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
begin
  if p_subscription_id is null then
    raise exception using errcode = '22023', message = 'subscription id is required';
  end if;
  select s.tenant_id into v_tenant_id from int.plugin_subscriptions s where s.id = p_subscription_id;
  if v_tenant_id is null then
    raise exception using
      errcode = 'PT404', message = pg_catalog.format('webhook subscription %s does not exist', p_subscription_id);
  end if;
  perform private.require_tenant_role(v_tenant_id, 'tenant.admin');
  -- Deliveries already queued stay (their subscription_id becomes null) and are still sent.
  delete from int.plugin_subscriptions s where s.id = p_subscription_id;
end
$$;

comment on function public.rpc_delete_webhook_subscription(uuid) is
  'Tenant admins: deletes a subscription; deliveries already queued for it are still sent.';

revoke all on function public.rpc_upsert_webhook_subscription(uuid, text, text, text[], text[], boolean)
  from public, anon, authenticated;
revoke all on function public.rpc_delete_webhook_subscription(uuid) from public, anon, authenticated;
grant execute on function public.rpc_upsert_webhook_subscription(uuid, text, text, text[], text[], boolean)
  to authenticated, service_role;
grant execute on function public.rpc_delete_webhook_subscription(uuid) to authenticated, service_role;
