-- Plugin installations: a plugin installed in a tenant, with its webhook config and Vault secret name.
--
-- Why: deliveries go to the tenant's own endpoint, signed with a key only the database can read.
-- config holds non-secret routing: webhook_url (required), timeout_ms (optional, 500-30000, default
-- 5000) and headers (optional, string values, never secrets). secret_ref is the NAME of a Vault
-- secret, checked when it is set to exist, not to be one of the project's own secrets and not to have
-- been used by another tenant (the first tenant to use a name keeps it: int.plugin_secret_claims); its
-- value is never read here and never returned. Only a tenant.admin of the tenant installs, updates or
-- uninstalls.
--
-- webhook_url must use https and must not point at loopback, private, shared (CGNAT), link-local
-- (169.254.0.0/16: cloud metadata), unspecified, benchmarking (198.18.0.0/15), multicast or reserved
-- (192.0.0.0/24, 240.0.0.0/4) IPv4 addresses, nor at IPv6 loopback, unspecified, unique-local
-- (fc00::/7), link-local (fe80::/10), site-local (fec0::/10) or multicast addresses, including
-- IPv4-mapped, IPv4-compatible, IPv4-translated and NAT64 forms, nor at 6to4 (2002::/16), Teredo
-- (2001::/32) or local-use NAT64 (64:ff9b:1::/48) addresses; localhost, *.localhost, *.local,
-- *.internal, *.localdomain and single-label hosts are refused too, and so are host names that are not
-- ASCII (use punycode) or that HTTP clients read as IPv4 addresses (127.1, 0x7f.1, 2130706433). Only
-- literal addresses can be checked here: a public name that resolves to a private address is not caught
-- (DNS is the network's job), nor is a public receiver that redirects (pg_net follows redirects).
--
-- Local development: a switch lifts those host rules and also allows http://, so receivers on 127.0.0.1
-- work. Never turn it on in production. Either of:
--   update private.plugin_settings set allow_private_webhook_urls = true;  -- the database, from now on
--   select set_config('plugins.allow_private_webhook_urls', 'on', false);  -- this session only
-- (A table, not `alter database ... set`: on Supabase's stacks postgres is not a superuser and owns
-- neither the database nor the right to store an unknown setting on it.)

create table int.plugin_installations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  plugin_key text not null references int.plugins (key),
  config jsonb not null default '{}',
  secret_ref text not null,
  is_active boolean not null default true,
  max_attempts int not null default 8,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint plugin_installations_tenant_plugin_key unique (tenant_id, plugin_key),
  -- Lets subscriptions reference (id, tenant_id), so a subscription's tenant is its installation's.
  constraint plugin_installations_id_tenant_key unique (id, tenant_id),
  constraint plugin_installations_config_object check (pg_catalog.jsonb_typeof(config) = 'object'),
  constraint plugin_installations_secret_ref_length check (pg_catalog.length(secret_ref) between 1 and 255),
  constraint plugin_installations_max_attempts_check check (max_attempts between 1 and 20)
);

comment on table int.plugin_installations is
  'A plugin installed in a tenant: where deliveries go (config) and which Vault secret signs them (secret_ref).';
comment on column int.plugin_installations.config is
  'Non-secret settings: webhook_url (https), timeout_ms (500-30000, default 5000), headers (string values).';
comment on column int.plugin_installations.secret_ref is
  'Name of the Vault secret whose plaintext is the HMAC key. The value is never stored or returned here.';
comment on column int.plugin_installations.max_attempts is 'Delivery attempts before a delivery is dead (1-20).';

create index plugin_installations_plugin_key_idx on int.plugin_installations (plugin_key);

create trigger plugin_installations_touch_updated_at
  before update on int.plugin_installations
  for each row execute function private.touch_updated_at();

alter table int.plugin_installations enable row level security;

revoke all on table int.plugin_installations from public, anon, authenticated, service_role;

-- Validation -----------------------------------------------------------------------------------------

create table private.plugin_settings (
  singleton boolean primary key default true check (singleton),
  allow_private_webhook_urls boolean not null default false
);

