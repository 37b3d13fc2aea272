-- Retention of inbound plugin webhooks: old log rows and receipts are deleted daily by pg_cron.
--
-- Why: the log grows with every request, including refused ones from anyone who knows an
-- installation id, so it must not grow forever. Receipts only need to outlive the 5-minute timestamp
-- window (a replay after that is refused as stale); they are kept 7 days so a partner's late retry of
-- the same delivery id still gets its first result. The log is kept 30 days.

create function private.purge_inbound_webhooks(p_log_retention interval, p_receipt_retention interval)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_log bigint;
  v_receipts bigint;
begin
  if p_log_retention is null or p_log_retention <= interval '0' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('p_log_retention must be a positive interval, got %s',
        coalesce(p_log_retention::text, 'null'));
  end if;
  -- Shorter than the timestamp window (plus clock skew) would let a replay through.
  if p_receipt_retention is null or p_receipt_retention < interval '15 minutes' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('p_receipt_retention must be at least 15 minutes, got %s',
        coalesce(p_receipt_retention::text, 'null'));
  end if;
  delete from int.inbound_webhook_log l where l.received_at < pg_catalog.now() - p_log_retention;
  get diagnostics v_log = row_count;
  delete from int.inbound_webhook_receipts r where r.received_at < pg_catalog.now() - p_receipt_retention;
  get diagnostics v_receipts = row_count;
  return pg_catalog.jsonb_build_object('log', v_log, 'receipts', v_receipts);
end
$$;

comment on function private.purge_inbound_webhooks(interval, interval) is
  'Deletes inbound webhook log rows older than p_log_retention and receipts older than p_receipt_retention (at least 15 minutes); returns the counts.';

revoke all on function private.purge_inbound_webhooks(interval, interval) from public, anon, authenticated;

-- cron.schedule replaces a job of the same name, so applying this again changes nothing.
select cron.schedule(
  'purge-plugin-inbound-webhooks',
  '41 3 * * *',
  $job$select private.purge_inbound_webhooks(interval '30 days', interval '7 days')$job$
);
