-- Installation headers cannot add a second X-Plugin-* header by spelling
-- its name in another case (HTTP header names are case-insensitive; jsonb keys are not).
begin;
select plan(1);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

update int.plugin_installations
set config = config || '{"headers": {"x-plugin-signature": "forged", "X-PLUGIN-EVENT-TYPE": "forged", "X-Ok": "yes"}}'
where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000';
insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Headers');
select public.rpc_process_plugin_deliveries(100);

select is(
  (select array_agg(k order by k collate "C") from net.http_request_queue q, jsonb_object_keys(q.headers) k
   where lower(k) like 'x-plugin-%' or k = 'X-Ok'),
  array['X-Ok', 'X-Plugin-Delivery-Id', 'X-Plugin-Event-Type', 'X-Plugin-Signature'],
  'an installation header that spells an X-Plugin-* name in another case is dropped, not sent beside the real one');

select * from finish();
rollback;
