-- Audit conventions the other audit tests do not pin down (the tenant of
-- a row that moves tenant, the key order of a composite record_id, and how a primary key change is
-- recorded).
begin;
select plan(4);

set local client_min_messages = error;
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a-admin@example.com'),
  ('00000000-0000-4000-8000-0000000000b1', 'b-admin@example.com');
create temp table ids on commit drop as
select public.rpc_create_tenant('Tenant A', '00000000-0000-4000-8000-0000000000a1') as a,
  public.rpc_create_tenant('Tenant B', '00000000-0000-4000-8000-0000000000b1') as b;
reset client_min_messages;

-- A row that moves to another tenant ---------------------------------------------------------------------
insert into public.work_orders (id, tenant_id, title)
select '00000000-0000-4000-8000-000000000f01', a, 'Moves to B' from ids;
delete from audit.entity_changes;
update public.work_orders set tenant_id = (select b from ids) where id = '00000000-0000-4000-8000-000000000f01';
select is((select tenant_id from audit.entity_changes), (select b from ids),
  'an UPDATE that moves a row to another tenant is recorded under the new tenant');

-- A composite key whose column order is not alphabetical -----------------------------------------------------
create table public.key_order (z_part int, a_part text, note text, primary key (z_part, a_part));
select audit.track_table('public.key_order');
insert into public.key_order values (7, 'x', 'n');
select is((select record_id from audit.entity_changes where table_name = 'key_order'), '[7, "x"]',
  'a composite record_id lists the key''s values in key order, not by column name');

-- A primary key change --------------------------------------------------------------------------------
insert into public.work_orders (id, tenant_id, title)
select '00000000-0000-4000-8000-000000000f02', a, 'Renumbered' from ids;
delete from audit.entity_changes;
update public.work_orders set id = '00000000-0000-4000-8000-000000000f03'
where id = '00000000-0000-4000-8000-000000000f02';
select results_eq(
  $$select op || ' ' || record_id || ' ' || changed_fields::text || ' old:' || (old_data is not null)
      || ' new:' || (new_data is not null)
    from audit.entity_changes order by op$$,
  array['DELETE 00000000-0000-4000-8000-000000000f02 {} old:true new:false',
        'INSERT 00000000-0000-4000-8000-000000000f03 {} old:false new:true'],
  'a primary key change is a DELETE of the old key with the old row and an INSERT of the new key with the new row, neither listing changed fields');

-- The actor of a user whose id is written in capitals -----------------------------------------------------
delete from audit.entity_changes;
set local request.jwt.claims to '{"sub":"AAAAAAAA-0000-4000-8000-0000000000A1","role":"service_role"}';
update public.work_orders set title = 'By an upper-case sub' where id = '00000000-0000-4000-8000-000000000f01';
reset request.jwt.claims;
select is((select actor from audit.entity_changes), 'aaaaaaaa-0000-4000-8000-0000000000a1'::uuid,
  'a sub that is a uuid in capitals is still the actor');

select * from finish();
rollback;
