-- Sendry -> Supabase: `contact.unsubscribed` webhooks mark the matching users' profiles unsubscribed.
--
-- Why: the sendry-unsub Edge Function verifies Sendry's signature and validates the payload, then
-- calls public.rpc_sendry_record_unsubscribe with the service role. Webhooks are delivered at least
-- once, so each webhook id is recorded in private.sendry_webhook_events and a replay changes nothing.
-- An address that matches no user is recorded and acknowledged, not an error (the contact may have
-- been added to the audience elsewhere).

create table if not exists private.sendry_webhook_events (
  webhook_id text primary key check (pg_catalog.length(webhook_id) between 1 and 200),
  event_type text not null,
  matched_users integer not null default 0,
  received_at timestamptz not null default pg_catalog.now()
);

comment on table private.sendry_webhook_events is
  'Sendry webhook ids already processed (replays are acknowledged without processing again). No email kept.';

create or replace function public.rpc_sendry_record_unsubscribe(
  p_webhook_id text,
  p_email text,
  p_occurred_at timestamptz default null
)
returns jsonb
language plpgsql
-- definer: matches the address against auth.users and writes the private replay table, which the
-- service role cannot.
security definer
set search_path = ''
as $$
declare
  v_first_time boolean;
  v_matched integer := 0;
begin
  if p_webhook_id is null or pg_catalog.length(p_webhook_id) not between 1 and 200 then
    raise exception using errcode = '22023', message = 'p_webhook_id must be 1 to 200 characters';
  end if;
  if p_email is null or pg_catalog.strpos(p_email, '@') < 2 or pg_catalog.length(p_email) > 320 then
    raise exception using errcode = '22023', message = 'p_email must be an email address';
  end if;

  insert into private.sendry_webhook_events (webhook_id, event_type)
  values (p_webhook_id, 'contact.unsubscribed')
  on conflict (webhook_id) do nothing
  returning true into v_first_time;

  if v_first_time is null then
    return pg_catalog.jsonb_build_object('duplicate', true, 'matched_users', (
      select e.matched_users from private.sendry_webhook_events as e where e.webhook_id = p_webhook_id));
  end if;

  -- Every user with that address (SSO users may share one); a missing profile is created.
  insert into public.profiles as pr (id, unsubscribed, unsubscribed_at)
  select u.id, true, coalesce(p_occurred_at, pg_catalog.now())
  from auth.users as u
  where pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(p_email))
  on conflict (id) do update
    set unsubscribed = true,
      unsubscribed_at = coalesce(pr.unsubscribed_at, excluded.unsubscribed_at),
      updated_at = pg_catalog.now();
  get diagnostics v_matched = row_count;

  update private.sendry_webhook_events as e
  set matched_users = v_matched
  where e.webhook_id = p_webhook_id;

  return pg_catalog.jsonb_build_object('duplicate', false, 'matched_users', v_matched);
end
$$;

comment on function public.rpc_sendry_record_unsubscribe(text, text, timestamptz) is
  'Service role (sendry-unsub): marks the profiles of users with p_email unsubscribed, once per webhook id. Returns {duplicate, matched_users}.';

revoke all on function public.rpc_sendry_record_unsubscribe(text, text, timestamptz) from public, anon, authenticated;
grant execute on function public.rpc_sendry_record_unsubscribe(text, text, timestamptz) to service_role;
