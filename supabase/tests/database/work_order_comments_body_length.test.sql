-- A comment body is 1 to 4000 characters in total: padding with spaces does not get a longer body
-- past the limit, neither written directly nor through the inbound action, and nothing is written.
begin;
select plan(5);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

select throws_ok(
  $$insert into public.work_order_comments (work_order_id, body)
    values ('aaaaaaaa-aaaa-4000-8000-00000000a001', 'x' || repeat(' ', 4000))$$,
  '23514', null, 'a 4001-character body is refused even when most of it is spaces');
select lives_ok(
  $$insert into public.work_order_comments (work_order_id, body)
    values ('aaaaaaaa-aaaa-4000-8000-00000000a001', repeat('y', 4000))$$,
  'a 4000-character body is accepted');

select is(
  pg_temp.ingest('dlv-long',
    jsonb_build_object('action', 'work_order.add_comment', 'args', jsonb_build_object(
      'work_order_id', 'aaaaaaaa-aaaa-4000-8000-00000000a001', 'body', 'x' || repeat(' ', 4000)))::text)
    - 'installation_id' - 'delivery_id',
  '{"ok": false, "code": "invalid_args", "action": "work_order.add_comment", "duplicate": false,
    "message": "work_order.add_comment: args.body must be a string of 1 to 4000 characters"}'::jsonb,
  'the inbound action refuses a 4001-character body as invalid_args, naming the argument');
select is(
  pg_temp.ingest('dlv-blank',
    '{"action": "work_order.add_comment", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "body": "   "}}')
    ->> 'code',
  'invalid_args', 'the inbound action refuses a blank body');
select results_eq($$select length(body) from public.work_order_comments$$, $$values (4000)$$,
  'only the valid comment was written');

select * from finish();
rollback;
