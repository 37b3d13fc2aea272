-- Retention of pg_cron's run history for this project's jobs: runs older than 7 days are deleted hourly.
--
-- Why: pg_cron writes one row to cron.job_run_details for every run of every job and never deletes
-- any ("The cron.job_run_details table will grow indefinitely because records are never cleaned
-- automatically", Supabase's pg_cron troubleshooting guide). On Supabase, whose pg_cron takes second
-- schedules, process-plugin-deliveries alone runs every 5 seconds: 17,280 rows a day, for good. Only the
-- runs of the jobs these migrations schedule are deleted; other jobs' history is their owners' to keep.
-- A job added by a later migration belongs in the list below.

create function private.purge_cron_run_history(p_retention interval)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_deleted bigint;
begin
  -- An hour keeps the runs someone looking at a failure right now needs.
  if p_retention is null or p_retention < interval '1 hour' then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('p_retention must be at least 1 hour, got %s', coalesce(p_retention::text, 'null'));
  end if;
  -- A run cut short (a restart) may have no end_time; its start counts then.
  delete from cron.job_run_details d
  where d.jobid in (
      select j.jobid
      from cron.job j
      where j.jobname::text = any (array[
        'process-plugin-deliveries',
        'purge-plugin-deliveries',
        'reconcile-user-provisioning',
        'sendry-reconcile-sync-log',
        'purge-plugin-inbound-webhooks',
        'purge-cron-run-history'
      ])
    )
    and coalesce(d.end_time, d.start_time) < pg_catalog.now() - p_retention;
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

comment on function private.purge_cron_run_history(interval) is
  'Deletes cron.job_run_details rows of this project''s pg_cron jobs that ended more than p_retention ago (at least 1 hour); returns how many.';

revoke all on function private.purge_cron_run_history(interval) from public, anon, authenticated, service_role;

-- cron.schedule replaces a job of the same name, so applying this again changes nothing.
select cron.schedule(
  'purge-cron-run-history',
  '29 * * * *',
  $job$select private.purge_cron_run_history(interval '7 days')$job$
);
