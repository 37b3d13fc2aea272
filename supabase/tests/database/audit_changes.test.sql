-- audit.entity_changes records what really changed: INSERT and DELETE rows whole, UPDATE only the
-- changed columns, no-op updates not at all, with the row's tenant and the acting user.
begin;
select plan(22);

set local client_min_messages = error;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a;
grant select on ids to authenticated;
reset client_min_messages;

insert into public.work_orders (id, tenant_id, title)
select '00000000-0000-4000-8000-000000000f01', a, 'Fix the pump' from ids;

select results_eq(
  $$select op || ' ' || record_id || ' ' || changed_fields::text || ' ' || (old_data is null) || ' ' || (tenant_id = ids.a)
    from audit.entity_changes, ids$$,
  array['INSERT 00000000-0000-4000-8000-000000000f01 {} true true'],
  'an INSERT is recorded with the primary key, no changed fields, no old row and the row''s tenant');
select is((select new_data from audit.entity_changes),
  (select to_jsonb(w) from public.work_orders w), 'new_data is the inserted row');
select is((select actor from audit.entity_changes), null, 'a direct database session has no actor');

delete from audit.entity_changes;
update public.work_orders set status = 'in_progress', priority = 'high', title = title;
select results_eq('select op || '' '' || changed_fields::text from audit.entity_changes',
  array['UPDATE {priority,status}'], 'an UPDATE records only the columns whose values changed, sorted');
select is((select old_data ->> 'status' || ' -> ' || (new_data ->> 'status') from audit.entity_changes),
  'open -> in_progress', 'old_data and new_data hold the row before and after');

delete from audit.entity_changes;
update public.work_orders set status = 'in_progress', title = 'Fix the pump';
select is_empty('select id from audit.entity_changes', 'an UPDATE that changes no value writes nothing');

insert into public.work_orders (tenant_id, title) select a, 'Second ' || g from ids, generate_series(1, 3) g;
update public.work_orders set priority = 'low' where id = '00000000-0000-4000-8000-000000000f01';
delete from audit.entity_changes;
update public.work_orders set priority = 'low' where title like 'Second%' or title = 'Fix the pump';
select is((select count(*)::int from audit.entity_changes), 3,
  'in a multi-row UPDATE only the rows that really changed are recorded');
select ok(
  (select bool_and(changed_fields = '{priority}') from audit.entity_changes),
  'each recorded row lists its own changed columns');
select ok(
  not exists (select 1 from audit.entity_changes where record_id = '00000000-0000-4000-8000-000000000f01'),
  'the row whose priority was already low is not recorded');

delete from audit.entity_changes;
delete from public.work_orders where id = '00000000-0000-4000-8000-000000000f01';
select results_eq(
  $$select op || ' ' || record_id || ' ' || (new_data is null) || ' ' || (old_data ->> 'title') from audit.entity_changes$$,
  array['DELETE 00000000-0000-4000-8000-000000000f01 true Fix the pump'],
  'a DELETE is recorded with the old row and no new row');

delete from audit.entity_changes;
update public.work_orders set id = '00000000-0000-4000-8000-000000000f02' where title = 'Second 1';
select is((select array_agg(op::text order by op) from audit.entity_changes), array['DELETE', 'INSERT'],
  'an UPDATE of the primary key is recorded as a DELETE of the old key and an INSERT of the new one');

-- The acting user ------------------------------------------------------------------------------------
delete from audit.entity_changes;
set local role authenticated;
set local request.jwt.claims to '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}';
update public.work_orders set status = 'done' where title = 'Second 2';
set local request.jwt.claims to '{"sub":"user_2abcdef","role":"authenticated"}';
select throws_ok($$update public.work_orders set status = 'done' where title = 'Second 3'$$, '22P02', null,
  'a non-uuid sub cannot pass RLS (auth.uid() fails), as before auditing');
reset role;
set local request.jwt.claims to '{"sub":"user_2abcdef","role":"service_role"}';
update public.work_orders set status = 'done' where title = 'Second 3';
reset request.jwt.claims;
select results_eq('select coalesce(actor::text, ''none'') from audit.entity_changes order by id',
  array['00000000-0000-4000-8000-0000000000a1', 'none'],
  'actor is the JWT sub of the user, and null when the sub is not a uuid (the write still succeeds)');

-- track_table ----------------------------------------------------------------------------------------
select lives_ok($$select audit.track_table('public.work_orders')$$, 'tracking an audited table again is harmless');
select is((select count(*)::int from pg_trigger where tgrelid = 'public.work_orders'::regclass
  and tgfoid = 'audit.capture_changes'::regproc), 3, 'it still has exactly three audit triggers');

create table public.no_key (name text);
select throws_ok($$select audit.track_table('public.no_key')$$, '22023',
  'public.no_key has no primary key: audited rows are identified by it', 'a table without a primary key is refused');
select throws_ok($$select audit.track_table('audit.entity_changes')$$, '22023',
  'tables in schema audit cannot be tracked', 'the audit log itself cannot be tracked');
create table public.text_tenant (id int primary key, tenant_id text);
select throws_ok($$select audit.track_table('public.text_tenant')$$, '22023',
  'public.text_tenant.tenant_id must be of type uuid to be audited per tenant', 'a non-uuid tenant_id is refused');

create table public.pairs (left_id int, right_id text, note text, primary key (left_id, right_id));
select audit.track_table('public.pairs');
delete from audit.entity_changes;
insert into public.pairs values (1, 'a', 'first');
update public.pairs set note = 'changed';
select results_eq('select op || '' '' || record_id || '' '' || coalesce(tenant_id::text, ''no tenant'') from audit.entity_changes order by id',
  array['INSERT [1, "a"] no tenant', 'UPDATE [1, "a"] no tenant'],
  'a composite key is recorded as a JSON array, and a table without tenant_id has no tenant');
select lives_ok($$select audit.untrack_table('public.pairs')$$, 'untrack_table stops auditing');
insert into public.pairs values (2, 'b', 'second');
select is((select count(*)::int from audit.entity_changes), 2, 'an untracked table writes nothing');
select ok(not audit.is_tracked('public.pairs'), 'is_tracked says so');

select * from finish();
rollback;
