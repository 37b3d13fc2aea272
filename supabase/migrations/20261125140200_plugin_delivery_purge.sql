-- Retention of outbound plugin deliveries: delete delivered deliveries (and, by cascade, their
-- attempts) older than a retention period, and subscription versions nothing needs any more. Dead
-- and undelivered rows are kept: they are the visible record of what did not arrive and can be
-- redelivered. pg_cron runs it hourly (see the cron migration); tests call it directly.

-- Finds delivered rows by age without scanning the rest of the queue. (The attempts go by the cascade,
-- which uses plugin_delivery_attempts_delivery_id_idx.)
create index plugin_deliveries_delivered_at_idx
  on int.plugin_deliveries (delivered_at)
  where status = 'delivered';

create function private.purge_plugin_deliveries(p_retention interval)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_deleted bigint;
begin
  if p_retention is null or p_retention < interval '0' then
    raise exception using
      errcode = '22023',
      message = format('p_retention must not be negative, got %s', coalesce(p_retention::text, 'null'));
  end if;
  delete from int.plugin_deliveries d
  where d.status = 'delivered'
    and d.delivered_at < now() - p_retention;
  get diagnostics v_deleted = row_count;
  -- Subscription versions that no subscription points at and no batch names any more, a day after
  -- they were retired (or written, for the one an upsert that became an update did not use): a
  -- statement that read a version just before the edit may still be about to commit its batch.
  delete from int.plugin_subscription_versions v
  where coalesce(v.retired_at, v.created_at) < now() - interval '1 day'
    and not exists (select 1 from int.plugin_subscriptions s where s.version_id = v.id)
    and not exists (select 1 from int.plugin_delivery_batches b where v.id = any (b.subscription_version_ids));
  return v_deleted;
end
$$;

comment on function private.purge_plugin_deliveries(interval) is
  'Deletes delivered plugin deliveries (and their attempts) delivered more than p_retention ago, and subscription versions retired over a day ago that no batch names; returns how many deliveries it deleted.';

revoke all on function private.purge_plugin_deliveries(interval) from public, anon, authenticated;
