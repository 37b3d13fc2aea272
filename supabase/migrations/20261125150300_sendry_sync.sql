-- Sync new users into a Sendry audience: an AFTER INSERT trigger on auth.users queues
-- `POST <base>/v1/contacts` with pg_net; public.sendry_sync_log records every request; a pg_cron job
-- reconciles the log from net._http_response; a resumable backfill and a retry RPC cover existing and
-- failed users.
--
-- Why this shape:
-- * Keys live in Vault: `sendry_api_key`, `sendry_audience_id`, and optionally `sendry_api_base_url`
--   (default https://api.sendry.online; tests point it at a loopback fake). They are read on every
--   call, so `vault.update_secret` takes effect on the next request with no schema change.
-- * A signup never fails because of Sendry: missing secrets only raise a warning (nothing is
--   queued, so the backfill picks the user up later) and every other error is swallowed likewise.
-- * pg_net's tables are unlogged and responses expire after pg_net.ttl, so the outcome is copied
--   into the log (pending -> ok / failed with status code and error) by the reconcile job.
-- * pg_net's request ids start again at 1 when the extension is created again or its unlogged
--   tables are reset (a crash), so each log row keeps the generation of ids its request was queued in
--   (private.pg_net_generation), and only rows of the current one are matched to responses and the
--   queue. A request still pending from an older generation can get no response: like any request
--   without one, it is lost after 15 minutes.
-- * Sendry's POST /v1/contacts is an upsert by email, so retries and backfills are safe.

create table if not exists public.sendry_sync_log (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  request_id bigint,
  net_generation bigint,
  source text not null check (source in ('signup', 'backfill', 'retry')),
  attempt integer not null default 1 check (attempt >= 1),
  status text not null default 'pending' check (status in ('pending', 'ok', 'failed')),
  status_code integer,
  error text check (error is null or pg_catalog.length(error) <= 1000),
  created_at timestamptz not null default pg_catalog.now(),
  updated_at timestamptz not null default pg_catalog.now()
);

comment on table public.sendry_sync_log is
  'One row per Sendry contact request (pg_net), with its outcome once reconciled. Service role only.';
comment on column public.sendry_sync_log.request_id is 'The pg_net request id (net._http_response.id).';
comment on column public.sendry_sync_log.net_generation is
  'The generation of pg_net request ids (private.pg_net_generation) that request_id belongs to; ids start again at 1 in each.';
comment on column public.sendry_sync_log.source is 'signup (trigger), backfill or retry.';
comment on column public.sendry_sync_log.attempt is 'The how-many-th request for this user.';
comment on column public.sendry_sync_log.status is 'pending until reconciled, then ok (2xx) or failed.';
comment on column public.sendry_sync_log.status_code is 'Sendry''s HTTP status, null when the request failed.';
comment on column public.sendry_sync_log.error is
  'Why it failed: pg_net''s error or an excerpt of Sendry''s answer; never a secret.';

create index if not exists sendry_sync_log_user_id_idx on public.sendry_sync_log (user_id, id);
create index if not exists sendry_sync_log_pending_idx on public.sendry_sync_log (request_id)
  where status = 'pending';

alter table public.sendry_sync_log enable row level security;

revoke all on table public.sendry_sync_log from public, anon, authenticated, service_role;
grant select on table public.sendry_sync_log to service_role;

create or replace view public.v_sendry_sync_failures
with (security_invoker = true)
as
select l.user_id, l.id as log_id, l.request_id, l.source, l.attempt, l.status_code, l.error,
  l.created_at, l.updated_at
from public.sendry_sync_log as l
where l.status = 'failed'
  and not exists (
    select 1 from public.sendry_sync_log as later where later.user_id = l.user_id and later.id > l.id);

comment on view public.v_sendry_sync_failures is
  'Users whose latest Sendry sync failed (after reconcile), with status code and error; retry with rpc_sendry_retry_failed.';

revoke all on table public.v_sendry_sync_failures from public, anon, authenticated, service_role;
grant select on table public.v_sendry_sync_failures to service_role;

-- Backfill cursor: a single row, locked by each backfill call so concurrent calls take turns.
create table if not exists private.sendry_backfill_state (
  id boolean primary key default true check (id),
  cursor_user_id uuid,
  scanned bigint not null default 0,
  queued bigint not null default 0,
  skipped bigint not null default 0,
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default pg_catalog.now()
);

comment on table private.sendry_backfill_state is
  'Progress of the Sendry backfill: users are walked in id order; cursor_user_id is the last one done.';

insert into private.sendry_backfill_state (id) values (true) on conflict (id) do nothing;

-- Sending -------------------------------------------------------------------------------------------

create or replace function private.sendry_config()
returns table (api_key text, audience_id text, contacts_url text)
language plpgsql
stable
set search_path = ''
as $$
begin
  api_key := private.get_secret('sendry_api_key');
  audience_id := private.get_secret('sendry_audience_id');
  contacts_url := pg_catalog.rtrim(
    coalesce(private.get_optional_secret('sendry_api_base_url'), 'https://api.sendry.online'), '/')
    || '/v1/contacts';
  return next;
end
$$;

comment on function private.sendry_config() is
  'The Sendry key, audience and contacts URL from Vault; raises naming the first missing secret.';

create or replace function private.sendry_queue_contact(
  p_user_id uuid,
  p_email text,
  p_metadata jsonb,
  p_source text,
  p_api_key text,
  p_audience_id text,
  p_contacts_url text
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_request_id bigint;
begin
  v_request_id := net.http_post(
    url := p_contacts_url,
    body := pg_catalog.jsonb_build_object(
      'email', p_email,
      'first_name', private.metadata_name(p_metadata, 'first_name', 'given_name'),
      'last_name', private.metadata_name(p_metadata, 'last_name', 'family_name'),
      'audience_id', p_audience_id,
      'properties', pg_catalog.jsonb_build_object(
        'supabase_user_id', p_user_id,
        'signup_source', 'supabase'
      )
    ),
    headers := pg_catalog.jsonb_build_object(
      'Authorization', 'Bearer ' || p_api_key,
      'Content-Type', 'application/json'
    )
  );
  insert into public.sendry_sync_log (user_id, request_id, net_generation, source, attempt)
  values (
    p_user_id,
    v_request_id,
    private.pg_net_generation(),
    p_source,
    1 + (select pg_catalog.count(*) from public.sendry_sync_log as l where l.user_id = p_user_id)::integer
  );
  return v_request_id;
end
$$;

comment on function private.sendry_queue_contact(uuid, text, jsonb, text, text, text, text) is
  'Queues POST /v1/contacts for one user with pg_net and logs it; returns the pg_net request id.';

revoke all on function private.sendry_config() from public, anon, authenticated, service_role;
revoke all on function private.sendry_queue_contact(uuid, text, jsonb, text, text, text, text)
  from public, anon, authenticated, service_role;

create or replace function private.sync_new_user_to_sendry()
returns trigger
language plpgsql
-- definer: runs as supabase_auth_admin (GoTrue) during signup, which may neither read Vault nor
-- write public.sendry_sync_log.
security definer
set search_path = ''
as $$
declare
  v_config record;
begin
  if new.email is null or new.email = '' then
    return null; -- phone and anonymous users have no address to sync
  end if;
  begin
    select * into strict v_config from private.sendry_config();
    perform private.sendry_queue_contact(new.id, new.email, new.raw_user_meta_data, 'signup',
      v_config.api_key, v_config.audience_id, v_config.contacts_url);
  exception
    when no_data_found then
      raise warning 'sendry: user % not synced: % (the backfill will pick them up)', new.id, sqlerrm;
    when others then
      -- Sendry is configured but the request could not be queued (a bad sendry_api_base_url, pg_net
      -- missing): record it, so v_sendry_sync_failures shows it and rpc_sendry_retry_failed retries it.
      -- Such errors may quote the URL: keep only their code.
      raise warning 'sendry: user % not synced: SQLSTATE %', new.id, sqlstate;
      begin
        insert into public.sendry_sync_log (user_id, source, attempt, status, error)
        values (new.id, 'signup', 1, 'failed', 'not queued: SQLSTATE ' || sqlstate);
      exception when others then
        null; -- the signup must go through even if the log cannot be written
      end;
  end;
  return null;
end
$$;

comment on function private.sync_new_user_to_sendry() is
  'Trigger on auth.users INSERT: queues the Sendry contact request; missing Vault secrets give a warning, other failures a failed log row; never raises.';

revoke all on function private.sync_new_user_to_sendry() from public, anon, authenticated, service_role;

create or replace trigger on_auth_user_created_sync_sendry
  after insert on auth.users
  for each row execute function private.sync_new_user_to_sendry();

-- Reconcile -----------------------------------------------------------------------------------------

create or replace function private.sendry_reconcile_sync_log()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_ok integer;
  v_failed integer;
  v_lost integer;
  -- the generation whose responses and queue are read; request ids of an older one mean nothing in them
  v_net bigint := private.pg_net_generation();
begin
  with settled as (
    update public.sendry_sync_log as l
    set status = case when r.status_code between 200 and 299 then 'ok' else 'failed' end,
      status_code = r.status_code,
      error = case
        when r.status_code between 200 and 299 then null
        when r.status_code is not null then pg_catalog.left(pg_catalog.format('Sendry answered HTTP %s: %s',
          r.status_code, pg_catalog.left(coalesce(r.content, ''), 300)), 1000)
        when r.timed_out then pg_catalog.left('timed out: ' || coalesce(r.error_msg, ''), 1000)
        else pg_catalog.left(coalesce(r.error_msg, 'request failed'), 1000)
      end,
      updated_at = pg_catalog.now()
    from net._http_response as r
    where l.status = 'pending' and l.net_generation = v_net and r.id = l.request_id
    returning l.status
  )
  select pg_catalog.count(*) filter (where s.status = 'ok'), pg_catalog.count(*) filter (where s.status = 'failed')
  into v_ok, v_failed
  from settled as s;

  -- Unlogged tables and expiring responses: neither queued nor answered after 15 minutes is lost.
  -- A request queued in an older generation (pg_net created again, or its tables reset by a crash)
  -- has neither: the current rows under the same id belong to other requests.
  update public.sendry_sync_log as l
  set status = 'failed', error = 'lost: no response was recorded for this request',
    updated_at = pg_catalog.now()
  where l.status = 'pending'
    and l.created_at < pg_catalog.now() - interval '15 minutes'
    and not (
      l.net_generation is not distinct from v_net
      and (exists (select 1 from net._http_response as r where r.id = l.request_id)
        or exists (select 1 from net.http_request_queue as q where q.id = l.request_id))
    );
  get diagnostics v_lost = row_count;

  return pg_catalog.jsonb_build_object('ok', v_ok, 'failed', v_failed + v_lost, 'lost', v_lost);
end
$$;

comment on function private.sendry_reconcile_sync_log() is
  'pg_cron job: copies outcomes of the current pg_net generation into public.sendry_sync_log (ok / failed with status and error).';

revoke all on function private.sendry_reconcile_sync_log() from public, anon, authenticated, service_role;

select cron.schedule(
  'sendry-reconcile-sync-log',
  '* * * * *',
  'select private.sendry_reconcile_sync_log()'
);

-- Backfill --------------------------------------------------------------------------------------------

create or replace function public.rpc_sendry_backfill(
  p_batch_size integer default 200,
  p_restart boolean default false
)
returns jsonb
language plpgsql
-- definer: reads auth.users and Vault and writes the private cursor, none of which the service role can.
security definer
set search_path = ''
as $$
declare
  v_config record;
  v_state private.sendry_backfill_state;
  v_user record;
  v_scanned integer := 0;
  v_queued integer := 0;
  v_skipped integer := 0;
  v_remaining bigint;
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 1000 then
    raise exception using errcode = '22023', message = 'p_batch_size must be between 1 and 1000';
  end if;
  -- Raises, naming the missing secret, before anything is written.
  select * into strict v_config from private.sendry_config();

  select * into strict v_state from private.sendry_backfill_state where id for update;
  if p_restart or v_state.started_at is null then
    v_state.cursor_user_id := null;
    v_state.scanned := 0;
    v_state.queued := 0;
    v_state.skipped := 0;
    v_state.started_at := pg_catalog.now();
    v_state.finished_at := null;
  end if;

  for v_user in
    select u.id, u.email, u.raw_user_meta_data,
      exists (
        select 1 from public.sendry_sync_log as l
        where l.user_id = u.id and l.status in ('pending', 'ok')
      ) as synced
    from auth.users as u
    where v_state.cursor_user_id is null or u.id > v_state.cursor_user_id
    order by u.id
    limit p_batch_size
  loop
    v_scanned := v_scanned + 1;
    v_state.cursor_user_id := v_user.id;
    if v_user.synced or v_user.email is null or v_user.email = '' then
      v_skipped := v_skipped + 1;
    else
      perform private.sendry_queue_contact(v_user.id, v_user.email, v_user.raw_user_meta_data, 'backfill',
        v_config.api_key, v_config.audience_id, v_config.contacts_url);
      v_queued := v_queued + 1;
    end if;
  end loop;

  select pg_catalog.count(*) into v_remaining
  from auth.users as u
  where v_state.cursor_user_id is null or u.id > v_state.cursor_user_id;

  update private.sendry_backfill_state as s
  set cursor_user_id = v_state.cursor_user_id,
    scanned = v_state.scanned + v_scanned,
    queued = v_state.queued + v_queued,
    skipped = v_state.skipped + v_skipped,
    started_at = v_state.started_at,
    finished_at = case when v_remaining = 0 then coalesce(v_state.finished_at, pg_catalog.now()) end,
    updated_at = pg_catalog.now()
  where s.id
  returning * into v_state;

  return pg_catalog.jsonb_build_object(
    'scanned', v_scanned,
    'queued', v_queued,
    'skipped', v_skipped,
    'remaining', v_remaining,
    'done', v_remaining = 0,
    'total_scanned', v_state.scanned,
    'total_queued', v_state.queued,
    'total_skipped', v_state.skipped,
    'started_at', v_state.started_at,
    'finished_at', v_state.finished_at
  );
end
$$;

comment on function public.rpc_sendry_backfill(integer, boolean) is
  'Service role: syncs the next p_batch_size users (by id) to Sendry, skipping users already synced or in flight; resumable, call until done; p_restart starts over. Returns progress.';

revoke all on function public.rpc_sendry_backfill(integer, boolean) from public, anon, authenticated;
grant execute on function public.rpc_sendry_backfill(integer, boolean) to service_role;

-- Retry -----------------------------------------------------------------------------------------------

create or replace function public.rpc_sendry_retry_failed(p_limit integer default 100)
returns jsonb
language plpgsql
-- definer: reads auth.users and Vault, which the service role cannot.
security definer
set search_path = ''
as $$
declare
  v_config record;
  v_user record;
  v_queued integer := 0;
begin
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception using errcode = '22023', message = 'p_limit must be between 1 and 1000';
  end if;
  select * into strict v_config from private.sendry_config();
  perform private.sendry_reconcile_sync_log();

  for v_user in
    select u.id, u.email, u.raw_user_meta_data
    from public.v_sendry_sync_failures as f
    join auth.users as u on u.id = f.user_id
    where u.email is not null and u.email <> ''
    order by f.log_id
    limit p_limit
  loop
    perform private.sendry_queue_contact(v_user.id, v_user.email, v_user.raw_user_meta_data, 'retry',
      v_config.api_key, v_config.audience_id, v_config.contacts_url);
    v_queued := v_queued + 1;
  end loop;

  return pg_catalog.jsonb_build_object(
    'queued', v_queued,
    'still_failed', (select pg_catalog.count(*) from public.v_sendry_sync_failures)
  );
end
$$;

comment on function public.rpc_sendry_retry_failed(integer) is
  'Service role: reconciles, then re-sends the Sendry sync of users whose latest attempt failed (at most p_limit).';

revoke all on function public.rpc_sendry_retry_failed(integer) from public, anon, authenticated;
grant execute on function public.rpc_sendry_retry_failed(integer) to service_role;
