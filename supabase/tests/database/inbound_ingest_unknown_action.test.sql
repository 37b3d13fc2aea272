-- Only allowlisted actions run: an unknown (or disabled) action is refused as unknown_action, distinct
-- from invalid_signature; bodies of the wrong shape and bad arguments get their own codes; none of
-- them changes anything.
begin;
select plan(16);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select is(
  pg_temp.ingest('dlv-1', '{"action": "work_order.delete", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001"}}')
    - 'installation_id' - 'delivery_id',
  '{"ok": false, "code": "unknown_action", "duplicate": false, "message": "Unknown action ''work_order.delete'': allowed actions are work_order.add_comment, work_order.set_external_ref, work_order.set_status"}'::jsonb,
  'an action outside the allowlist is refused as unknown_action, naming the allowed ones');

update int.inbound_actions set is_enabled = false where action = 'work_order.add_comment';
select is(
  pg_temp.ingest('dlv-2', '{"action": "work_order.add_comment", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "body": "x"}}')
    ->> 'code',
  'unknown_action', 'a disabled action is refused like an unknown one');

select is(pg_temp.ingest('dlv-3', 'not json') ->> 'code', 'invalid_json', 'a body that is not JSON is invalid_json');
select is(pg_temp.ingest('dlv-4', '[1, 2]') ->> 'code', 'invalid_payload', 'a JSON array is invalid_payload');
select is(pg_temp.ingest('dlv-5', '{"args": {}}') ->> 'code', 'invalid_payload', 'a body without action is invalid_payload');
select is(pg_temp.ingest('dlv-6', '{"action": "work_order.set_status", "args": {}, "extra": 1}') ->> 'code',
  'invalid_payload', 'a body with other keys than action and args is invalid_payload');
select is(pg_temp.ingest('dlv-7', '{"action": "work_order.set_status", "args": [1]}') ->> 'code',
  'invalid_payload', 'args that are not an object are invalid_payload');

select is(
  pg_temp.ingest('dlv-8', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "finished"}}')
    ->> 'message',
  'work_order.set_status: args.status must be one of open, in_progress, on_hold, done, cancelled',
  'set_status refuses a status that does not exist');
select is(
  pg_temp.ingest('dlv-9', '{"action": "work_order.set_status", "args": {"work_order_id": "42", "status": "done"}}') ->> 'code',
  'invalid_args', 'a work_order_id that is not a uuid is invalid_args');
select is(
  pg_temp.ingest('dlv-10', '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done", "force": true}}')
    ->> 'message',
  'work_order.set_status: unknown argument force (allowed: work_order_id, status)',
  'an unknown argument is refused by name');
select is(
  pg_temp.ingest('dlv-11', '{"action": "work_order.set_external_ref", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "external_ref": ""}}')
    ->> 'code',
  'invalid_args', 'set_external_ref refuses an empty reference');
select is(
  pg_temp.ingest('dlv-12', '{"action": "work_order.set_external_ref", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "external_ref": 7}}')
    ->> 'code',
  'invalid_args', 'set_external_ref refuses a reference that is not a string');

update int.inbound_actions set is_enabled = true where action = 'work_order.add_comment';
select is(
  pg_temp.ingest('dlv-13', '{"action": "work_order.add_comment", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "body": "   "}}')
    ->> 'code',
  'invalid_args', 'add_comment refuses a blank body');

select row_eq(
  $$select status, external_ref from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'$$,
  row('open'::text, null::text), 'the work order is unchanged');
select is((select count(*)::int from public.work_order_comments), 0, 'no comment was written');
select results_eq(
  $$select code, count(*)::int from int.inbound_webhook_log where outcome = 'rejected' group by code order by code$$,
  $$values ('invalid_args', 6), ('invalid_json', 1), ('invalid_payload', 4), ('unknown_action', 2)$$,
  'every refusal is logged with its code');

select * from finish();
rollback;
