-- New users are provisioned in the backend by the handleNewUser Edge Function, called from the
-- database: an AFTER INSERT trigger on auth.users queues a pg_net request with the database-webhook
-- payload {type, table, schema, record, old_record}; public.user_provisioning keeps each user's
-- status so failures are visible and retryable.
--
-- Why this shape:
-- * A signup must never fail or wait because of the backend: pg_net only queues the request (it is
--   sent after commit) and the trigger swallows every error as a warning.
-- * The function URL and the bearer secret the function checks live in Vault
--   (`handle_new_user_url`, `handle_new_user_secret`), read only inside definer functions.
-- * The record sent is the auth.users row without the password hash and without any *_token column,
--   its metadata cut to the names past 32 KB (pg_net does not send POST bodies over 64 KB).
-- * The function reports the outcome through rpc_record_user_provisioning (service role);
--   private.reconcile_user_provisioning (pg_cron, every minute) settles calls that never reached
--   the function from net._http_response; rpc_retry_user_provisioning re-sends failed ones.
-- * pg_net's request ids start again at 1 when the extension is created again or its unlogged
--   tables are reset (a crash), so each row keeps the generation of ids its request was queued in
--   (private.pg_net_generation), and responses and queued requests are matched only to rows of the
--   current one. A call still pending from an older generation can get no response: like any call
--   without one, it is lost after 15 minutes.

create table if not exists public.user_provisioning (
  user_id uuid primary key references auth.users (id) on delete cascade,
  status text not null default 'pending' check (status in ('pending', 'provisioned', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  request_id bigint,
  net_generation bigint,
  last_error text check (last_error is null or pg_catalog.length(last_error) <= 1000),
  provisioned_at timestamptz,
  created_at timestamptz not null default pg_catalog.now(),
  updated_at timestamptz not null default pg_catalog.now()
);

comment on table public.user_provisioning is
  'Per user: has the backend been provisioned (POST {API_URL}/users by handleNewUser)? Service role only.';
comment on column public.user_provisioning.status is
  'pending (call queued), provisioned (backend accepted or already had the user), failed (see last_error).';
comment on column public.user_provisioning.attempts is 'How many calls to handleNewUser were queued for this user.';
comment on column public.user_provisioning.request_id is 'The pg_net request id of the latest call.';
comment on column public.user_provisioning.net_generation is
  'The generation of pg_net request ids (private.pg_net_generation) that request_id belongs to; ids start again at 1 in each.';
comment on column public.user_provisioning.last_error is 'Why the latest attempt failed; never a secret.';

create index if not exists user_provisioning_unsettled_idx
  on public.user_provisioning (status, updated_at)
  where status <> 'provisioned';

alter table public.user_provisioning enable row level security;

revoke all on table public.user_provisioning from public, anon, authenticated, service_role;
grant select, insert, update on table public.user_provisioning to service_role;

create or replace view public.v_user_provisioning_failures
with (security_invoker = true)
as
select p.user_id, p.attempts, p.last_error, p.request_id, p.created_at, p.updated_at
from public.user_provisioning as p
where p.status = 'failed';

comment on view public.v_user_provisioning_failures is
  'Users whose backend provisioning failed, with the reason; re-send them with rpc_retry_user_provisioning.';

revoke all on table public.v_user_provisioning_failures from public, anon, authenticated, service_role;
grant select on table public.v_user_provisioning_failures to service_role;

-- The payload --------------------------------------------------------------------------------------

-- The metadata is whatever the client passed to signUp (or an admin set), of any size. pg_net does not
-- send a POST body over 64 KB (the call hangs until its timeout) and handleNewUser refuses bodies over
-- 256 KB, so an unbounded record would fail on every retry and the user would never be provisioned. A
-- record over 32 KB keeps every column, but its metadata shrinks to what the function reads (the names,
-- as private.metadata_name and the profile take them; the sign-in provider) and it says so with
-- "metadata_truncated": true. Every other column is bounded.
create or replace function private.auth_user_webhook_record(p_user auth.users)
returns jsonb
language sql
stable
set search_path = ''
as $$
  with whole as (
    select coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), '{}'::jsonb) as record
    from pg_catalog.jsonb_each(pg_catalog.to_jsonb(p_user)) as e(key, value)
    where e.key <> 'encrypted_password' and e.key !~ '_token(_|$)'
  )
  select case
    when pg_catalog.octet_length(w.record::text) <= 32768 then w.record
    else w.record || pg_catalog.jsonb_build_object(
      'raw_user_meta_data', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'first_name', private.metadata_name(p_user.raw_user_meta_data, 'first_name', 'given_name'),
        'last_name', private.metadata_name(p_user.raw_user_meta_data, 'last_name', 'family_name'))),
      'raw_app_meta_data', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'provider', private.metadata_name(p_user.raw_app_meta_data, 'provider', 'provider'))),
      'metadata_truncated', true)
  end
  from whole as w
$$;

comment on function private.auth_user_webhook_record(auth.users) is
  'The auth.users row as JSON without encrypted_password and without any *_token column; over 32 KB, its metadata is cut to the names and the provider ("metadata_truncated": true).';

