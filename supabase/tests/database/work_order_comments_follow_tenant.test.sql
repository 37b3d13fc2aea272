-- A comment's tenant follows its work order: when a work order moves to another tenant, its comments
-- move with it, so members of the old tenant stop reading them and members of the new one start.
begin;
select plan(4);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

-- member-a is also a member of B, so RLS lets them move the work order from A to B.
insert into public.tenant_memberships (tenant_id, user_id, role)
values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000002', 'tenant.member');
insert into public.work_order_comments (work_order_id, body) values
  ('aaaaaaaa-aaaa-4000-8000-00000000a001', 'written while in A'),
  ('bbbbbbbb-bbbb-4000-8000-00000000b001', 'on B''s own work order');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000002", "role": "authenticated"}', true);
update public.work_orders set tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'
where id = 'aaaaaaaa-aaaa-4000-8000-00000000a001';
reset role;

select is(
  (select tenant_id from public.work_order_comments where body = 'written while in A'),
  'bbbbbbbb-bbbb-4000-8000-000000000000'::uuid,
  'the comment now carries the work order''s new tenant');
select is((select count(*)::int from public.work_order_comments where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'), 0,
  'no comment is left under the old tenant');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select is_empty($$select body from public.work_order_comments$$,
  'the admin of tenant A (not a member of B) no longer reads the moved work order''s comments');
select set_config('request.jwt.claims', '{"sub": "bbbbbbbb-0000-4000-8000-000000000001", "role": "authenticated"}', true);
select results_eq($$select body from public.work_order_comments order by body$$,
  $$values ('on B''s own work order'), ('written while in A')$$,
  'the admin of tenant B reads every comment of B''s work orders');
reset role;

select * from finish();
rollback;
