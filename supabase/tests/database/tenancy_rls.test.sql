-- Members see and change only their own tenants' rows: tenants, memberships and work orders are
-- isolated between two tenants by RLS; only tenant admins delete work orders.
begin;
select plan(17);

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

insert into public.work_orders (tenant_id, title)
select a, 'A: fix the pump' from ids union all
select a, 'A: check the valve' from ids union all
select b, 'B: replace the filter' from ids;
reset client_min_messages;

-- A member of tenant A --------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';

select results_eq('select name from public.tenants', array['Tenant A'], 'a member sees only their tenant');
select results_eq('select role from public.tenant_memberships', array['tenant.member'],
  'a member sees only their own membership');
select results_eq('select title from public.work_orders order by title',
  array['A: check the valve', 'A: fix the pump'], 'a member sees only their tenant''s work orders');
select lives_ok($$insert into public.work_orders (tenant_id, title) select a, 'A: new' from ids$$,
  'a member creates a work order in their tenant');
select throws_ok($$insert into public.work_orders (tenant_id, title) select b, 'B: intruder' from ids$$,
  '42501', null, 'a member cannot create a work order in another tenant');
select is_empty($$update public.work_orders set title = 'hijacked' where title like 'B:%' returning id$$,
  'a member cannot update another tenant''s work orders');
select throws_ok($$update public.work_orders set tenant_id = (select b from ids) where title = 'A: new'$$,
  '42501', null, 'a member cannot move a work order into another tenant');
select is_empty($$delete from public.work_orders where title = 'A: new' returning id$$,
  'a member cannot delete work orders (admins only)');

-- The admin of tenant A -------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select results_eq('select count(*)::int from public.tenant_memberships', array[1],
  'an admin, too, reads only their own membership row');
select isnt_empty($$delete from public.work_orders where title = 'A: new' returning id$$,
  'a tenant admin deletes a work order of their tenant');
select is_empty($$delete from public.work_orders where title like 'B:%' returning id$$,
  'a tenant admin cannot delete another tenant''s work orders');

-- The admin of tenant B -------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select results_eq('select name from public.tenants', array['Tenant B'], 'the other tenant''s admin sees only tenant B');
select results_eq('select title from public.work_orders', array['B: replace the filter'],
  'the other tenant''s admin sees only tenant B''s work orders');

-- Someone without a tenant, and anon -----------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000ff","role":"authenticated"}';
select is_empty('select id from public.work_orders', 'a user without memberships sees no work orders');
reset role;
set local role anon;
set local request.jwt.claims to '{"role":"anon"}';
select throws_ok('select count(*) from public.work_orders', '42501', null, 'anon cannot read work orders');
reset role;
reset request.jwt.claims;

select results_eq($$select title from public.work_orders where title like 'B:%'$$, array['B: replace the filter'],
  'tenant B''s work order is unchanged');
select results_eq('select count(*)::int from public.work_orders', array[3], 'only the admin''s delete took effect');

select * from finish();
rollback;
