-- Local stand-in for Supabase Vault 0.3.1, for the Docker-free local stack only (never deployed).
--
-- Same contract as the real extension: vault.secrets (ciphertext only), vault.decrypted_secrets,
-- vault.create_secret(), vault.update_secret(), the internal vault._crypto_aead_det_* functions the
-- view and Supabase's grant scripts refer to, and Supabase's default privileges (postgres and
-- service_role only).
--
-- Differences from the real one, all internal: pgcrypto's pgp_sym_encrypt (AES-256 with an integrity
-- check) replaces libsodium's deterministic AEAD, and the root key is read from the file
-- `supabase_vault.key` in the data directory instead of from pgsodium's key file. Each secret is
-- encrypted under a key derived from the root key, its nonce and its id, so a ciphertext copied onto
-- another row does not decrypt.

\echo Use "create extension supabase_vault" to load this file. \quit

do $$
begin
  if not exists (
    select 1
    from pg_catalog.pg_extension e
    join pg_catalog.pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgcrypto' and n.nspname = 'extensions'
  ) then
    raise exception 'supabase_vault needs pgcrypto installed in schema extensions'
      using hint = 'run: create extension pgcrypto with schema extensions';
  end if;
end
$$;

-- Root key ------------------------------------------------------------------------------------------

create function vault._read_key()
returns bytea
language plpgsql
stable
-- definer: pg_read_file needs superuser (or pg_read_server_files); callers only ever reach it through
-- the definer functions below, and execute is revoked from everyone else.
security definer
set search_path = ''
as $$
declare
  key_text text := pg_catalog.pg_read_file('supabase_vault.key', 0, 4096, true);
begin
  if key_text is null then
    raise exception using
      errcode = 'undefined_file',
      message = 'supabase_vault: key file "supabase_vault.key" is missing from the data directory',
      hint = 'The local stack writes it when it creates the cluster: 64 hex characters (32 random bytes).';
  end if;
  key_text := pg_catalog.btrim(key_text, e' \t\r\n');
  if pg_catalog.length(key_text) < 32 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'supabase_vault: key file "supabase_vault.key" holds fewer than 32 characters';
  end if;
  return pg_catalog.convert_to(key_text, 'UTF8');
end
$$;

comment on function vault._read_key() is
  'Local stand-in only: reads the Vault root key from supabase_vault.key in the data directory.';

revoke all on function vault._read_key() from public;

-- Crypto primitives (same names and signatures as the real extension) --------------------------------

create function vault._crypto_aead_det_noncegen()
returns bytea
language sql
volatile
set search_path = ''
as $$
  select extensions.gen_random_bytes(16)
$$;

comment on function vault._crypto_aead_det_noncegen() is 'Returns a fresh random 16-byte nonce for a secret.';

create function vault._derive_key(additional bytea, key_id bigint, context bytea, nonce bytea)
returns text
language sql
stable
-- definer: it reads the root key, which only the extension owner may do.
security definer
set search_path = ''
as $$
  select pg_catalog.encode(
    extensions.hmac(
      pg_catalog.convert_to(
        pg_catalog.concat_ws(':',
          coalesce(key_id, 0)::text,
          pg_catalog.encode(coalesce(context, ''::bytea), 'hex'),
          pg_catalog.encode(coalesce(nonce, ''::bytea), 'hex'),
          pg_catalog.encode(coalesce(additional, ''::bytea), 'hex')),
        'UTF8'),
      vault._read_key(),
      'sha256'),
    'hex')
$$;

comment on function vault._derive_key(bytea, bigint, bytea, bytea) is
  'Local stand-in only: the per-secret key, HMAC-SHA256 of (key_id, context, nonce, additional) under the root key.';

revoke all on function vault._derive_key(bytea, bigint, bytea, bytea) from public;

create function vault._crypto_aead_det_encrypt(
  message bytea,
  additional bytea,
  key_id bigint,
  context bytea = 'pgsodium',
  nonce bytea = null
)
returns bytea
language sql
volatile
-- definer: encryption needs the root key, which only the extension owner can read.
security definer
set search_path = ''
as $$
  select extensions.pgp_sym_encrypt_bytea(
    message,
    vault._derive_key(additional, key_id, context, nonce),
    'cipher-algo=aes256, compress-algo=0, s2k-mode=1'
  )
$$;

comment on function vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea) is
  'Encrypts message under the Vault key, bound to additional (the secret id) and nonce.';

create function vault._crypto_aead_det_decrypt(
  message bytea,
  additional bytea,
  key_id bigint,
  context bytea = 'pgsodium',
  nonce bytea = null
)
returns bytea
language sql
stable
-- definer: decryption needs the root key, which only the extension owner can read; execute is granted
-- only to the roles that may read vault.decrypted_secrets, as on Supabase.
security definer
set search_path = ''
as $$
  select extensions.pgp_sym_decrypt_bytea(message, vault._derive_key(additional, key_id, context, nonce))
