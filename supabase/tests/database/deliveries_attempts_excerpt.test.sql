-- A tenant admin reads what a refusing receiver answered, but not the body of a 2xx answer: pg_net
-- follows redirects, so a receiver could make an internal address's answer (a cloud metadata service's
-- credentials) the response of its delivery. The attempts log itself keeps every excerpt.
begin;
select plan(4);

-- Tenants A and B with admins, Vault secrets and installations; helpers answer_in_flight and make_due.
\ir _fixtures/deliveries.sql

insert into public.work_orders (tenant_id, title) values ('aaaaaaaa-aaaa-4000-8000-000000000000', 'Pump 7');
do $$
begin
  -- The first try is refused, the retry accepted with a body that looks like instance credentials.
  perform public.rpc_process_plugin_deliveries(100);
  perform pg_temp.answer_in_flight(503, p_content => 'receiver overloaded, try later');
  perform public.rpc_process_plugin_deliveries(100);
  perform pg_temp.make_due();
  perform public.rpc_process_plugin_deliveries(100);
  perform pg_temp.answer_in_flight(200, p_content => '{"AccessKeyId": "ASIA-internal", "SecretAccessKey": "leaked"}');
  perform public.rpc_process_plugin_deliveries(100);
end
$$;

select is(
  (select array_agg(row(a.status_code, a.response_excerpt is not null)::text order by a.attempt)
   from int.plugin_delivery_attempts a),
  array['(503,t)', '(200,t)'],
  'the attempts log keeps the excerpt of every answer'
);

set local role authenticated;
set local request.jwt.claims to '{"sub": "aaaaaaaa-0000-4000-8000-000000000001", "role": "authenticated"}';
select is(
  (select response_excerpt from public.v_plugin_delivery_attempts where status_code = 503),
  'receiver overloaded, try later',
  'a tenant admin reads what a refusing receiver answered'
);
select is(
  (select response_excerpt from public.v_plugin_delivery_attempts where status_code = 200),
  null,
  'but not the body of a 2xx answer, which a redirect could have taken from an internal address'
);
select is(
  (select count(*)::int from public.v_plugin_delivery_attempts),
  2,
  'both attempts are listed'
);

select * from finish();
rollback;
