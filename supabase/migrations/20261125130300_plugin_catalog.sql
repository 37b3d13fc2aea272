-- Plugin catalog: int.plugins and rpc_register_plugin.
--
-- Why: tenants can only install plugins that a trusted backend registered first. Registration is an
-- idempotent upsert keyed by a stable key (lowercase letters, digits, underscores; 2-80 characters),
-- callable only with the service role: anon and authenticated have no execute grant. Also creates the
-- schema `int`, which holds every plugin table and is never exposed to clients.

create schema if not exists int;

comment on schema int is
  'Plugin platform: catalog, tenant installations, subscriptions, delivery queue. Not exposed to clients.';

revoke all on schema int from public, anon, authenticated;

create table int.plugins (
  key text primary key,
  name text not null,
  description text,
  is_integration boolean not null default true,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint plugins_key_format check (key ~ '^[a-z0-9_]+$' and pg_catalog.length(key) between 2 and 80),
  constraint plugins_name_length check (pg_catalog.length(pg_catalog.btrim(name)) between 1 and 200),
  constraint plugins_description_length check (description is null or pg_catalog.length(description) <= 2000)
);

comment on table int.plugins is
  'Plugins tenants can install. Registered by a trusted backend with rpc_register_plugin.';
comment on column int.plugins.key is 'Stable id: ^[a-z0-9_]+$, 2 to 80 characters.';
comment on column int.plugins.is_integration is 'True when the plugin talks to an external system.';
comment on column int.plugins.is_active is 'An inactive plugin cannot be installed and receives no deliveries.';

create trigger plugins_touch_updated_at
  before update on int.plugins
  for each row execute function private.touch_updated_at();

alter table int.plugins enable row level security;

revoke all on table int.plugins from public, anon, authenticated, service_role;

create function private.validate_plugin_key(p_key text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_key is null then
    raise exception using errcode = '22023', message = 'plugin key is required';
  end if;
  if pg_catalog.length(p_key) < 2 or pg_catalog.length(p_key) > 80 then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('plugin key must be 2 to 80 characters, got %s', pg_catalog.length(p_key));
  end if;
  if p_key !~ '^[a-z0-9_]+$' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format(
        'plugin key %L may contain only lowercase letters a-z, digits and underscores', p_key);
  end if;
end
$$;

comment on function private.validate_plugin_key(text) is
  'Raises 22023 unless the key matches ^[a-z0-9_]+$ and has 2 to 80 characters.';

revoke all on function private.validate_plugin_key(text) from public, anon, authenticated;

create function public.rpc_register_plugin(
  p_key text,
  p_name text,
  p_description text default null,
  p_is_integration boolean default true,
  p_is_active boolean default true
)
returns text
language plpgsql
volatile
-- definer: int.plugins is not granted to any API role; execute is granted to service_role only and
-- the body checks for it again.
security definer
set search_path = ''
as $$
begin
  if not private.is_trusted_caller() then
    raise exception using
      errcode = '42501', message = 'permission denied: only the service role can register plugins';
  end if;
  perform private.validate_plugin_key(p_key);
  if p_name is null or pg_catalog.length(pg_catalog.btrim(p_name)) not between 1 and 200 then
    raise exception using errcode = '22023', message = 'plugin name must be 1 to 200 characters';
  end if;
  if p_description is not null and pg_catalog.length(p_description) > 2000 then
    raise exception using errcode = '22023', message = 'plugin description must be at most 2000 characters';
  end if;
  if p_is_integration is null or p_is_active is null then
    raise exception using errcode = '22023', message = 'is_integration and is_active must be true or false';
  end if;

  insert into int.plugins as p (key, name, description, is_integration, is_active)
  values (p_key, pg_catalog.btrim(p_name), p_description, p_is_integration, p_is_active)
  on conflict (key) do update
    set name = excluded.name,
      description = excluded.description,
      is_integration = excluded.is_integration,
      is_active = excluded.is_active
    where (p.name, p.description, p.is_integration, p.is_active)
      is distinct from (excluded.name, excluded.description, excluded.is_integration, excluded.is_active);
  return p_key;
end
$$;

comment on function public.rpc_register_plugin(text, text, text, boolean, boolean) is
  'Service role only: registers or updates a plugin in the catalog (idempotent upsert by key); returns the key.';

revoke all on function public.rpc_register_plugin(text, text, text, boolean, boolean)
  from public, anon, authenticated;
grant execute on function public.rpc_register_plugin(text, text, text, boolean, boolean) to service_role;
