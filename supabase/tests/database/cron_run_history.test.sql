-- pg_cron records every run of every job in cron.job_run_details and never deletes any; on Supabase
-- (pg_cron 1.6) process-plugin-deliveries runs every 5 seconds. private.purge_cron_run_history deletes the
-- runs of this project's own jobs older than the retention, hourly; other jobs' history stays.
begin;
select plan(10);

select is(
  (select row(count(*), min(schedule), min(command))::text from cron.job where jobname = 'purge-cron-run-history'),
  row(1, '29 * * * *', 'select private.purge_cron_run_history(interval ''7 days'')')::text,
  'one job purges the project''s cron run history hourly, keeping 7 days'
);

-- A history of the test's own: pg_cron may have recorded real runs already (while the template was
-- migrated, or on a live stack, where it keeps adding them while this test runs). job_pid 1 marks the
-- rows this test writes: pg_cron never runs a job as pid 1.
delete from cron.job_run_details;

-- Runs of the project's jobs (old and recent), of another job, and a run that never recorded an end.
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time, end_time)
select j.jobid, 1, current_database(), 'postgres', j.command, 'succeeded', r.started, r.started + interval '1 second'
from cron.job j
cross join (values (now() - interval '8 days'), (now() - interval '1 hour')) as r(started)
where j.jobname in ('process-plugin-deliveries', 'reconcile-user-provisioning', 'purge-cron-run-history');
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time, end_time)
values
  ((select max(jobid) + 1000 from cron.job), 1, current_database(), 'postgres', 'select 1', 'succeeded',
    now() - interval '30 days', now() - interval '30 days'),
  ((select jobid from cron.job where jobname = 'process-plugin-deliveries'), 1, current_database(), 'postgres',
    'select 1', 'failed', now() - interval '9 days', null);

select is(private.purge_cron_run_history(interval '7 days'), 4::bigint,
  'the project''s runs older than 7 days are deleted, also one that never recorded an end');
select is(
  (select count(*)::int from cron.job_run_details d join cron.job j using (jobid)
   where j.jobname in ('process-plugin-deliveries', 'reconcile-user-provisioning', 'purge-cron-run-history')
     and d.job_pid = 1 and d.start_time > now() - interval '2 hours'),
  3,
  'their recent runs stay'
);
select is(
  (select count(*)::int from cron.job_run_details d
   where d.job_pid = 1 and not exists (select 1 from cron.job j where j.jobid = d.jobid)),
  1,
  'another job''s history is not touched, however old'
);
select is(private.purge_cron_run_history(interval '7 days'), 0::bigint, 'a second run finds nothing to delete');

select throws_ok('select private.purge_cron_run_history(null)', '22023', null, 'a null retention is refused');
select throws_ok($$select private.purge_cron_run_history(interval '10 minutes')$$, '22023', null,
  'less than an hour of history is refused');
select is((select count(*)::int from cron.job_run_details where job_pid = 1), 4,
  'a refused call deletes nothing');

-- A job a later migration schedules must be added to the function's list: this fails until it is.
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time, end_time)
select j.jobid, 1, current_database(), 'postgres', j.command, 'succeeded', now() - interval '8 days',
  now() - interval '8 days'
from cron.job j;
select is(private.purge_cron_run_history(interval '7 days'), (select count(*) from cron.job),
  'the runs of every job the migrations schedule are purged');

select ok(
  not has_function_privilege('authenticated', 'private.purge_cron_run_history(interval)', 'execute')
    and not has_function_privilege('anon', 'private.purge_cron_run_history(interval)', 'execute'),
  'clients cannot call it'
);

select * from finish();
rollback;
