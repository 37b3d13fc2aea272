-- The `private` schema and `private.get_secret()`: one way for database code to read a Vault secret
-- by name.
--
-- Why: triggers and jobs that call outside services (pg_net) need URLs and tokens that must not live
-- in SQL, tables or logs. Vault keeps them encrypted; only `postgres` may decrypt them, so reading
-- one needs a `security definer` function. Keeping that function in a schema no client can reach, with
-- execute revoked from everyone but its owner, means no API role can ever call it. A missing secret
-- raises an error that names the secret (never a value) and says how to create it.
--
-- `private` is shared with other features (the tenancy migration creates and comments it); these
-- statements are idempotent so this file also stands on its own.

create schema if not exists private;

revoke all on schema private from public, anon, authenticated, service_role;

create or replace function private.get_secret(p_name text)
returns text
language plpgsql
stable
-- definer: vault.decrypted_secrets is readable only by postgres; callers are trigger functions and
-- jobs in this schema, never clients (execute is revoked below).
security definer
set search_path = ''
as $$
declare
  v_secret text;
begin
  if p_name is null or pg_catalog.btrim(p_name) = '' then
    raise exception using
      errcode = '22023',
      message = 'private.get_secret: the secret name must not be empty';
  end if;

  select ds.decrypted_secret
  into v_secret
  from vault.decrypted_secrets as ds
  where ds.name = p_name;

  if v_secret is null or v_secret = '' then
    raise exception using
      errcode = 'P0002',
      message = pg_catalog.format('Vault secret "%s" is missing or empty', p_name),
      hint = pg_catalog.format('Create it with: select vault.create_secret(''<value>'', %L);', p_name);
  end if;

  return v_secret;
end
$$;

comment on function private.get_secret(text) is
  'Returns the decrypted Vault secret named p_name; raises P0002 naming the secret (never a value) when it is missing or empty.';

create or replace function private.get_optional_secret(p_name text)
returns text
language sql
stable
-- definer: as private.get_secret, for settings that may be absent (for example an API base URL).
security definer
set search_path = ''
as $$
  select nullif(ds.decrypted_secret, '')
  from vault.decrypted_secrets as ds
  where ds.name = p_name
$$;

comment on function private.get_optional_secret(text) is
  'Returns the decrypted Vault secret named p_name, or null when it is missing or empty.';

revoke all on function private.get_secret(text) from public, anon, authenticated, service_role;
revoke all on function private.get_optional_secret(text) from public, anon, authenticated, service_role;
