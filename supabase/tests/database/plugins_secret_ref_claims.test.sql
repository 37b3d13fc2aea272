-- A Vault secret that one tenant's installation has signed with stays that tenant's: uninstalling does
-- not hand the key to another tenant, whose admin would otherwise obtain deliveries signed with it
-- (and could replay them to the first tenant's receiver). The tenant itself can use it again; deleting
-- the tenant releases it. Refused calls write nothing.
begin;
select plan(11);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('Tenant B', '00000000-0000-4000-8000-0000000000b1') as b;
grant select on ids to authenticated;
create temp table inst (tenant text, id uuid) on commit drop;
grant select, insert, delete on inst to authenticated;
select public.rpc_register_plugin('crm_sync', 'CRM sync');
select public.rpc_register_plugin('ticketing', 'Ticketing');
select vault.create_secret('key-of-b', 'crm_sync_hmac_b');
select vault.create_secret('key-of-a', 'crm_sync_hmac_a');
reset client_min_messages;

set local role authenticated;

-- Tenant B signs with its key, then uninstalls.
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
insert into inst select 'b', public.rpc_install_plugin(b, 'crm_sync', '{"webhook_url":"https://hooks.example.com/b"}',
  'crm_sync_hmac_b') from ids;
select lives_ok($$select public.rpc_uninstall_plugin(id) from inst where tenant = 'b'$$, 'tenant B uninstalls');
delete from inst where tenant = 'b';

-- Tenant A cannot take B's key, neither when installing nor when updating.
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_b') from ids$$,
  '22023', 'secret_ref ''crm_sync_hmac_b'' is used by another tenant',
  'another tenant cannot install with a key that a since uninstalled installation signed with');
insert into inst select 'a', public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}',
  'crm_sync_hmac_a') from ids;
select throws_ok($$select public.rpc_update_plugin_installation(id, p_secret_ref => 'crm_sync_hmac_b') from inst$$,
  '22023', 'secret_ref ''crm_sync_hmac_b'' is used by another tenant', 'nor switch an installation to it');

reset role;
select is((select secret_ref from int.plugin_installations), 'crm_sync_hmac_a', 'the refused calls changed nothing');
select throws_ok(
  $$insert into int.plugin_installations (tenant_id, plugin_key, config, secret_ref)
    select a, 'ticketing', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac_b' from ids$$,
  '22023', 'secret_ref ''crm_sync_hmac_b'' is used by another tenant', 'a direct insert is refused too');
select throws_ok(
  $$update int.plugin_installations set secret_ref = 'crm_sync_hmac_b'$$,
  '22023', 'secret_ref ''crm_sync_hmac_b'' is used by another tenant', 'a direct update is refused as well');
set local role authenticated;

-- Tenant B keeps its key.
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select lives_ok(
  $$select public.rpc_install_plugin(b, 'crm_sync', '{"webhook_url":"https://hooks.example.com/b"}', 'crm_sync_hmac_b') from ids$$,
  'the tenant that signed with the key can install with it again');

-- Deleting tenant B releases it.
reset role;
reset request.jwt.claims;
delete from public.tenants where id = (select b from ids);
set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select lives_ok($$select public.rpc_update_plugin_installation(id, p_secret_ref => 'crm_sync_hmac_b') from inst$$,
  'once its tenant is deleted, the key is free');
reset role;
select is((select secret_ref from int.plugin_installations), 'crm_sync_hmac_b', 'and the installation now signs with it');

-- An installation moved to another tenant (by an operator: no RPC moves one) takes no key along.
insert into public.tenants (id, name) values ('00000000-0000-4000-8000-0000000000c0', 'Tenant C');
select throws_ok(
  $$update int.plugin_installations set tenant_id = '00000000-0000-4000-8000-0000000000c0'$$,
  '22023', 'secret_ref ''crm_sync_hmac_b'' is used by another tenant',
  'moving an installation to another tenant with its key is refused');
update int.plugin_installations set tenant_id = '00000000-0000-4000-8000-0000000000c0', secret_ref = 'crm_sync_hmac_c';
select is(
  (select pg_catalog.array_agg(c.secret_ref || ' ' || t.name order by c.secret_ref)
   from int.plugin_secret_claims c join public.tenants t on t.id = c.tenant_id),
  array['crm_sync_hmac_a Tenant A', 'crm_sync_hmac_b Tenant A', 'crm_sync_hmac_c Tenant C'],
  'moved with a key of its own, the new tenant claims that key and the old one keeps its keys');

select * from finish();
rollback;
