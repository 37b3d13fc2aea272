-- The edges of "2xx is delivered" (199, 200, 299, 300), which the other
-- deliveries tests only probe with 200, 404, 500 and 503; the oldest due delivery going first when a
-- run is limited; and an unsendable delivery dying after exactly max_attempts.
begin;
select plan(5);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title)
select 'aaaaaaaa-aaaa-4000-8000-000000000000', 'answered ' || c from unnest(array[199, 200, 299, 300]) c;
select is((public.rpc_process_plugin_deliveries(100) ->> 'sent')::int, 4, 'four deliveries are sent');

-- Each request is answered with the status code its work order names.
insert into net._http_response (id, status_code, content, timed_out, error_msg)
select d.net_request_id, split_part(w.title, ' ', 2)::int, 'answer', false, null
from int.plugin_deliveries d
join audit.entity_changes c on c.id = d.audit_id
join public.work_orders w on w.id::text = c.record_id
where d.status = 'in_flight';
select public.rpc_process_plugin_deliveries(100);

select results_eq(
  $$select w.title || ': ' || d.status || ' ' || coalesce(d.last_error, '-')
    from int.plugin_deliveries d
    join audit.entity_changes c on c.id = d.audit_id
    join public.work_orders w on w.id::text = c.record_id
    order by w.title$$,
  array['answered 199: failed HTTP 199', 'answered 200: delivered -', 'answered 299: delivered -',
        'answered 300: failed HTTP 300'],
  'every 2xx answer (200 to 299) is delivered with no error; 199 and 300 fail with their status');

-- A limited run sends the delivery that has been due longest -----------------------------------------
insert into public.work_orders (tenant_id, title) values
  ('aaaaaaaa-aaaa-4000-8000-000000000000', 'due first'), ('aaaaaaaa-aaaa-4000-8000-000000000000', 'due second');
select public.rpc_process_plugin_deliveries(1) ->> 'queued';
select public.rpc_process_plugin_deliveries(1) ->> 'queued';
update int.plugin_deliveries d set status = 'pending', attempts = 0, net_request_id = null, net_generation = null,
  lease_expires_at = null,
  next_attempt_at = now() - case w.title when 'due first' then interval '2 minutes' else interval '1 minute' end
from audit.entity_changes c, public.work_orders w
where c.id = d.audit_id and w.id::text = c.record_id and w.title like 'due %';
select is(
  (select array_agg(w.title order by w.title) from int.plugin_deliveries d
   join audit.entity_changes c on c.id = d.audit_id join public.work_orders w on w.id::text = c.record_id
   where w.title like 'due %' and d.status = 'pending'),
  array['due first', 'due second'], 'two deliveries are due, one for longer');
select public.rpc_process_plugin_deliveries(1);
select is(
  (select w.title from int.plugin_deliveries d
   join audit.entity_changes c on c.id = d.audit_id join public.work_orders w on w.id::text = c.record_id
   where w.title like 'due %' and d.status = 'in_flight'),
  'due first', 'a run limited to one delivery sends the one due longest');

-- An unsendable delivery is dead after exactly max_attempts ---------------------------------------------
update int.plugin_installations set max_attempts = 2 where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000';
delete from vault.secrets where name = 'deliveries_test_secret_b';
insert into public.work_orders (tenant_id, title) values ('bbbbbbbb-bbbb-4000-8000-000000000000', 'no secret');
do $$
begin
  for i in 1..2 loop
    perform pg_temp.make_due();
    perform public.rpc_process_plugin_deliveries(100);
  end loop;
end
$$;
select is(
  (select row(status, attempts)::text from int.plugin_deliveries where tenant_id = 'bbbbbbbb-bbbb-4000-8000-000000000000'),
  row('dead', 2)::text,
  'a delivery that cannot be sent (no Vault secret) is dead after max_attempts (2) tries, not one more');

select * from finish();
rollback;