comment on table private.plugin_settings is
  'Switches of the plugin platform (one row). allow_private_webhook_urls: local development only, allows http and private webhook hosts.';

insert into private.plugin_settings default values;

alter table private.plugin_settings enable row level security;

revoke all on table private.plugin_settings from public, anon, authenticated, service_role;

create function private.allow_private_webhook_urls()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(
    pg_catalog.lower(pg_catalog.current_setting('plugins.allow_private_webhook_urls', true))
      in ('on', 'true', '1', 'yes'),
    false)
    or coalesce((select s.allow_private_webhook_urls from private.plugin_settings s), false)
$$;

comment on function private.allow_private_webhook_urls() is
  'Whether local development allows private webhook hosts and http: private.plugin_settings or this session''s plugins.allow_private_webhook_urls.';

create function private.special_ip_range(p_ip inet)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when pg_catalog.family(p_ip) = 4 then
      case
        when p_ip <<= '127.0.0.0/8' then 'loopback'
        when p_ip <<= '0.0.0.0/8' then 'unspecified'
        when p_ip <<= '10.0.0.0/8' or p_ip <<= '172.16.0.0/12' or p_ip <<= '192.168.0.0/16' then 'private'
        when p_ip <<= '100.64.0.0/10' then 'shared carrier-grade NAT'
        when p_ip <<= '169.254.0.0/16' then 'link-local'
        when p_ip <<= '198.18.0.0/15' then 'benchmarking'
        when p_ip <<= '192.0.0.0/24' or p_ip <<= '240.0.0.0/4' then 'reserved'
        when p_ip <<= '224.0.0.0/4' then 'multicast'
      end
    else
      case
        when pg_catalog.host(p_ip) = '::1' then 'loopback'
        when pg_catalog.host(p_ip) = '::' then 'unspecified'
        -- IPv4-mapped, IPv4-compatible, IPv4-translated and NAT64 addresses reach the embedded IPv4
        -- address.
        when p_ip <<= '::ffff:0:0/96' or p_ip <<= '::/96' or p_ip <<= '::ffff:0:0:0/96' or p_ip <<= '64:ff9b::/96'
        then
          private.special_ip_range(
            '0.0.0.0'::inet + (p_ip - pg_catalog.network(pg_catalog.set_masklen(p_ip, 96))))
        -- Tunnels to an IPv4 address (6to4 embeds it, Teredo obfuscates it) and a NAT64 prefix that
        -- only the local network routes: none is a public webhook.
        when p_ip <<= '2002::/16' then '6to4'
        when p_ip <<= '2001::/32' then 'Teredo'
        when p_ip <<= '64:ff9b:1::/48' then 'local-use NAT64'
        when p_ip <<= 'fc00::/7' then 'unique-local'
        when p_ip <<= 'fe80::/10' then 'link-local'
        when p_ip <<= 'fec0::/10' then 'site-local'
        when p_ip <<= 'ff00::/8' then 'multicast'
      end
  end
$$;

comment on function private.special_ip_range(inet) is
  'The kind of non-public address (loopback, private, link-local, unspecified, ...), or null for a public one.';

create function private.validate_webhook_url(p_url text)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  v_allow boolean := private.allow_private_webhook_urls();
  v_hint text := 'For local development only: update private.plugin_settings set allow_private_webhook_urls = true.';
  v_match text[];
  v_scheme text;
  v_authority text;
  v_host text;
  v_port text;
  v_ip inet;
  v_range text;
