-- Subscriptions: tenant admins subscribe an installation to an audited table with a tenant_id; the
-- table, operations and allowlist are validated with clear errors, and refused calls write nothing.
begin;
select plan(23);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000a2', 'a-member@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('Tenant B', '00000000-0000-4000-8000-0000000000b1') as b;
select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000a2') from ids;
select public.rpc_register_plugin('crm_sync', 'CRM sync');
select vault.create_secret('signing-key', 'crm_sync_hmac');
create temp table inst on commit drop as
select public.rpc_install_plugin(a, 'crm_sync', '{"webhook_url":"https://hooks.example.com/a"}', 'crm_sync_hmac') as id
from ids;
grant select on ids, inst to authenticated;
-- An audited table without tenant_id: its changes belong to no tenant.
create table public.gadgets (id bigint primary key, name text);
select audit.track_table('public.gadgets');
reset client_min_messages;

set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';

select throws_ok(format($$select public.rpc_upsert_webhook_subscription(id, %L, %L, %L::text[], %L::text[]) from inst$$,
  c.s, c.t, c.ops, c.allow), '22023', c.message, c.what)
from (values
  ('public', 'no_such_table', '{INSERT}', null, 'table public.no_such_table does not exist', 'an unknown table is refused'),
  ('public', 'tenants', '{INSERT}', null, 'table public.tenants is not audited, so it has no changes to subscribe to',
    'a table that is not audited is refused'),
  ('public', 'gadgets', '{INSERT}', null, 'table public.gadgets has no tenant_id column, so its changes belong to no tenant',
    'an audited table without tenant_id is refused'),
  ('public', '', '{INSERT}', null, 'table_schema and table_name are required', 'an empty table name is refused'),
  ('public', 'work_orders', '{}', null, 'operations must list at least one of INSERT, UPDATE, DELETE', 'no operations is refused'),
  ('public', 'work_orders', '{INSERT,TRUNCATE}', null, 'operations may only contain INSERT, UPDATE and DELETE, got {INSERT,TRUNCATE}',
    'an unknown operation is refused'),
  ('public', 'work_orders', '{UPDATE}', '{status,colour,size}',
    'changed_fields_allowlist names columns that public.work_orders does not have: colour, size',
    'allowlist entries that are not columns are refused'),
  ('public', 'work_orders', '{UPDATE}', '{status,NULL}', 'changed_fields_allowlist must not contain null', 'a null allowlist entry is refused')
) as c(s, t, ops, allow, message, what);
select throws_ok($$select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', null) from inst$$, '22023',
  'operations must list at least one of INSERT, UPDATE, DELETE', 'null operations are refused');
select throws_ok($$select public.rpc_upsert_webhook_subscription(gen_random_uuid(), 'public', 'work_orders', '{INSERT}')$$,
  'PT404', null, 'an unknown installation is a not-found error');

set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select throws_ok($$select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', '{INSERT}') from inst$$,
  '42501', null, 'a member cannot subscribe');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select throws_ok($$select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', '{INSERT}') from inst$$,
  '42501', null, 'another tenant''s admin cannot subscribe');

reset role;
select is_empty('select id from int.plugin_subscriptions', 'refused calls wrote nothing');
set local role authenticated;

set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
create temp table sub on commit drop as
select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', '{update,insert,UPDATE}',
  '{title,status,title}', true) as id from inst;
reset role;
select results_eq(
  $$select operations::text || ' ' || changed_fields_allowlist::text || ' ' || include_payload || ' ' || (tenant_id = ids.a)
    from int.plugin_subscriptions, ids$$,
  array['{INSERT,UPDATE} {status,title} true true'],
  'operations are upper-cased and deduplicated, the allowlist sorted and deduplicated, the tenant taken from the installation');
set local role authenticated;

select is(
  (select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', '{DELETE}') from inst),
  (select id from sub), 'upserting the same table again updates the subscription in place');
reset role;
select results_eq(
  $$select operations::text || ' ' || coalesce(changed_fields_allowlist::text, 'any') || ' ' || include_payload
    from int.plugin_subscriptions$$,
  array['{DELETE} any false'], 'the second upsert replaced operations, allowlist and include_payload');
set local role authenticated;

select lives_ok($$select public.rpc_upsert_webhook_subscription(id, 'public', 'work_orders', '{UPDATE}', '{}') from inst$$,
  'an empty allowlist is accepted');
reset role;
select is((select changed_fields_allowlist from int.plugin_subscriptions), null, 'an empty allowlist is stored as null (any change)');
set local role authenticated;

-- Delete ----------------------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select throws_ok($$select public.rpc_delete_webhook_subscription(id) from sub$$, '42501', null,
  'another tenant''s admin cannot delete the subscription');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select throws_ok($$select public.rpc_delete_webhook_subscription(id) from sub$$, '42501', null,
  'a member cannot delete the subscription');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select throws_ok($$select public.rpc_delete_webhook_subscription(gen_random_uuid())$$, 'PT404', null,
  'deleting an unknown subscription is a not-found error');
select lives_ok($$select public.rpc_delete_webhook_subscription(id) from sub$$, 'the admin deletes the subscription');
reset role;
select is_empty('select id from int.plugin_subscriptions', 'the subscription is gone');

select * from finish();
rollback;