create or replace function private.send_handle_new_user(p_user auth.users, p_url text, p_secret text)
returns bigint
language plpgsql
set search_path = ''
as $$
begin
  return net.http_post(
    url := p_url,
    body := pg_catalog.jsonb_build_object(
      'type', 'INSERT',
      'table', 'users',
      'schema', 'auth',
      'record', private.auth_user_webhook_record(p_user),
      'old_record', null
    ),
    headers := pg_catalog.jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || p_secret
    ),
    -- Above the function's own backend timeout (5 s by default), so it can answer with the outcome.
    timeout_milliseconds := 10000
  );
end
$$;

comment on function private.send_handle_new_user(auth.users, text, text) is
  'Queues the database-webhook call for p_user to handleNewUser at p_url with the bearer secret; returns the pg_net request id.';

revoke all on function private.auth_user_webhook_record(auth.users) from public, anon, authenticated, service_role;
revoke all on function private.send_handle_new_user(auth.users, text, text)
  from public, anon, authenticated, service_role;

-- The trigger ---------------------------------------------------------------------------------------

create or replace function private.queue_handle_new_user()
returns trigger
language plpgsql
-- definer: runs as supabase_auth_admin (GoTrue) during signup, which may neither read Vault nor
-- write public.user_provisioning.
security definer
set search_path = ''
as $$
declare
  v_request_id bigint;
  v_net bigint;
  v_error text;
begin
  begin
    v_request_id := private.send_handle_new_user(
      new,
      private.get_secret('handle_new_user_url'),
      private.get_secret('handle_new_user_secret')
    );
    -- the generation of pg_net request ids that the request id belongs to
    v_net := private.pg_net_generation();
    insert into public.user_provisioning (user_id, status, attempts, request_id, net_generation)
    values (new.id, 'pending', 1, v_request_id, v_net)
    on conflict (user_id) do update
      set status = 'pending', attempts = public.user_provisioning.attempts + 1,
        request_id = excluded.request_id, net_generation = excluded.net_generation, last_error = null,
        updated_at = pg_catalog.now();
  exception when others then
    -- A missing secret names itself; other errors may quote the URL, so only their code is kept.
    v_error := case when sqlstate = 'P0002' then 'not sent: ' || sqlerrm
      else pg_catalog.format('not sent: queueing the call failed (SQLSTATE %s)', sqlstate) end;
    raise warning 'handleNewUser: user % not queued for provisioning: %', new.id, v_error;
    begin
      insert into public.user_provisioning (user_id, status, attempts, last_error)
      values (new.id, 'failed', 0, v_error)
      on conflict (user_id) do update
        set status = 'failed', last_error = excluded.last_error, updated_at = pg_catalog.now();
    exception when others then
      raise warning 'handleNewUser: could not record the status of user %: SQLSTATE %', new.id, sqlstate;
    end;
  end;
  return null;
end
$$;

comment on function private.queue_handle_new_user() is
  'Trigger on auth.users INSERT: queues the handleNewUser call with pg_net and records status pending; never raises.';

revoke all on function private.queue_handle_new_user() from public, anon, authenticated, service_role;

create or replace trigger on_auth_user_created_handle_new_user
  after insert on auth.users
  for each row execute function private.queue_handle_new_user();

-- The function reports back ---------------------------------------------------------------------------

