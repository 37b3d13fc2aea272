-- Audit capture on tables a Supabase user may have: any column names, a renamed primary key column, a
-- partitioned table, and sessions whose request.jwt.claims is not JSON. The user's write never fails
-- because the table is audited, and every change of a tracked table is recorded.
begin;
select plan(14);

-- Columns named like the trigger's row aliases (n, o, x) ---------------------------------------------
create table public.review_counts (id int primary key, n int not null);
create table public.review_points (id int primary key, x int not null, y int not null);
create table public.review_orders (id int primary key, o text not null);
select audit.track_table('public.review_counts');
select audit.track_table('public.review_points');
select audit.track_table('public.review_orders');
insert into public.review_points values (1, 10, 20);
insert into public.review_orders values (1, 'first');

select lives_ok($$insert into public.review_counts values (1, 5)$$,
  'an INSERT into a tracked table with a column named n succeeds');
select is(
  (select record_id || ' ' || new_data::text from audit.entity_changes where table_name = 'review_counts'),
  '1 {"n": 5, "id": 1}', 'and records the whole row, not the value of column n');
select lives_ok($$update public.review_points set y = 21$$,
  'an UPDATE of a tracked table with a column named x succeeds');
select is(
  (select op || ' ' || record_id || ' ' || changed_fields::text from audit.entity_changes
   where table_name = 'review_points' and op <> 'INSERT'),
  'UPDATE 1 {y}', 'and records the changed column of the row');
select lives_ok($$delete from public.review_orders$$,
  'a DELETE from a tracked table with a column named o succeeds');
select is(
  (select record_id || ' ' || old_data::text from audit.entity_changes
   where table_name = 'review_orders' and op = 'DELETE'),
  '1 {"o": "first", "id": 1}', 'and records the whole deleted row');

-- A renamed primary key column -------------------------------------------------------------------------
create table public.review_renamed (id int primary key, note text);
select audit.track_table('public.review_renamed');
alter table public.review_renamed rename column id to renamed_id;
select lives_ok($$insert into public.review_renamed values (7, 'after the rename')$$,
  'a tracked table can still be written after its primary key column is renamed');
select is((select record_id from audit.entity_changes where table_name = 'review_renamed'), '7',
  'and its changes keep the primary key as record_id');

-- A partitioned table -------------------------------------------------------------------------------------
create table public.review_parted (id int, part int, primary key (id, part)) partition by list (part);
create table public.review_parted_1 partition of public.review_parted for values in (1);
do $$
begin
  perform audit.track_table('public.review_parted');
exception when invalid_parameter_value then
  null; -- refusing partitioned tables is one acceptable outcome
end
$$;
insert into public.review_parted_1 values (1, 1);
select ok(
  not audit.is_tracked('public.review_parted')
  or exists (select 1 from audit.entity_changes where table_name = 'review_parted' and record_id = '[1, 1]'),
  'a partitioned table is either refused by track_table or audited when a partition is written directly');

-- request.jwt.claims that is not JSON -------------------------------------------------------------------
create table public.review_claims (id int primary key, note text);
select audit.track_table('public.review_claims');
grant insert on public.review_claims to service_role;
set local role service_role;
set local request.jwt.claims to 'eyJhbGciOiJIUzI1NiJ9.not-json';
select lives_ok($$insert into public.review_claims values (1, 'by the service role')$$,
  'a write of a session whose request.jwt.claims is not JSON is not failed by the audit');
reset role;
reset request.jwt.claims;
select is((select actor from audit.entity_changes where table_name = 'review_claims'), null,
  'its change is recorded with no actor');
select is((select count(*)::int from audit.entity_changes where table_name = 'review_claims'), 1,
  'and is recorded once');

-- The operation column takes only the three audited operations -------------------------------------------
select throws_ok(
  $$insert into audit.entity_changes (table_schema, table_name, op, record_id) values ('public', 'review_counts', 'TRUNCATE', '1')$$,
  '23514', null,
  'an audit row with an operation other than INSERT, UPDATE or DELETE is refused');
select is((select count(*)::int from audit.entity_changes where op = 'TRUNCATE'), 0, 'and is not written');

select * from finish();
rollback;