begin
  if p_url is null or pg_catalog.btrim(p_url) = '' then
    raise exception using errcode = '22023', message = 'webhook_url is required';
  end if;
  if pg_catalog.length(p_url) > 2048 then
    raise exception using errcode = '22023', message = 'webhook_url must be at most 2048 characters';
  end if;
  if p_url ~ '[[:space:][:cntrl:]]' then
    raise exception using errcode = '22023', message = 'webhook_url must not contain spaces or control characters';
  end if;
  v_match := pg_catalog.regexp_match(p_url, '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([/?#].*)?$');
  if v_match is null then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('webhook_url %L is not an absolute URL like https://example.com/hooks', p_url);
  end if;
  v_scheme := pg_catalog.lower(v_match[1]);
  v_authority := v_match[2];
  if v_scheme = 'http' and not v_allow then
    raise exception using
      errcode = '22023', message = 'webhook_url must use https, not http', hint = v_hint;
  elsif v_scheme not in ('https', 'http') then
    raise exception using
      errcode = '22023', message = pg_catalog.format('webhook_url must use https, not %s', v_scheme);
  end if;
  if pg_catalog.strpos(v_authority, '@') > 0 then
    raise exception using
      errcode = '22023',
      message = 'webhook_url must not contain credentials (user:password@): keep secrets in Vault';
  end if;

  if v_authority like '[%' then
    v_match := pg_catalog.regexp_match(v_authority, '^\[([0-9A-Fa-f:.]+)\](?::([0-9]*))?$');
    if v_match is null then
      raise exception using errcode = '22023', message = 'webhook_url has an invalid IPv6 host';
    end if;
    begin
      v_ip := v_match[1]::inet;
    exception when invalid_text_representation then
      raise exception using errcode = '22023', message = 'webhook_url has an invalid IPv6 host';
    end;
    if pg_catalog.family(v_ip) <> 6 then
      raise exception using errcode = '22023', message = 'webhook_url has an invalid IPv6 host';
    end if;
    v_host := pg_catalog.host(v_ip);
    v_port := v_match[2];
  else
    v_match := pg_catalog.regexp_match(v_authority, '^([^:]*)(?::([0-9]*))?$');
    if v_match is null then
      raise exception using
        errcode = '22023',
        message = 'webhook_url has an invalid host (IPv6 addresses go in brackets: https://[2001:db8::1]/)';
    end if;
    -- Before lower(), which can turn a non-ASCII letter into an ASCII one (U+0130 into i, U+212A into
    -- k): the name checked must be the name curl looks up.
    if v_match[1] ~ '[^\x01-\x7e]' then
      raise exception using
        errcode = '22023',
        message = pg_catalog.format('webhook_url host %L is not a valid host name (use punycode for IDNs)', v_match[1]);
    end if;
    v_host := pg_catalog.lower(v_match[1]);
    v_port := v_match[2];
    -- A fully qualified name may end with a dot; it names the same host.
    if v_host like '%.' then
      v_host := pg_catalog.left(v_host, -1);
    end if;
  end if;

  if v_host = '' then
    raise exception using errcode = '22023', message = 'webhook_url has no host';
  end if;
  if v_port is not null and (v_port !~ '^[0-9]{1,5}$' or v_port::int not between 1 and 65535) then
    raise exception using errcode = '22023', message = 'webhook_url has an invalid port (1 to 65535)';
  end if;

  if v_ip is null then
    if v_host ~ '^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$' then
      begin
        v_ip := v_host::inet;
      exception when invalid_text_representation then
        raise exception using
          errcode = '22023', message = pg_catalog.format('webhook_url host %s is not a valid IPv4 address', v_host);
      end;
    elsif pg_catalog.split_part(v_host, '.', -1) ~ '^(0x[0-9a-f]*|[0-9]+)$' then
      -- 127.1, 0177.0.0.1, 0x7f.0.0.1, 2130706433: forms that HTTP clients read as IPv4 addresses.
      raise exception using
        errcode = '22023',
        message = pg_catalog.format(
          'webhook_url host %s is ambiguous: use a domain name or a dotted-quad IPv4 address', v_host);
    elsif pg_catalog.length(v_host) > 253
      or v_host !~ '^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$'
    then
      raise exception using
        errcode = '22023',
        message = pg_catalog.format('webhook_url host %L is not a valid host name (use punycode for IDNs)', v_host);
    elsif not v_allow then
      if v_host = 'localhost' or v_host like '%.localhost' then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format('webhook_url must not point at %s (loopback host)', v_host),
          hint = v_hint;
      -- localdomain: the hosts file of Red Hat-family systems maps localhost.localdomain (and
      -- localhost4.localdomain4, localhost6.localdomain6) to loopback.
      elsif v_host like '%.internal' or v_host like '%.local' or v_host ~ '\.localdomain[46]?$'
        or pg_catalog.strpos(v_host, '.') = 0
      then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format(
            'webhook_url host %s is not a public, fully qualified domain name', v_host),
          hint = v_hint;
      end if;
    end if;
  end if;

  if v_ip is not null and not v_allow then
    v_range := private.special_ip_range(v_ip);
    if v_range is not null then
      raise exception using
        errcode = '22023',
        message = pg_catalog.format('webhook_url must not point at %s (%s address)', v_host, v_range),
        hint = v_hint;
    end if;
  end if;