$$;

comment on function vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) is
  'Decrypts a ciphertext made by vault._crypto_aead_det_encrypt with the same additional data and nonce.';

-- Storage ---------------------------------------------------------------------------------------------

create table vault.secrets (
  id uuid primary key default pg_catalog.gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea default vault._crypto_aead_det_noncegen(),
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);

comment on table vault.secrets is 'Table with encrypted `secret` column for storing sensitive information on disk.';
comment on column vault.secrets.secret is 'Base64 ciphertext; the plaintext is only in vault.decrypted_secrets.';
comment on column vault.secrets.key_id is 'Unused since Vault 0.3 (kept for compatibility).';

create unique index secrets_name_idx on vault.secrets using btree (name) where name is not null;

create view vault.decrypted_secrets as
select
  s.id,
  s.name,
  s.description,
  s.secret,
  pg_catalog.convert_from(
    vault._crypto_aead_det_decrypt(
      message := pg_catalog.decode(s.secret, 'base64'),
      additional := pg_catalog.convert_to(s.id::text, 'utf8'),
      key_id := 0,
      context := 'pgsodium'::bytea,
      nonce := s.nonce
    ),
    'utf8'
  ) as decrypted_secret,
  s.key_id,
  s.nonce,
  s.created_at,
  s.updated_at
from vault.secrets s;

comment on view vault.decrypted_secrets is 'vault.secrets with the secret decrypted on read.';

-- API -------------------------------------------------------------------------------------------------

create function vault.create_secret(
  new_secret text,
  new_name text = null,
  new_description text = '',
  -- unused, as in Vault 0.3
  new_key_id uuid = null
)
returns uuid
language plpgsql
-- definer: callers may not insert into vault.secrets directly (as on Supabase), and encryption needs
-- the root key.
security definer
set search_path = ''
as $$
declare
  new_id uuid := pg_catalog.gen_random_uuid();
  new_nonce bytea := vault._crypto_aead_det_noncegen();
begin
  -- Unlike the real extension, which inserts the plaintext and then updates it, only the ciphertext
  -- is ever written, so no plaintext is left in a dead tuple or in a constraint error's detail.
  insert into vault.secrets (id, secret, name, description, nonce)
  values (
    new_id,
    pg_catalog.encode(
      vault._crypto_aead_det_encrypt(
        message := pg_catalog.convert_to(new_secret, 'utf8'),
        additional := pg_catalog.convert_to(new_id::text, 'utf8'),
        key_id := 0,
        context := 'pgsodium'::bytea,
        nonce := new_nonce
      ),
      'base64'
    ),
    new_name,
    new_description,
    new_nonce
  );
  return new_id;
end
$$;

comment on function vault.create_secret(text, text, text, uuid) is
  'Stores an encrypted secret and returns its id; new_key_id is ignored.';

create function vault.update_secret(
  secret_id uuid,
  new_secret text = null,
  new_name text = null,
  new_description text = null,
  -- unused, as in Vault 0.3
  new_key_id uuid = null
)
returns void
language plpgsql
-- definer: callers may not update vault.secrets directly (as on Supabase), and encryption needs the
-- root key.
security definer
set search_path = ''
as $$
begin
  update vault.secrets s
  set
    secret = case
      when new_secret is null then s.secret
      else pg_catalog.encode(
        vault._crypto_aead_det_encrypt(
          message := pg_catalog.convert_to(new_secret, 'utf8'),
          additional := pg_catalog.convert_to(s.id::text, 'utf8'),
          key_id := 0,
          context := 'pgsodium'::bytea,
          nonce := s.nonce
        ),
        'base64'
      )
    end,
    name = coalesce(new_name, s.name),
    description = coalesce(new_description, s.description),
    updated_at = pg_catalog.now()
  where s.id = secret_id;
end
$$;

comment on function vault.update_secret(uuid, text, text, text, uuid) is
  'Changes the secret, name and/or description of a secret (null leaves a field as it is); new_key_id is ignored.';

select pg_catalog.pg_extension_config_dump('vault.secrets', '');

-- Privileges, as Supabase sets them: the extension owner (postgres locally, which is the role Supabase
-- grants everything to with grant option) and service_role; nothing for public, anon or authenticated.

revoke all on table vault.secrets, vault.decrypted_secrets from public;
revoke all on function
  vault._crypto_aead_det_noncegen(),
  vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea),
  vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid)
from public;

grant usage on schema vault to service_role;
grant select, delete on table vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function
  vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
to service_role;
