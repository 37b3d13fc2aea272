-- work_order_comments: a comment always carries its work order's tenant, members read their own
-- tenant's comments only, and clients cannot write them directly.
begin;
select plan(6);

-- Tenants A and B with admins, work orders and installations; helpers sign() and ingest().
\ir _fixtures/inbound.sql

insert into public.work_order_comments (tenant_id, work_order_id, body)
values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'aaaaaaaa-aaaa-4000-8000-00000000a001', 'filed under the wrong tenant');
select is((select tenant_id from public.work_order_comments), 'aaaaaaaa-aaaa-4000-8000-000000000000'::uuid,
  'the tenant is always the work order''s, whatever the writer says');
insert into public.work_order_comments (work_order_id, body)
values ('bbbbbbbb-bbbb-4000-8000-00000000b001', 'on B');

select throws_ok(
  $$insert into public.work_order_comments (work_order_id, body) values ('aaaaaaaa-aaaa-4000-8000-00000000a001', '')$$,
  '23514', null, 'an empty comment is refused');
select ok(audit.is_tracked('public.work_order_comments'), 'comments are audited');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-000000000002", "role": "authenticated"}', true);
select results_eq($$select body from public.work_order_comments$$, $$values ('filed under the wrong tenant')$$,
  'a member of tenant A reads only tenant A''s comments');
select throws_ok(
  $$insert into public.work_order_comments (work_order_id, body) values ('aaaaaaaa-aaaa-4000-8000-00000000a001', 'x')$$,
  '42501', null, 'clients cannot insert comments directly');
reset role;

set local role anon;
select throws_ok($$select * from public.work_order_comments$$, '42501', null, 'anon cannot read comments');
reset role;

select * from finish();
rollback;
