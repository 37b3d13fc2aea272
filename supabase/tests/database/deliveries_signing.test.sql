-- rpc_process_plugin_deliveries signs the exact body bytes it hands to net.http_post, with the Vault
-- secret of the installation, and sends the Standard Webhooks and X-Plugin-* headers.
begin;
select plan(22);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Pump 7 leaks – ölig, 💧');

select is(
  (select count(*)::int from int.plugin_queued_deliveries where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  1,
  'the insert queued one delivery'
);

select is(
  public.rpc_process_plugin_deliveries(100) - 'extended_leases' - 'not_sent',
  '{"reconciled": 0, "delivered": 0, "retried": 0, "dead": 0, "expired_leases": 0, "queued": 1, "sent": 1}'::jsonb,
  'the processor writes the queued delivery and reports it sent'
);

create temporary table sent_request on commit drop as
select q.*, d.id as delivery_id, d.payload, d.event_type, d.attempts, d.status, d.lease_expires_at,
  convert_to('test-secret-a-0123456789', 'UTF8') as key
from int.plugin_deliveries d
join net.http_request_queue q on q.id = d.net_request_id
where d.tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';

select is((select count(*)::int from sent_request), 1, 'one request is queued for pg_net');
select is((select status from sent_request), 'in_flight', 'the delivery is in flight');
select is((select attempts from sent_request), 1, 'the attempt is counted');
select is((select method::text from sent_request), 'POST', 'the request is a POST');
select is((select url from sent_request), 'https://hooks.example.com/a', 'it goes to the installation''s webhook_url');
select is((select timeout_milliseconds from sent_request), 2000, 'it uses the installation''s timeout_ms');
select is(
  (select lease_expires_at from sent_request), now() + interval '32 seconds',
  'the lease lasts the timeout plus a 30 second margin'
);
select is((select body from sent_request), (select convert_to(payload::text, 'UTF8') from sent_request),
  'the body bytes are the stored payload''s text');
select is(
  (select headers ->> 'X-Plugin-Signature' from sent_request),
  (select encode(extensions.hmac(body, key, 'sha256'), 'hex') from sent_request),
  'X-Plugin-Signature is the hex HMAC-SHA256 of the body bytes under the Vault secret'
);
select matches((select headers ->> 'X-Plugin-Signature' from sent_request), '^[0-9a-f]{64}$',
  'X-Plugin-Signature is 64 lowercase hex digits');
select is((select headers ->> 'webhook-id' from sent_request), (select delivery_id::text from sent_request),
  'webhook-id is the delivery id');
select ok(
  (select abs((headers ->> 'webhook-timestamp')::bigint - extract(epoch from clock_timestamp())) < 60
   from sent_request),
  'webhook-timestamp is the current unix time in seconds'
);
select is(
  (select headers ->> 'webhook-signature' from sent_request),
  (select 'v1,' || encode(extensions.hmac(
      convert_to(delivery_id::text || '.' || (headers ->> 'webhook-timestamp') || '.', 'UTF8') || body,
      key, 'sha256'), 'base64')
   from sent_request),
  'webhook-signature is v1,<base64 HMAC-SHA256 of id.timestamp.body>'
);
select is(
  (select jsonb_build_object(
     'Content-Type', headers ->> 'Content-Type', 'X-Plugin-Delivery-Id', headers ->> 'X-Plugin-Delivery-Id',
     'X-Plugin-Event-Type', headers ->> 'X-Plugin-Event-Type', 'X-Tenant', headers ->> 'X-Tenant')
   from sent_request),
  (select jsonb_build_object('Content-Type', 'application/json', 'X-Plugin-Delivery-Id', delivery_id,
     'X-Plugin-Event-Type', event_type, 'X-Tenant', 'a') from sent_request),
  'the delivery id, event type, content type and the installation''s own headers are sent'
);

select ok(
  not exists (
    select 1 from int.plugin_deliveries d
    where d::text like '%test-secret-a%' or d::text like '%' || (select headers ->> 'X-Plugin-Signature' from sent_request) || '%'
  ),
  'neither the secret nor the signature is stored with the delivery'
);

-- Installation headers cannot override what the processor sets.
update int.plugin_installations
set config = config || '{"headers": {"content-type": "text/plain", "X-Plugin-Signature": "forged", "Webhook-Id": "x", "X-Ok": "yes"}}'
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Second');
select is(public.rpc_process_plugin_deliveries(100) ->> 'sent', '1', 'the second delivery is sent');
select is(
  (select array_agg(k order by k collate "C")
   from jsonb_object_keys((select headers from net.http_request_queue order by id desc limit 1)) as k),
  array['Content-Type', 'X-Ok', 'X-Plugin-Delivery-Id', 'X-Plugin-Event-Type', 'X-Plugin-Signature',
    'webhook-id', 'webhook-signature', 'webhook-timestamp'],
  'installation headers that clash with delivery headers are dropped, others are kept'
);

-- A secret_ref whose Vault secret is gone: the delivery fails visibly, naming the secret_ref only.
delete from vault.secrets where name = 'deliveries_test_secret_b';
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'No secret');
select is(
  public.rpc_process_plugin_deliveries(100) ->> 'not_sent', '1',
  'a delivery whose Vault secret is missing is not sent'
);
select is(
  (select row(status, attempts, last_error)::text from int.plugin_deliveries
   where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  row('failed', 1, 'Vault secret ''deliveries_test_secret_b'' (the installation''s secret_ref) was not found')::text,
  'it fails with an error naming the secret_ref and counts as an attempt'
);
select is(
  (select count(*)::int from int.plugin_delivery_attempts a join int.plugin_deliveries d on d.id = a.delivery_id
   where d.tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000' and a.error like 'Vault secret%'),
  1,
  'the failed attempt is logged'
);

select * from finish();
rollback;
