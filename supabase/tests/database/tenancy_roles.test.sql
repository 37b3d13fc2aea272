-- Role checks: tenant.admin implies tenant.member, the service role passes, everyone else needs a
-- membership; the tenant RPCs refuse bad input and non-admins with clear errors and write nothing.
begin;
select plan(27);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000a2', 'a-member@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('  Tenant B  ', '00000000-0000-4000-8000-0000000000b1') as b;
grant select on ids to authenticated, service_role;
reset client_min_messages;

select results_eq('select name from public.tenants order by name', array['Tenant A', 'Tenant B'],
  'rpc_create_tenant creates tenants, trimming the name');
select results_eq(
  $$select role from public.tenant_memberships where user_id = '00000000-0000-4000-8000-0000000000a1'$$,
  array['tenant.admin'], 'rpc_create_tenant makes the given user the first tenant admin');

-- has_tenant_role --------------------------------------------------------------------------------------
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select ok(private.has_tenant_role(a, 'tenant.admin'), 'an admin has tenant.admin') from ids;
select ok(private.has_tenant_role(a, 'tenant.member'), 'tenant.admin implies tenant.member') from ids;
select ok(not private.has_tenant_role(b, 'tenant.member'), 'an admin of A has no role in B') from ids;
select throws_ok($$select private.require_tenant_role(b, 'tenant.admin') from ids$$, '42501',
  null, 'require_tenant_role raises 42501 for a tenant the user does not belong to');
select throws_like($$select private.require_tenant_role(b, 'tenant.admin') from ids$$,
  'permission denied: you need the tenant.admin role in tenant %', 'the error names the role and the tenant');
select throws_ok($$select private.has_tenant_role(a, 'owner') from ids$$, '22023', null,
  'an unknown role name is an error, not a silent false');

select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000a2') from ids;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select ok(private.has_tenant_role(a, 'tenant.member'), 'an added member has tenant.member') from ids;
select ok(not private.has_tenant_role(a, 'tenant.admin'), 'a member is not an admin') from ids;

set local request.jwt.claims to '{"role":"service_role"}';
select ok(private.has_tenant_role(b, 'tenant.admin'), 'the service role passes every role check') from ids;
set local request.jwt.claims to '{"role":"anon"}';
select ok(not private.has_tenant_role(a, 'tenant.member'), 'anon has no tenant role') from ids;
reset request.jwt.claims;
select ok(private.has_tenant_role(a, 'tenant.admin'), 'a direct database session (no JWT) is trusted') from ids;

-- rpc_add_tenant_member --------------------------------------------------------------------------------
set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000b1', 'tenant.admin') from ids$$,
  '42501', null, 'a member cannot add members');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000b1', 'tenant.admin') from ids$$,
  '42501', null, 'another tenant''s admin cannot add members');
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
select throws_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000b1', 'owner') from ids$$,
  '22023', 'role must be tenant.admin or tenant.member, not ''owner''', 'an unknown role is refused');
select throws_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000ff') from ids$$,
  '22023', 'user 00000000-0000-4000-8000-0000000000ff does not exist', 'an unknown user is refused');
select throws_ok($$select public.rpc_add_tenant_member(a, null) from ids$$, '22023', 'user id is required',
  'a missing user is refused');
select throws_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000a1', 'tenant.member') from ids$$,
  '22023', 'a tenant needs at least one tenant.admin', 'the last admin cannot step down');
select lives_ok(
  $$select public.rpc_add_tenant_member(a, '00000000-0000-4000-8000-0000000000a2', 'tenant.admin') from ids$$,
  'an admin promotes a member');
select throws_ok($$select public.rpc_create_tenant('Mine', '00000000-0000-4000-8000-0000000000a1')$$, '42501', null,
  'authenticated cannot create tenants');
reset role;
reset request.jwt.claims;

select results_eq(
  $$select user_id::text || ' ' || role from public.tenant_memberships m join ids on m.tenant_id = ids.a order by 1$$,
  array['00000000-0000-4000-8000-0000000000a1 tenant.admin', '00000000-0000-4000-8000-0000000000a2 tenant.admin'],
  'only the valid changes were written to tenant A''s memberships');

-- rpc_create_tenant input ------------------------------------------------------------------------------
set local role service_role;
set local request.jwt.claims to '{"role":"service_role"}';
select throws_ok($$select public.rpc_create_tenant('', '00000000-0000-4000-8000-0000000000a1')$$,
  '22023', 'tenant name must be 1 to 200 characters', 'an empty tenant name is refused');
select throws_ok($$select public.rpc_create_tenant(repeat('x', 201), '00000000-0000-4000-8000-0000000000a1')$$,
  '22023', 'tenant name must be 1 to 200 characters', 'a tenant name over 200 characters is refused');
select throws_ok($$select public.rpc_create_tenant('Acme', null)$$, '22023', 'admin user id is required',
  'a tenant without an admin is refused');
select throws_ok($$select public.rpc_create_tenant('Acme', '00000000-0000-4000-8000-0000000000ff')$$,
  '22023', 'user 00000000-0000-4000-8000-0000000000ff does not exist', 'a tenant with an unknown admin is refused');
reset role;
reset request.jwt.claims;
select results_eq('select count(*)::int from public.tenants', array[2], 'refused calls created no tenant');

select * from finish();
rollback;
