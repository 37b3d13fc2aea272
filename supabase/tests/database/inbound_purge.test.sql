-- private.purge_inbound_webhooks deletes old log rows and receipts, keeps recent ones, and refuses a
-- log retention that is not positive and a receipt retention shorter than the replay window.
begin;
select plan(7);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select pg_temp.ingest('dlv-old', '{"action": "nope"}');
select pg_temp.ingest('dlv-new', '{"action": "nope"}');
update int.inbound_webhook_log set received_at = now() - interval '40 days' where delivery_id = 'dlv-old';
update int.inbound_webhook_receipts set received_at = now() - interval '8 days' where delivery_id = 'dlv-old';

select is(private.purge_inbound_webhooks(interval '30 days', interval '7 days'), '{"log": 1, "receipts": 1}'::jsonb,
  'one old log row and one old receipt are deleted');
select results_eq($$select delivery_id from int.inbound_webhook_log$$, $$values ('dlv-new')$$, 'the recent log row stays');
select results_eq($$select delivery_id from int.inbound_webhook_receipts$$, $$values ('dlv-new')$$, 'the recent receipt stays');
select throws_ok($$select private.purge_inbound_webhooks(interval '30 days', interval '1 minute')$$, '22023', null,
  'a receipt retention inside the replay window is refused');
select throws_ok($$select private.purge_inbound_webhooks(interval '0', interval '7 days')$$, '22023',
  'p_log_retention must be a positive interval, got 00:00:00', 'a zero log retention is refused');
select is((select count(*)::int from int.inbound_webhook_log), 1, 'the refused purges deleted nothing');
select is((select count(*)::int from cron.job where jobname = 'purge-plugin-inbound-webhooks'), 1, 'pg_cron runs it daily');

select * from finish();
rollback;
