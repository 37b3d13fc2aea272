-- public.profiles: one row per user with the names from signup metadata and the email opt-out flag
-- that the Sendry unsubscribe webhook sets.
--
-- Why: apps need a per-user place for data Auth does not own (auth.users is not exposed and its
-- metadata is user-writable). A trigger creates the row at signup; it never raises, so a profile
-- problem can never block a signup (a missing row is created later by whoever needs it). Users read
-- their own row; writes go through service-role RPCs.

create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  first_name text check (first_name is null or pg_catalog.length(first_name) <= 200),
  last_name text check (last_name is null or pg_catalog.length(last_name) <= 200),
  unsubscribed boolean not null default false,
  unsubscribed_at timestamptz,
  created_at timestamptz not null default pg_catalog.now(),
  updated_at timestamptz not null default pg_catalog.now()
);

comment on table public.profiles is
  'One row per user: names from signup metadata and the email opt-out flag (set by the sendry-unsub webhook).';
comment on column public.profiles.id is 'The user (auth.users.id); the row goes when the user is deleted.';
comment on column public.profiles.first_name is 'From raw_user_meta_data first_name (or given_name) at signup.';
comment on column public.profiles.last_name is 'From raw_user_meta_data last_name (or family_name) at signup.';
comment on column public.profiles.unsubscribed is
  'True once the user unsubscribed from emails (Sendry contact.unsubscribed); apps must not email them.';
comment on column public.profiles.unsubscribed_at is 'When the unsubscribe was first recorded.';

alter table public.profiles enable row level security;

create policy "users read their own profile"
  on public.profiles
  for select
  to authenticated
  using (id = (select auth.uid()));

revoke all on table public.profiles from public, anon, authenticated, service_role;
grant select on table public.profiles to authenticated;
grant select, insert, update, delete on table public.profiles to service_role;

-- Names from signup metadata, trimmed and bounded; OAuth providers say given_name / family_name.
-- Metadata is whatever the client sent at signup: only a non-blank string counts as a name.
create or replace function private.metadata_name(p_metadata jsonb, p_key text, p_fallback_key text)
returns text
language sql
immutable
set search_path = ''
as $$
  -- Trimmed of spaces, tabs and line breaks, as handleNewUser trims the names it sends the backend.
  select pg_catalog.left(coalesce(
    nullif(pg_catalog.btrim(case when pg_catalog.jsonb_typeof(p_metadata -> p_key) = 'string'
      then p_metadata ->> p_key end, E' \t\r\n'), ''),
    nullif(pg_catalog.btrim(case when pg_catalog.jsonb_typeof(p_metadata -> p_fallback_key) = 'string'
      then p_metadata ->> p_fallback_key end, E' \t\r\n'), '')),
    200)
$$;

comment on function private.metadata_name(jsonb, text, text) is
  'The trimmed string under p_key (else p_fallback_key) in user metadata, at most 200 characters, or null.';

revoke all on function private.metadata_name(jsonb, text, text) from public, anon, authenticated, service_role;

create or replace function private.create_profile_for_new_user()
returns trigger
language plpgsql
-- definer: runs as supabase_auth_admin (GoTrue) during signup, which may not write public.profiles.
security definer
set search_path = ''
as $$
begin
  begin
    insert into public.profiles (id, first_name, last_name)
    values (
      new.id,
      private.metadata_name(new.raw_user_meta_data, 'first_name', 'given_name'),
      private.metadata_name(new.raw_user_meta_data, 'last_name', 'family_name')
    )
    on conflict (id) do nothing;
  exception when others then
    -- Never block a signup: the profile can be created later.
    raise warning 'create_profile_for_new_user: no profile for user %: % (%)', new.id, sqlerrm, sqlstate;
  end;
  return null;
end
$$;

comment on function private.create_profile_for_new_user() is
  'Trigger on auth.users INSERT: creates the user''s profile; never raises, so signups never fail because of it.';

revoke all on function private.create_profile_for_new_user() from public, anon, authenticated, service_role;

create or replace trigger on_auth_user_created_create_profile
  after insert on auth.users
  for each row execute function private.create_profile_for_new_user();

-- Users who signed up before this migration get their profile now.
insert into public.profiles (id, first_name, last_name)
select
  u.id,
  private.metadata_name(u.raw_user_meta_data, 'first_name', 'given_name'),
  private.metadata_name(u.raw_user_meta_data, 'last_name', 'family_name')
from auth.users as u
on conflict (id) do nothing;
