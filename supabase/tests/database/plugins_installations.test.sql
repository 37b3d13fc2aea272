-- Installations: a tenant admin installs, updates and uninstalls; members and other tenants' admins are
-- refused; invalid config, secret_ref and plugin keys get clear errors (a key is never shared across
-- tenants nor taken from the project's own secrets); refused calls write nothing.
begin;
select plan(44);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000a2', 'a-member@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('Tenant B', '00000000-0000-4000-8000-0000000000b1') as b;
grant select on ids to authenticated;
select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000a2') from ids;
select public.rpc_register_plugin('crm_sync', 'CRM sync');
select public.rpc_register_plugin('retired', 'Retired plugin', null, true, false);
select vault.create_secret('signing-key-a', 'crm_sync_hmac_a');
select vault.create_secret('signing-key-a2', 'crm_sync_hmac_a2');
reset client_min_messages;

set local role authenticated;

-- Refused callers -------------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a') from ids$$,
  '42501', null, 'a tenant member cannot install plugins');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a') from ids$$,
  '42501', null, 'another tenant''s admin cannot install plugins');

-- The admin -------------------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';

select throws_ok(format($$select public.rpc_install_plugin(a, %L, %L, %L) from ids$$, c.k, c.cfg, c.ref),
  '22023', c.message, c.what)
from (values
  ('no_such_plugin', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a',
    'plugin ''no_such_plugin'' is not registered', 'an unregistered plugin is refused'),
  ('retired', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a',
    'plugin ''retired'' is not active and cannot be installed', 'an inactive plugin is refused'),
  ('Bad-Key', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a',
    'plugin key ''Bad-Key'' may contain only lowercase letters a-z, digits and underscores', 'a malformed key is refused'),
  ('crm_sync', '[]', 'crm_sync_hmac_a', 'config must be a JSON object with at least webhook_url', 'a config that is not an object is refused'),
  ('crm_sync', '{}', 'crm_sync_hmac_a', 'config.webhook_url is required and must be a string', 'a config without webhook_url is refused'),
  ('crm_sync', '{"webhook_url":42}', 'crm_sync_hmac_a', 'config.webhook_url is required and must be a string',
    'a webhook_url that is not a string is refused'),
  ('crm_sync', '{"webhook_url":"http://hooks.example.com/a"}', 'crm_sync_hmac_a', 'webhook_url must use https, not http',
    'an http webhook_url is refused'),
  ('crm_sync', '{"webhook_url":"https://169.254.169.254/"}', 'crm_sync_hmac_a',
    'webhook_url must not point at 169.254.169.254 (link-local address)', 'a metadata-address webhook_url is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","timeout_ms":100}', 'crm_sync_hmac_a',
    'config.timeout_ms must be a whole number of milliseconds from 500 to 30000', 'a timeout under 500 ms is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","timeout_ms":60000}', 'crm_sync_hmac_a',
    'config.timeout_ms must be a whole number of milliseconds from 500 to 30000', 'a timeout over 30 s is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","timeout_ms":"5000"}', 'crm_sync_hmac_a',
    'config.timeout_ms must be a whole number of milliseconds from 500 to 30000', 'a timeout given as a string is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","timeout_ms":1500.5}', 'crm_sync_hmac_a',
    'config.timeout_ms must be a whole number of milliseconds from 500 to 30000', 'a fractional timeout is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":["X-A"]}', 'crm_sync_hmac_a',
    'config.headers must be an object of header names to string values', 'headers that are not an object are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"Authorization":"Bearer x"}}', 'crm_sync_hmac_a',
    'config.headers: Authorization is set by the platform and cannot be configured', 'an Authorization header is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"cookie":"a=b"}}', 'crm_sync_hmac_a',
    'config.headers: cookie is set by the platform and cannot be configured', 'a Cookie header is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"X-Plugin-Signature":"x"}}', 'crm_sync_hmac_a',
    'config.headers: X-Plugin-Signature is set by the platform and cannot be configured', 'X-Plugin-* headers are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"webhook-id":"x"}}', 'crm_sync_hmac_a',
    'config.headers: webhook-id is set by the platform and cannot be configured', 'webhook-* headers are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"User-Agent":"crm/1"}}', 'crm_sync_hmac_a',
    'config.headers: User-Agent is set by the platform and cannot be configured',
    'a User-Agent header, which deliveries would drop, is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"Metadata-Flavor":"Google"}}', 'crm_sync_hmac_a',
    'config.headers: Metadata-Flavor is a cloud metadata service header and cannot be configured',
    'a cloud metadata header, which a redirect would carry to the metadata service, is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"Metadata":"true"}}', 'crm_sync_hmac_a',
    'config.headers: Metadata is a cloud metadata service header and cannot be configured',
    'the Azure metadata header is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"X-Api-Key":"s3cret"}}', 'crm_sync_hmac_a',
    'config.headers: X-Api-Key looks like it carries a secret; headers are stored in plain text', 'secret-looking headers are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"X-Count":3}}', 'crm_sync_hmac_a',
    'config.headers.X-Count must be a string of at most 1024 characters without control characters', 'non-string header values are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a","headers":{"Bad Name":"x"}}', 'crm_sync_hmac_a',
    'config.headers: ''Bad Name'' is not a valid header name', 'invalid header names are refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'no_such_secret',
    'secret_ref ''no_such_secret'' does not name a Vault secret', 'a secret_ref that names no Vault secret is refused'),
  ('crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', '', 'secret_ref is required: the name of a Vault secret',
    'an empty secret_ref is refused')
) as c(k, cfg, ref, message, what);