end
$$;

comment on function private.validate_webhook_url(text) is
  'Raises 22023 unless the URL is https to a public host (see the migration header for the exact rules).';

create function private.validate_installation_config(p_config jsonb)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_timeout jsonb;
  v_timeout_ms int := 5000;
  v_headers jsonb;
  v_name text;
  v_value jsonb;
begin
  if p_config is null or pg_catalog.jsonb_typeof(p_config) <> 'object' then
    raise exception using errcode = '22023', message = 'config must be a JSON object with at least webhook_url';
  end if;
  if pg_catalog.octet_length(p_config::text) > 8192 then
    raise exception using errcode = '22023', message = 'config must be at most 8 KB';
  end if;
  if pg_catalog.jsonb_typeof(p_config -> 'webhook_url') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'config.webhook_url is required and must be a string';
  end if;
  perform private.validate_webhook_url(p_config ->> 'webhook_url');

  if p_config ? 'timeout_ms' then
    v_timeout := p_config -> 'timeout_ms';
    if pg_catalog.jsonb_typeof(v_timeout) <> 'number'
      or (v_timeout #>> '{}')::numeric not between 500 and 30000
      or (v_timeout #>> '{}')::numeric <> pg_catalog.trunc((v_timeout #>> '{}')::numeric)
    then
      raise exception using
        errcode = '22023', message = 'config.timeout_ms must be a whole number of milliseconds from 500 to 30000';
    end if;
    v_timeout_ms := (v_timeout #>> '{}')::numeric::int;
  end if;

  if p_config ? 'headers' then
    v_headers := p_config -> 'headers';
    if pg_catalog.jsonb_typeof(v_headers) <> 'object' then
      raise exception using
        errcode = '22023', message = 'config.headers must be an object of header names to string values';
    end if;
    if (select pg_catalog.count(*) from pg_catalog.jsonb_object_keys(v_headers)) > 20 then
      raise exception using errcode = '22023', message = 'config.headers may hold at most 20 headers';
    end if;
    for v_name, v_value in select e.key, e.value from pg_catalog.jsonb_each(v_headers) e loop
      if v_name !~ '^[A-Za-z0-9!#$%&''*+.^_`|~-]{1,100}$' then
        raise exception using
          errcode = '22023', message = pg_catalog.format('config.headers: %L is not a valid header name', v_name);
      end if;
      if pg_catalog.lower(v_name) in (
          'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'host', 'content-type',
          'content-length', 'transfer-encoding', 'connection', 'user-agent')
        or pg_catalog.lower(v_name) like 'x-plugin-%'
        or pg_catalog.lower(v_name) like 'webhook-%'
      then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format('config.headers: %s is set by the platform and cannot be configured', v_name);
      end if;
      -- pg_net follows redirects and sends these headers on to the next host: a receiver that
      -- redirects to a cloud metadata service (GCP, Azure) would have it answer with credentials.
      if pg_catalog.lower(v_name) in ('metadata', 'metadata-flavor', 'x-google-metadata-request') then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format(
            'config.headers: %s is a cloud metadata service header and cannot be configured', v_name);
      end if;
      if pg_catalog.lower(v_name) ~ '(auth|token|secret|passw|api[-_]?key|session|signature|cookie)' then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format(
            'config.headers: %s looks like it carries a secret; headers are stored in plain text', v_name),
          hint = 'Keep secrets in Vault and reference them with secret_ref.';
      end if;
      if pg_catalog.jsonb_typeof(v_value) <> 'string'
        or pg_catalog.length(v_value #>> '{}') > 1024
        or (v_value #>> '{}') ~ '[[:cntrl:]]'
      then
        raise exception using
          errcode = '22023',
          message = pg_catalog.format(
            'config.headers.%s must be a string of at most 1024 characters without control characters', v_name);
      end if;
    end loop;
  end if;

  return p_config || pg_catalog.jsonb_build_object('timeout_ms', v_timeout_ms);
end
$$;

comment on function private.validate_installation_config(jsonb) is
  'Raises 22023 for an invalid installation config; returns it with timeout_ms filled in (default 5000).';

-- Secret claims --------------------------------------------------------------------------------------

-- A key signs what the database sends for one tenant and checks what that tenant's partner sends back.
-- The first tenant whose installation names a Vault secret keeps it, also after uninstalling: handing
-- the key to another tenant would let that tenant's admin obtain deliveries signed with it (and replay
-- them to the first tenant's receiver). Deleting the tenant releases its claims; an operator releases
-- one by deleting its row.
create table int.plugin_secret_claims (
  secret_ref text primary key,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  created_at timestamptz not null default now()
);

comment on table int.plugin_secret_claims is
  'Which tenant a Vault secret name (an installation''s secret_ref) belongs to: the first to use it, for good. Written by a trigger on int.plugin_installations.';

-- The tenant delete's cascade looks claims up by tenant.
create index plugin_secret_claims_tenant_id_idx on int.plugin_secret_claims (tenant_id);

alter table int.plugin_secret_claims enable row level security;

revoke all on table int.plugin_secret_claims from public, anon, authenticated, service_role;

create function private.plugin_installation_claim_secret()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_owner uuid;
begin
  -- A concurrent first claim of the same name makes this wait for its commit, then see it.
  insert into int.plugin_secret_claims (secret_ref, tenant_id)
  values (new.secret_ref, new.tenant_id)
  on conflict (secret_ref) do nothing;
  select c.tenant_id into v_owner from int.plugin_secret_claims c where c.secret_ref = new.secret_ref;
  if v_owner is distinct from new.tenant_id then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('secret_ref %L is used by another tenant', new.secret_ref),
      hint = 'Give each tenant its own Vault secret.';
  end if;
  return null;
end
$$;

comment on function private.plugin_installation_claim_secret() is
  'AFTER trigger on int.plugin_installations: records the installation''s tenant as the owner of its secret_ref, or raises 22023 when another tenant owns it.';

revoke all on function private.plugin_installation_claim_secret() from public, anon, authenticated;

create trigger plugin_installations_claim_secret
  after insert on int.plugin_installations
  for each row execute function private.plugin_installation_claim_secret();

create trigger plugin_installations_claim_changed_secret
  after update of secret_ref, tenant_id on int.plugin_installations
  for each row when (old.secret_ref is distinct from new.secret_ref or old.tenant_id is distinct from new.tenant_id)
  execute function private.plugin_installation_claim_secret();

-- Pointing an installation at another tenant's key, or at one of the project's own secrets, would let
-- this tenant's admin obtain messages signed with it; both are refused: the project's own here, another
-- tenant's by the claim the trigger above writes in the same statement.
create function private.validate_secret_ref(p_secret_ref text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if p_secret_ref is null or pg_catalog.btrim(p_secret_ref) = '' then
    raise exception using errcode = '22023', message = 'secret_ref is required: the name of a Vault secret';
  end if;
  if pg_catalog.length(p_secret_ref) > 255 or p_secret_ref ~ '[[:cntrl:]]' then
    raise exception using
      errcode = '22023', message = 'secret_ref must be a Vault secret name of at most 255 characters';
  end if;
  -- The project's own secret families (those its migrations read with private.get_secret and any
  -- added to them later): handle_new_user_*, messages_webhook_*, sendry_*.
  if p_secret_ref like 'handle\_new\_user\_%'
    or p_secret_ref like 'messages\_webhook\_%'
    or p_secret_ref like 'sendry\_%'
  then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('secret_ref %L is one of the project''s own secrets', p_secret_ref),
      hint = 'Create a Vault secret for this installation, e.g. select vault.create_secret(''<key>'', ''<name>'');';
  end if;
  -- Only the name is looked at; the secret's value is never read here.
  if not exists (select 1 from vault.secrets s where s.name = p_secret_ref) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('secret_ref %L does not name a Vault secret', p_secret_ref),
      hint = 'Create it first, e.g. select vault.create_secret(''<key>'', ''<name>'');';
  end if;
end
$$;

comment on function private.validate_secret_ref(text) is
  'Raises 22023 unless a Vault secret with this name exists and is not one of the project''s own (another tenant''s is refused by the plugin_installations_claim_secret triggers). Never reads the secret''s value.';

create function private.validate_max_attempts(p_max_attempts int)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_max_attempts is null or p_max_attempts not between 1 and 20 then
    raise exception using errcode = '22023', message = 'max_attempts must be from 1 to 20';
  end if;
end
$$;

comment on function private.validate_max_attempts(int) is 'Raises 22023 unless max_attempts is from 1 to 20.';

create function private.installation_tenant(p_installation_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_tenant_id uuid;
begin
  if p_installation_id is null then
    raise exception using errcode = '22023', message = 'installation id is required';
  end if;
  select i.tenant_id into v_tenant_id from int.plugin_installations i where i.id = p_installation_id;
  if v_tenant_id is null then
    raise exception using
      errcode = 'PT404', message = pg_catalog.format('plugin installation %s does not exist', p_installation_id);
  end if;
  return v_tenant_id;
end
$$;

comment on function private.installation_tenant(uuid) is
  'The tenant of an installation; raises PT404 (HTTP 404 through the API) when there is none.';

revoke all on function private.allow_private_webhook_urls() from public, anon, authenticated;
revoke all on function private.special_ip_range(inet) from public, anon, authenticated;
revoke all on function private.validate_webhook_url(text) from public, anon, authenticated;
revoke all on function private.validate_installation_config(jsonb) from public, anon, authenticated;
revoke all on function private.validate_secret_ref(text) from public, anon, authenticated;
revoke all on function private.validate_max_attempts(int) from public, anon, authenticated;
revoke all on function private.installation_tenant(uuid) from public, anon, authenticated;

-- RPCs -----------------------------------------------------------------------------------------------

create function public.rpc_install_plugin(
  p_tenant_id uuid,
  p_plugin_key text,
  p_config jsonb,
  p_secret_ref text,
  p_max_attempts int default 8
)
returns uuid
language plpgsql
volatile
-- definer: int.* is not granted to any API role; the body requires tenant.admin of p_tenant_id first.
security definer
set search_path = ''
as $$
declare
  v_config jsonb;
  v_existing uuid;
  v_id uuid;
begin
  perform private.require_tenant_role(p_tenant_id, 'tenant.admin');
  if not exists (select 1 from public.tenants t where t.id = p_tenant_id) then
    raise exception using errcode = 'PT404', message = pg_catalog.format('tenant %s does not exist', p_tenant_id);
  end if;
  perform private.validate_plugin_key(p_plugin_key);
  if not exists (select 1 from int.plugins p where p.key = p_plugin_key) then
    raise exception using
      errcode = '22023', message = pg_catalog.format('plugin %L is not registered', p_plugin_key);
  end if;
  if not exists (select 1 from int.plugins p where p.key = p_plugin_key and p.is_active) then
    raise exception using
      errcode = '22023', message = pg_catalog.format('plugin %L is not active and cannot be installed', p_plugin_key);
  end if;
  v_config := private.validate_installation_config(p_config);
  perform private.validate_secret_ref(p_secret_ref);
  perform private.validate_max_attempts(p_max_attempts);

  select i.id into v_existing
  from int.plugin_installations i
  where i.tenant_id = p_tenant_id and i.plugin_key = p_plugin_key;
  if v_existing is not null then
    raise exception using
      errcode = '23505',
      message = pg_catalog.format('plugin %L is already installed in this tenant (installation %s)',
        p_plugin_key, v_existing),
      hint = 'Change it with rpc_update_plugin_installation.';
  end if;

  insert into int.plugin_installations (tenant_id, plugin_key, config, secret_ref, max_attempts, created_by)
  values (p_tenant_id, p_plugin_key, v_config, p_secret_ref, p_max_attempts, private.current_actor())
  returning id into v_id;
  return v_id;
end
$$;

comment on function public.rpc_install_plugin(uuid, text, jsonb, text, int) is
  'Tenant admins: installs a registered, active plugin in the tenant with config {webhook_url, timeout_ms?, headers?} '
  'and secret_ref (a Vault secret name); returns the installation id.';

create function public.rpc_update_plugin_installation(
  p_installation_id uuid,
  p_config jsonb default null,
  p_secret_ref text default null,
  p_is_active boolean default null,
  p_max_attempts int default null
)
returns void
language plpgsql
volatile
-- definer: int.* is not granted to any API role; the body requires tenant.admin of the
-- installation's tenant first.
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid := private.installation_tenant(p_installation_id);
  v_config jsonb;
begin
  perform private.require_tenant_role(v_tenant_id, 'tenant.admin');
  if p_config is null and p_secret_ref is null and p_is_active is null and p_max_attempts is null then
    raise exception using
      errcode = '22023', message = 'nothing to update: pass config, secret_ref, is_active or max_attempts';
  end if;
  if p_config is not null then
    v_config := private.validate_installation_config(p_config);
  end if;
  if p_secret_ref is not null then
    perform private.validate_secret_ref(p_secret_ref);
  end if;
  if p_max_attempts is not null then
    perform private.validate_max_attempts(p_max_attempts);
  end if;

  update int.plugin_installations i
  set config = coalesce(v_config, i.config),
    secret_ref = coalesce(p_secret_ref, i.secret_ref),
    is_active = coalesce(p_is_active, i.is_active),
    max_attempts = coalesce(p_max_attempts, i.max_attempts)
  where i.id = p_installation_id;
end
$$;

comment on function public.rpc_update_plugin_installation(uuid, jsonb, text, boolean, int) is
  'Tenant admins: changes an installation. A given config replaces the old one whole; null arguments keep their value.';

create function public.rpc_uninstall_plugin(p_installation_id uuid)
returns void
language plpgsql
volatile
-- definer: int.* is not granted to any API role; the body requires tenant.admin of the
-- installation's tenant first.
security definer
set search_path = ''
as $$
begin
  perform private.require_tenant_role(private.installation_tenant(p_installation_id), 'tenant.admin');
  -- Subscriptions and queued deliveries go with it (on delete cascade).
  delete from int.plugin_installations i where i.id = p_installation_id;
end
$$;

comment on function public.rpc_uninstall_plugin(uuid) is
  'Tenant admins: removes an installation with its subscriptions and queued deliveries.';

revoke all on function public.rpc_install_plugin(uuid, text, jsonb, text, int) from public, anon, authenticated;
revoke all on function public.rpc_update_plugin_installation(uuid, jsonb, text, boolean, int)
  from public, anon, authenticated;
revoke all on function public.rpc_uninstall_plugin(uuid) from public, anon, authenticated;
grant execute on function public.rpc_install_plugin(uuid, text, jsonb, text, int) to authenticated, service_role;
grant execute on function public.rpc_update_plugin_installation(uuid, jsonb, text, boolean, int)
  to authenticated, service_role;
grant execute on function public.rpc_uninstall_plugin(uuid) to authenticated, service_role;
