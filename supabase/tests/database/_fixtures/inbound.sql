-- Shared fixture of the inbound_*.test.sql files, included with `\ir` inside their transaction.
--
-- Fixture: tenants A and B, each with an admin, a work order and an installation of the plugin
-- `inbound_test` whose Vault secret is known here. pg_temp.ingest() calls the RPC as the service role
-- with a correctly signed request unless told otherwise.
-- Quiet: other features' triggers on auth.users warn about their own missing settings.
set local client_min_messages = error;
insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'admin-a@inbound.test'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'member-a@inbound.test'),
  ('bbbbbbbb-0000-4000-8000-000000000001', 'admin-b@inbound.test');
reset client_min_messages;
insert into public.tenants (id, name) values
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Tenant A'),
  ('bbbbbbbb-bbbb-4000-8000-000000000000', 'Tenant B');
insert into public.tenant_memberships (tenant_id, user_id, role) values
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000001', 'tenant.admin'),
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000002', 'tenant.member'),
  ('bbbbbbbb-bbbb-4000-8000-000000000000', 'bbbbbbbb-0000-4000-8000-000000000001', 'tenant.admin');
select vault.create_secret('inbound-secret-a-0123456789', 'inbound_test_secret_a');
select vault.create_secret('inbound-secret-b-0123456789', 'inbound_test_secret_b');
insert into int.plugins (key, name) values ('inbound_test', 'Inbound test');
insert into int.plugin_installations (id, tenant_id, plugin_key, config, secret_ref) values
  ('aaaaaaaa-aaaa-4000-8000-0000000000f1', 'aaaaaaaa-aaaa-4000-8000-000000000000', 'inbound_test',
    '{"webhook_url": "https://hooks.example.com/a"}', 'inbound_test_secret_a'),
  ('bbbbbbbb-bbbb-4000-8000-0000000000f1', 'bbbbbbbb-bbbb-4000-8000-000000000000', 'inbound_test',
    '{"webhook_url": "https://hooks.example.com/b"}', 'inbound_test_secret_b');
insert into public.work_orders (id, tenant_id, title) values
  ('aaaaaaaa-aaaa-4000-8000-00000000a001', 'aaaaaaaa-aaaa-4000-8000-000000000000', 'Pump 7 leaks'),
  ('bbbbbbbb-bbbb-4000-8000-00000000b001', 'bbbbbbbb-bbbb-4000-8000-000000000000', 'Door 3 sticks');

create function pg_temp.sign(p_secret text, p_id text, p_timestamp bigint, p_body text, p_scheme text default 'v1')
returns text
language sql
as $$
  select case p_scheme when 'hex' then encode(m.mac, 'hex') else 'v1,' || encode(m.mac, 'base64') end
  from (select extensions.hmac(convert_to(p_id || '.' || p_timestamp || '.' || p_body, 'UTF8'),
    convert_to(p_secret, 'UTF8'), 'sha256') as mac) m
$$;

create function pg_temp.ingest(
  p_id text,
  p_body text,
  p_installation uuid default 'aaaaaaaa-aaaa-4000-8000-0000000000f1',
  p_secret text default 'inbound-secret-a-0123456789',
  p_timestamp bigint default extract(epoch from now())::bigint,
  p_signature_scheme text default 'v1'
)
returns jsonb
language sql
as $$
  select public.rpc_plugin_ingest_webhook(p_installation, p_id, p_timestamp,
    pg_temp.sign(p_secret, p_id, p_timestamp, p_body, p_signature_scheme), p_body)
$$;
