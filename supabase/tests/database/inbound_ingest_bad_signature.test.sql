-- A request whose signature does not verify is refused as invalid_signature and writes nothing but
-- its log line: no change, no receipt (so the genuine delivery with that id still goes through).
begin;
select plan(9);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

create temporary table attempts on commit drop as
select * from (values
  ('wrong secret', pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_secret => 'not-the-secret')),
  ('other tenant''s secret', pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}',
    p_secret => 'inbound-secret-b-0123456789')),
  ('body changed after signing', public.rpc_plugin_ingest_webhook('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'dlv-1',
    extract(epoch from now())::bigint,
    pg_temp.sign('inbound-secret-a-0123456789', 'dlv-1', extract(epoch from now())::bigint,
      '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "on_hold"}}'),
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')),
  ('timestamp changed after signing', public.rpc_plugin_ingest_webhook('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'dlv-1',
    extract(epoch from now())::bigint,
    pg_temp.sign('inbound-secret-a-0123456789', 'dlv-1', extract(epoch from now())::bigint - 1,
      '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}'),
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')),
  ('garbage signature', public.rpc_plugin_ingest_webhook('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'dlv-1',
    extract(epoch from now())::bigint, 'v1,not-base64!! sha256=xyz',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}'))
) a(why, r);

select is((select count(*)::int from attempts where r ->> 'code' = 'invalid_signature' and r ->> 'ok' = 'false'), 5,
  'every bad signature is refused as invalid_signature');
select ok((select bool_and(r ->> 'message' like 'No signature matches%') from attempts),
  'the message says how to sign');
select is((select status from public.work_orders where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001'), 'open',
  'the work order is unchanged');
select is((select count(*)::int from int.inbound_webhook_receipts), 0, 'no delivery id is recorded');
select is((select count(*)::int from public.work_order_comments), 0, 'nothing else is written');
select results_eq(
  $$select outcome, code, count(*)::int from int.inbound_webhook_log group by 1, 2$$,
  $$values ('rejected', 'invalid_signature', 5)$$,
  'each refusal is logged for the installation');

select is(
  pg_temp.ingest('dlv-1',
    '{"action": "work_order.set_status", "args": {"work_order_id": "aaaaaaaa-aaaa-4000-8000-00000000a001", "status": "done"}}')
    ->> 'code',
  'applied', 'the genuine delivery with the same id is still applied afterwards');

select is(
  public.rpc_plugin_ingest_webhook('cccccccc-cccc-4000-8000-0000000000f1', 'dlv-9', extract(epoch from now())::bigint,
    'v1,AAAA', '{}') ->> 'code',
  'unknown_installation', 'an unknown installation id is refused as unknown_installation');
select is((select count(*)::int from int.inbound_webhook_log where delivery_id = 'dlv-9'), 0,
  'and is not logged: there is no tenant to log it for');

select * from finish();
rollback;
