-- rpc_list_recent_deliveries reads only the newest batches of queued deliveries, enough to hold p_limit
-- of them: whatever the limit, it lists exactly the newest queued deliveries, in the same order as the
-- whole queue sorted would give, with batches of equal age (one transaction) taken together and other
-- tenants' batches never counted.
begin;
select plan(10);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

-- Six statements, so six batches: four of tenant A (3, 4, 2 and 5 changes) and two of tenant B.
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'A1-' || n from generate_series(1, 3) n;
insert into public.work_orders (tenant_id, title)
select 'bbbbbbbb-bbbb-4000-8000-000000000000', 'B1-' || n from generate_series(1, 6) n;
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'A2-' || n from generate_series(1, 4) n;
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'A3-' || n from generate_series(1, 2) n;
insert into public.work_orders (tenant_id, title)
select 'bbbbbbbb-bbbb-4000-8000-000000000000', 'B2-' || n from generate_series(1, 6) n;
insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'A4-' || n from generate_series(1, 5) n;

-- Ages as if written by separate transactions, the second and third of A's in the same one; B's are
-- the newest of all.
update int.plugin_delivery_batches b
-- Within that transaction the third's delivery ids sort first, so a listing that stopped after the
-- second batch would miss them.
set created_at = now() - pg_catalog.make_interval(mins => a.minutes),
  delivery_id_seed = case a.n
    when 3 then 'ffffffff-ffff-4fff-bfff-000000000000'::uuid
    when 4 then '00000000-0000-4000-8000-000000000000'::uuid
    else b.delivery_id_seed
  end
from (
  select b2.id, row_number() over (order by b2.id) as n,
    case row_number() over (order by b2.id) when 1 then 4 when 2 then 0 when 3 then 2
      when 4 then 2 when 5 then 0 else 1 end as minutes
  from int.plugin_delivery_batches b2
) a
where a.id = b.id;

select is(
  (select count(*)::int from int.plugin_queued_deliveries where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
  14,
  'tenant A has 14 queued deliveries in four batches'
);

select is(
  array(select id from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000', p_limit => l)),
  array(select id from int.plugin_queued_deliveries where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'
        order by created_at desc, id limit l),
  pg_catalog.format('p_limit %s lists the newest %s queued deliveries, newest first', l, l)
)
from unnest(array[1, 5, 6, 7, 9, 11, 14, 50]) as l;

select is(
  array(select id from public.rpc_list_recent_deliveries('aaaaaaaa-aaaa-4000-8000-000000000000',
    (select id from int.plugin_installations where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'),
    'pending', 8)),
  array(select id from int.plugin_queued_deliveries where tenant_id = 'aaaaaaaa-aaaa-4000-8000-000000000000'
        order by created_at desc, id limit 8),
  'the same with the installation and status filters'
);

select * from finish();
rollback;
