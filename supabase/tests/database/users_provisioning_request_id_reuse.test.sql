-- pg_net's request ids start again at 1 when the extension is dropped and created again. A pending
-- provisioning call is settled only from a response or a queued request of the pg_net it was sent
-- through: an older call is not marked provisioned by the answer to a new call under the same id,
-- nor kept pending by a new queued call under its id; having no response, it is lost after 15
-- minutes like any call, and a retry sends it through the new pg_net.
begin;
select plan(12);
set local client_min_messages = error;

select vault.create_secret('http://127.0.0.1:54321/functions/v1/handleNewUser', 'handle_new_user_url');
select vault.create_secret('bearer-s3cret', 'handle_new_user_secret');

-- Two signups pending through the first pg_net: 1 (its id will be answered for another call) and
-- 2 (its id will be queued for another call).
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000001', 'old1@example.com');
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000002', 'old2@example.com');

create temporary table old_net on commit drop as select private.pg_net_generation() as generation;

-- pg_net is dropped and created again: its queue and responses are gone, its ids start over.
drop extension pg_net;
create extension pg_net with schema extensions;

-- Two new signups get the old calls' ids: 3 reuses 1's, 4 reuses 2's.
do $$ begin perform setval('net.http_request_queue_id_seq', (select request_id from public.user_provisioning
  where user_id = '00000000-0000-4000-8000-000000000001'), false); end $$;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000003', 'new3@example.com');
do $$ begin perform setval('net.http_request_queue_id_seq', (select request_id from public.user_provisioning
  where user_id = '00000000-0000-4000-8000-000000000002'), false); end $$;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000004', 'new4@example.com');

select results_eq(
  $$select right(a.user_id::text, 1), right(b.user_id::text, 1) from public.user_provisioning a
    join public.user_provisioning b on b.request_id = a.request_id and b.user_id > a.user_id
    order by a.user_id$$,
  $$values ('1', '3'), ('2', '4')$$,
  'the new calls got the old calls'' request ids'
);
select results_eq(
  $$select right(p.user_id::text, 1), p.net_generation = (select generation from old_net)
    from public.user_provisioning p order by p.user_id$$,
  $$values ('1', true), ('2', true), ('3', false), ('4', false)$$,
  'each call records the pg_net it was queued through'
);
select is(
  (select pg_catalog.count(*)::int from public.user_provisioning p
   where p.net_generation = private.pg_net_generation()),
  2,
  'the new calls record the current pg_net'
);

-- 3's call is answered; 4's is still queued. 2's call was queued 20 minutes ago.
insert into net._http_response (id, status_code, content)
select request_id, 200, '{"status":"provisioned"}' from public.user_provisioning
where user_id = '00000000-0000-4000-8000-000000000003';
update public.user_provisioning set updated_at = now() - interval '20 minutes'
where user_id = '00000000-0000-4000-8000-000000000002';

select is(private.reconcile_user_provisioning(), '{"settled": 1, "lost": 1}'::jsonb,
  'the answer settles one call; the old call whose id is queued again is lost');
select results_eq(
  $$select right(user_id::text, 1), status from public.user_provisioning order by user_id$$,
  $$values ('1', 'pending'), ('2', 'failed'), ('3', 'provisioned'), ('4', 'pending')$$,
  'an answer settles only the call of its pg_net; the old call under that id stays pending'
);
select is((select last_error from public.user_provisioning where user_id = '00000000-0000-4000-8000-000000000002'),
  'handleNewUser call lost: no response was recorded',
  'an old call is not kept pending by a new queued call under its id: after 15 minutes it is lost');

-- The old call 1 is 15 minutes old too: the new answer under its id does not save it.
update public.user_provisioning set updated_at = now() - interval '20 minutes'
where user_id = '00000000-0000-4000-8000-000000000001';
select is(private.reconcile_user_provisioning(), '{"settled": 0, "lost": 1}'::jsonb,
  'an old call answered only under its reused id is lost after 15 minutes');
select is(
  (select status || ': ' || last_error from public.user_provisioning
   where user_id = '00000000-0000-4000-8000-000000000001'),
  'failed: handleNewUser call lost: no response was recorded',
  'the user whose call was never answered is failed, not provisioned'
);

-- A retry sends the failed users through the current pg_net, and their answers settle them.
set local role service_role;
select is((select pg_catalog.count(*)::int from public.rpc_retry_user_provisioning()), 2,
  'the two lost users are sent again');
reset role;
select is(
  (select pg_catalog.count(*)::int from public.user_provisioning p
   where p.net_generation = private.pg_net_generation() and p.user_id in ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002')
     and p.status = 'pending'),
  2,
  'a retry records the current pg_net'
);
insert into net._http_response (id, status_code, content)
select request_id, 200, '{"status":"provisioned"}' from public.user_provisioning
where user_id in ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002');
select is(private.reconcile_user_provisioning(), '{"settled": 2, "lost": 0}'::jsonb,
  'the answers to the retried calls settle them');
select results_eq(
  $$select right(user_id::text, 1), status from public.user_provisioning order by user_id$$,
  $$values ('1', 'provisioned'), ('2', 'provisioned'), ('3', 'provisioned'), ('4', 'pending')$$,
  'the retried users are provisioned; the new call still queued stays pending'
);

select * from finish();
rollback;
