-- pg_cron jobs for outbound plugin deliveries.
--
-- `process-plugin-deliveries` drains the queue. pg_cron 1.5 and newer (Supabase runs 1.6) accept
-- second schedules, so it runs every 5 seconds there; older pg_cron (Debian bookworm's 1.4) only
-- knows minutes, so it runs every minute with a larger batch. The choice is made when this migration
-- is applied. `purge-plugin-deliveries` deletes delivered rows after 7 days, hourly.
-- cron.schedule replaces a job of the same name, so applying this again changes nothing.

do $$
declare
  v_version int[] := (
    select pg_catalog.regexp_match(e.extversion, '^(\d+)\.(\d+)')::int[]
    from pg_catalog.pg_extension e
    where e.extname = 'pg_cron'
  );
  v_seconds boolean := v_version >= array[1, 5];
begin
  if v_version is null then
    raise exception 'pg_cron is not installed: enable it before scheduling the plugin delivery jobs';
  end if;
  perform cron.schedule(
    'process-plugin-deliveries',
    case when v_seconds then '5 seconds' else '* * * * *' end,
    case
      when v_seconds then 'select public.rpc_process_plugin_deliveries(500)'
      else 'select public.rpc_process_plugin_deliveries(5000)'
    end
  );
  perform cron.schedule(
    'purge-plugin-deliveries',
    '17 * * * *',
    $job$select private.purge_plugin_deliveries(interval '7 days')$job$
  );
end
$$;
