-- The project's own secret families (handle_new_user_*, messages_webhook_*, sendry_*, as the README
-- names them) can never sign a tenant's deliveries, including names the migrations do not read
-- today; other names stay usable. A refused call writes nothing.
begin;
select plan(7);

set local client_min_messages = error;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a;
grant select on ids to authenticated;
create temp table inst (id uuid) on commit drop;
grant select, insert on inst to authenticated;
select public.rpc_register_plugin('crm_sync', 'CRM sync');
select vault.create_secret('project-key-1', 'sendry_webhook_secret');
select vault.create_secret('project-key-2', 'handle_new_user_hook_secret');
select vault.create_secret('project-key-3', 'messages_webhook_signing_key');
select vault.create_secret('tenant-key', 'sendrycrm_hmac');
reset client_min_messages;

set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';

select throws_ok(
  format($$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', %L) from ids$$,
    r.name),
  '22023', format('secret_ref %L is one of the project''s own secrets', r.name),
  format('%s (a project secret family) cannot be an installation''s key', r.name))
from (values ('sendry_webhook_secret'), ('handle_new_user_hook_secret'), ('messages_webhook_signing_key')) r(name);

reset role;
select is((select count(*)::int from int.plugin_installations), 0, 'the refused installs wrote nothing');

set local role authenticated;
select lives_ok(
  $$insert into inst select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'sendrycrm_hmac') from ids$$,
  'a name outside those families is accepted');
select throws_ok(
  $$select public.rpc_update_plugin_installation(id, p_secret_ref => 'sendry_webhook_secret') from inst$$,
  '22023', 'secret_ref ''sendry_webhook_secret'' is one of the project''s own secrets',
  'an update cannot switch to a project secret either');

reset role;
select is((select secret_ref from int.plugin_installations), 'sendrycrm_hmac', 'the refused update changed nothing');

select * from finish();
rollback;
