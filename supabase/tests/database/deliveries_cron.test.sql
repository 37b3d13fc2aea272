-- pg_cron runs the delivery processor (every 5 seconds on pg_cron 1.5+, every minute before) and
-- purges delivered deliveries hourly.
begin;
select plan(5);

select is(
  (select count(*)::int from cron.job where jobname = 'process-plugin-deliveries'), 1,
  'one job processes plugin deliveries'
);
select is(
  (select schedule from cron.job where jobname = 'process-plugin-deliveries'),
  (select case when (regexp_match(extversion, '^(\d+)\.(\d+)'))::int[] >= array[1, 5] then '5 seconds'
     else '* * * * *' end
   from pg_extension where extname = 'pg_cron'),
  'it runs every 5 seconds where pg_cron supports seconds, else every minute'
);
select matches(
  (select command from cron.job where jobname = 'process-plugin-deliveries'),
  '^select public\.rpc_process_plugin_deliveries\(\d+\)$',
  'it calls rpc_process_plugin_deliveries'
);
select is(
  (select row(count(*), min(schedule))::text from cron.job where jobname = 'purge-plugin-deliveries'),
  row(1, '17 * * * *')::text,
  'one job purges deliveries hourly'
);
select is(
  (select command from cron.job where jobname = 'purge-plugin-deliveries'),
  'select private.purge_plugin_deliveries(interval ''7 days'')',
  'it keeps delivered deliveries for 7 days'
);

select * from finish();
rollback;
