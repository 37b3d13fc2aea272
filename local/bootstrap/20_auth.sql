-- Schema `auth` as Supabase Auth (GoTrue) leaves it after its own migrations, reduced to what the
-- project's triggers, RLS policies and the local signup endpoint use: auth.users and auth.identities
-- with GoTrue's columns, constraints and indexes, the claim helpers auth.uid(), auth.role(),
-- auth.email() and auth.jwt(), and Supabase's grants. Runs after 00_roles.sql. Idempotent: the local
-- stack runs it on every start.

-- GoTrue's own role. On Supabase it owns the auth tables and is the role that inserts into auth.users
-- at signup, so functions fired by triggers on auth.users run as it; the local signup endpoint should
-- `set local role supabase_auth_admin` before inserting, to fail the same way when a trigger function
-- lacks `security definer` or grants.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin nologin noinherit;
  end if;
end
$$;

-- As on Supabase; the local signup endpoint sets it itself, since `set role` does not apply it.
alter role supabase_auth_admin set search_path = auth;

create schema if not exists auth;

comment on schema auth is 'Supabase Auth (local stand-in): users, identities and JWT claim helpers.';

grant usage on schema auth to anon, authenticated, service_role;
grant all on schema auth to supabase_auth_admin;

-- auth.users ------------------------------------------------------------------------------------------

create table if not exists auth.users (
  instance_id uuid,
  id uuid not null,
  aud character varying(255),
  role character varying(255),
  email character varying(255),
  encrypted_password character varying(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token character varying(255),
  confirmation_sent_at timestamptz,
  recovery_token character varying(255),
  recovery_sent_at timestamptz,
  email_change_token_new character varying(255),
  email_change character varying(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text default null::character varying,
  phone_confirmed_at timestamptz,
  phone_change text default ''::character varying,
  phone_change_token character varying(255) default ''::character varying,
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current character varying(255) default ''::character varying,
  email_change_confirm_status smallint default 0,
  banned_until timestamptz,
  reauthentication_token character varying(255) default ''::character varying,
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false,
  constraint users_pkey primary key (id),
  constraint users_phone_key unique (phone),
  constraint users_email_change_confirm_status_check
    check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2)
);

comment on table auth.users is 'Auth: Stores user login data within a secure schema.';
comment on column auth.users.is_sso_user is
  'Auth: Set this column to true when the account comes from SSO. These accounts can have duplicate emails.';

create unique index if not exists users_email_partial_key on auth.users using btree (email)
  where (is_sso_user = false);
comment on index auth.users_email_partial_key is
  'Auth: A partial unique index that applies only when is_sso_user is false';

create index if not exists users_instance_id_idx on auth.users using btree (instance_id);
create index if not exists users_instance_id_email_idx on auth.users using btree (instance_id, lower(email::text));
create index if not exists users_is_anonymous_idx on auth.users using btree (is_anonymous);
create unique index if not exists confirmation_token_idx on auth.users using btree (confirmation_token)
  where (confirmation_token::text !~ '^[0-9 ]*$');
create unique index if not exists recovery_token_idx on auth.users using btree (recovery_token)
  where (recovery_token::text !~ '^[0-9 ]*$');
create unique index if not exists email_change_token_current_idx on auth.users
  using btree (email_change_token_current) where (email_change_token_current::text !~ '^[0-9 ]*$');
create unique index if not exists email_change_token_new_idx on auth.users
  using btree (email_change_token_new) where (email_change_token_new::text !~ '^[0-9 ]*$');
create unique index if not exists reauthentication_token_idx on auth.users
  using btree (reauthentication_token) where (reauthentication_token::text !~ '^[0-9 ]*$');

alter table auth.users owner to supabase_auth_admin;
alter table auth.users enable row level security;

-- auth.identities -------------------------------------------------------------------------------------

create table if not exists auth.identities (
  provider_id text not null,
  user_id uuid not null,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid not null default pg_catalog.gen_random_uuid(),
  constraint identities_pkey primary key (id),
  constraint identities_provider_id_provider_unique unique (provider_id, provider),
  constraint identities_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade
);

comment on table auth.identities is 'Auth: Stores identities associated to a user.';
comment on column auth.identities.email is
  'Auth: Email is a generated column that references the optional email property in the identity_data';

create index if not exists identities_user_id_idx on auth.identities using btree (user_id);
create index if not exists identities_email_idx on auth.identities using btree (email text_pattern_ops);

alter table auth.identities owner to supabase_auth_admin;
alter table auth.identities enable row level security;

-- Table privileges as on Supabase: GoTrue (owner) and postgres; the API roles get nothing.
revoke all on table auth.users, auth.identities from public, anon, authenticated, service_role;
grant all on table auth.users, auth.identities to postgres;

-- Claim helpers, as GoTrue defines them: PostgREST sets `request.jwt.claims` (JSON) per request;
-- the `request.jwt.claim.*` settings are the legacy per-claim form older PostgREST versions set.

create or replace function auth.uid()
returns uuid
language sql
stable
set search_path = ''
as $$
  select
    coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
      (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';

create or replace function auth.role()
returns text
language sql
stable
set search_path = ''
as $$
  select
    coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
      (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';

create or replace function auth.email()
returns text
language sql
stable
set search_path = ''
as $$
  select
    coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claim.email', true), ''),
      (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

create or replace function auth.jwt()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select
    coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

comment on function auth.jwt() is 'The claims of the request''s JWT, as PostgREST set them in request.jwt.claims.';

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;