create or replace function public.rpc_record_user_provisioning(
  p_user_id uuid,
  p_status text,
  p_error text default null
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
begin
  if p_user_id is null then
    raise exception using errcode = '22023', message = 'p_user_id is required';
  end if;
  if p_status is null or p_status not in ('provisioned', 'failed') then
    raise exception using errcode = '22023',
      message = pg_catalog.format('p_status must be ''provisioned'' or ''failed'', not %L', p_status);
  end if;

  insert into public.user_provisioning as p (user_id, status, attempts, last_error, provisioned_at)
  values (
    p_user_id,
    p_status,
    1,
    case when p_status = 'failed' then pg_catalog.left(coalesce(p_error, 'failed'), 1000) end,
    case when p_status = 'provisioned' then pg_catalog.now() end
  )
  on conflict (user_id) do update
    -- Once provisioned, a later failure report (a duplicate or stale call) does not undo it.
    set status = case when p.status = 'provisioned' then 'provisioned' else excluded.status end,
      last_error = case when p.status = 'provisioned' or excluded.status = 'provisioned' then null
        else excluded.last_error end,
      provisioned_at = coalesce(p.provisioned_at, excluded.provisioned_at),
      updated_at = pg_catalog.now()
  returning p.status into v_status;

  return v_status;
exception when foreign_key_violation then
  raise exception using errcode = 'P0002', message = pg_catalog.format('user %s does not exist', p_user_id);
end
$$;

comment on function public.rpc_record_user_provisioning(uuid, text, text) is
  'Service role (handleNewUser): records a user''s provisioning outcome; returns the resulting status. A provisioned user stays provisioned.';

revoke all on function public.rpc_record_user_provisioning(uuid, text, text) from public, anon, authenticated;
grant execute on function public.rpc_record_user_provisioning(uuid, text, text) to service_role;

-- Retry -----------------------------------------------------------------------------------------------

create or replace function public.rpc_retry_user_provisioning(
  p_user_id uuid default null,
  p_limit integer default 100
)
returns table (user_id uuid, request_id bigint)
language plpgsql
-- definer: reads auth.users and the Vault secrets, which the service role cannot.
security definer
set search_path = ''
as $$
declare
  v_url text;
  v_secret text;
  v_user auth.users;
  v_request_id bigint;
  -- the generation of pg_net request ids that this call's requests belong to
  v_net bigint := private.pg_net_generation();
begin
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception using errcode = '22023', message = 'p_limit must be between 1 and 1000';
  end if;
  if p_user_id is not null and not exists (select 1 from auth.users as u where u.id = p_user_id) then
    raise exception using errcode = 'P0002', message = pg_catalog.format('user %s does not exist', p_user_id);
  end if;
  -- Raises, naming the missing secret, before anything is written.
  v_url := private.get_secret('handle_new_user_url');
  v_secret := private.get_secret('handle_new_user_secret');

  for v_user in
    select u.*
    from auth.users as u
    where (p_user_id is not null and u.id = p_user_id
        and not exists (
          select 1 from public.user_provisioning as p where p.user_id = u.id and p.status = 'provisioned'))
      or (p_user_id is null and exists (
          select 1 from public.user_provisioning as p where p.user_id = u.id and p.status = 'failed'))
    order by u.id
    limit p_limit
  loop
    v_request_id := private.send_handle_new_user(v_user, v_url, v_secret);
    insert into public.user_provisioning as p (user_id, status, attempts, request_id, net_generation)
    values (v_user.id, 'pending', 1, v_request_id, v_net)
    on conflict on constraint user_provisioning_pkey do update
      set status = 'pending', attempts = p.attempts + 1, request_id = excluded.request_id,
        net_generation = excluded.net_generation, last_error = null, updated_at = pg_catalog.now();
    user_id := v_user.id;
    request_id := v_request_id;
    return next;
  end loop;
end
$$;

comment on function public.rpc_retry_user_provisioning(uuid, integer) is
  'Service role: re-sends the handleNewUser call for failed users (or for p_user_id unless provisioned), at most p_limit; returns the queued requests.';

revoke all on function public.rpc_retry_user_provisioning(uuid, integer) from public, anon, authenticated;
grant execute on function public.rpc_retry_user_provisioning(uuid, integer) to service_role;

-- Reconcile -------------------------------------------------------------------------------------------

create or replace function private.reconcile_user_provisioning()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_answered integer;
  v_lost integer;
  -- the generation whose responses and queue are read; request ids of an older one mean nothing in them
  v_net bigint := private.pg_net_generation();
begin
  -- Calls that got an answer while the row is still pending: the function never reported back
  -- (it was not reached, crashed, or could not call the RPC). A 2xx means it provisioned the user.
  update public.user_provisioning as p
  set status = case when r.status_code between 200 and 299 then 'provisioned' else 'failed' end,
    provisioned_at = case when r.status_code between 200 and 299 then pg_catalog.now() end,
    last_error = case
      when r.status_code between 200 and 299 then null
      when r.status_code is not null then pg_catalog.left(pg_catalog.format('handleNewUser answered HTTP %s: %s',
        r.status_code, pg_catalog.left(coalesce(r.content, ''), 300)), 1000)
      else pg_catalog.format('handleNewUser call failed: %s', pg_catalog.left(coalesce(r.error_msg, 'no response'), 300))
    end,
    updated_at = pg_catalog.now()
  from net._http_response as r
  where p.status = 'pending' and p.net_generation = v_net and r.id = p.request_id;
  get diagnostics v_answered = row_count;

  -- pg_net's tables are unlogged and responses expire: a call with neither a queued request nor a
  -- response after 15 minutes is lost. A call queued in an older generation (pg_net created again,
  -- or its tables reset by a crash) has neither: the current rows under the same id belong to others.
  update public.user_provisioning as p
  set status = 'failed', last_error = 'handleNewUser call lost: no response was recorded',
    updated_at = pg_catalog.now()
  where p.status = 'pending'
    and p.updated_at < pg_catalog.now() - interval '15 minutes'
    and not (
      p.net_generation is not distinct from v_net
      and (exists (select 1 from net._http_response as r where r.id = p.request_id)
        or exists (select 1 from net.http_request_queue as q where q.id = p.request_id))
    );
  get diagnostics v_lost = row_count;

  return pg_catalog.jsonb_build_object('settled', v_answered, 'lost', v_lost);
end
$$;

comment on function private.reconcile_user_provisioning() is
  'pg_cron job: settles pending provisioning calls from net._http_response of the current pg_net generation and marks lost ones failed.';

revoke all on function private.reconcile_user_provisioning() from public, anon, authenticated, service_role;

select cron.schedule(
  'reconcile-user-provisioning',
  '* * * * *',
  'select private.reconcile_user_provisioning()'
);