select throws_ok(
  $$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a', 0) from ids$$,
  '22023', 'max_attempts must be from 1 to 20', 'max_attempts under 1 is refused');
reset role;
select is_empty('select id from int.plugin_installations', 'refused installs wrote nothing');
set local role authenticated;

create temp table inst on commit drop as
select public.rpc_install_plugin(a, 'crm_sync',
  '{"webhook_url":"https://hooks.example.com/a","headers":{"X-Tenant":"acme"}}', 'crm_sync_hmac_a') as id
from ids;
select isnt_empty('select id from inst', 'a tenant admin installs a plugin');
select throws_ok(
  $$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_a') from ids$$,
  '23505', null, 'installing the same plugin twice in a tenant is refused');

-- Update ----------------------------------------------------------------------------------------------
select lives_ok(
  $$select public.rpc_update_plugin_installation(id, p_config => '{"webhook_url":"https://hooks.example.com/b","timeout_ms":1500}',
    p_secret_ref => 'crm_sync_hmac_a2', p_is_active => false, p_max_attempts => 3) from inst$$,
  'the admin updates config, secret_ref, is_active and max_attempts');
select throws_ok($$select public.rpc_update_plugin_installation(id) from inst$$, '22023',
  'nothing to update: pass config, secret_ref, is_active or max_attempts', 'an update without changes is refused');
select throws_ok($$select public.rpc_update_plugin_installation(id, p_secret_ref => 'missing') from inst$$, '22023',
  'secret_ref ''missing'' does not name a Vault secret', 'an update to an unknown secret is refused');
select throws_ok($$select public.rpc_update_plugin_installation(gen_random_uuid(), p_is_active => true)$$, 'PT404',
  null, 'updating an installation that does not exist is a not-found error');

set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select throws_ok($$select public.rpc_update_plugin_installation(id, p_is_active => true) from inst$$, '42501', null,
  'another tenant''s admin cannot update the installation');
select throws_ok($$select public.rpc_uninstall_plugin(id) from inst$$, '42501', null,
  'another tenant''s admin cannot uninstall it');
select throws_ok(
  $$select public.rpc_install_plugin(b, 'crm_sync', '{"webhook_url":"https://hooks.example.com/b"}', 'crm_sync_hmac_a2') from ids$$,
  '22023', 'secret_ref ''crm_sync_hmac_a2'' is used by another tenant',
  'another tenant cannot install with a key already used by this one');
select throws_ok(
  $$select public.rpc_install_plugin(b, 'crm_sync', '{"webhook_url":"https://hooks.example.com/b"}', 'handle_new_user_secret') from ids$$,
  '22023', 'secret_ref ''handle_new_user_secret'' is one of the project''s own secrets',
  'an installation cannot sign with one of the project''s own secrets');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select throws_ok($$select public.rpc_update_plugin_installation(id, p_is_active => true) from inst$$, '42501', null,
  'a member cannot update the installation');

reset role;
select results_eq(
  $$select config::text || ' ' || secret_ref || ' ' || is_active || ' ' || max_attempts from int.plugin_installations$$,
  array['{"timeout_ms": 1500, "webhook_url": "https://hooks.example.com/b"} crm_sync_hmac_a2 false 3'],
  'the valid update replaced the config whole and kept nothing of the refused ones');
select ok((select created_by = '00000000-0000-4000-8000-0000000000a1' from int.plugin_installations),
  'the installation records who created it');
set local role authenticated;

-- Uninstall -------------------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select lives_ok($$select public.rpc_uninstall_plugin(id) from inst$$, 'the admin uninstalls the plugin');
reset role;
select is_empty('select id from int.plugin_installations', 'the installation is gone');

select * from finish();
rollback;
