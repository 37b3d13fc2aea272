-- pg_net's request ids start again at 1 when the extension is dropped and created again. A pending
-- Sendry request is reconciled only from a response or a queued request of the pg_net it was sent
-- through: an older request is not marked ok by the answer to a new request under the same id, nor
-- kept pending by a new queued request under its id; having no response, it is lost after 15
-- minutes like any request, and the retry sends it through the new pg_net.
begin;
select plan(11);
set local client_min_messages = error;

select vault.create_secret('sn_live_key', 'sendry_api_key');
select vault.create_secret('aud_123', 'sendry_audience_id');

-- Two signups pending through the first pg_net: 1 (its id will be answered for another request)
-- and 2 (its id will be queued for another request).
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000001', 'old1@example.com');
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000002', 'old2@example.com');

create temporary table old_net on commit drop as select private.pg_net_generation() as generation;

-- pg_net is dropped and created again: its queue and responses are gone, its ids start over.
drop extension pg_net;
create extension pg_net with schema extensions;

-- Two new signups get the old requests' ids: 3 reuses 1's, 4 reuses 2's.
do $$ begin perform setval('net.http_request_queue_id_seq', (select request_id from public.sendry_sync_log
  where user_id = '00000000-0000-4000-8000-000000000001'), false); end $$;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000003', 'new3@example.com');
do $$ begin perform setval('net.http_request_queue_id_seq', (select request_id from public.sendry_sync_log
  where user_id = '00000000-0000-4000-8000-000000000002'), false); end $$;
insert into auth.users (id, email) values ('00000000-0000-4000-8000-000000000004', 'new4@example.com');

select results_eq(
  $$select right(a.user_id::text, 1), right(b.user_id::text, 1) from public.sendry_sync_log a
    join public.sendry_sync_log b on b.request_id = a.request_id and b.user_id > a.user_id
    order by a.user_id$$,
  $$values ('1', '3'), ('2', '4')$$,
  'the new requests got the old requests'' ids'
);
select results_eq(
  $$select right(l.user_id::text, 1), l.net_generation = (select generation from old_net)
    from public.sendry_sync_log l order by l.user_id$$,
  $$values ('1', true), ('2', true), ('3', false), ('4', false)$$,
  'each log row records the pg_net its request was queued through'
);
select is(
  (select pg_catalog.count(*)::int from public.sendry_sync_log l
   where l.net_generation = private.pg_net_generation()),
  2,
  'the new requests record the current pg_net'
);

-- 3's request is answered; 4's is still queued. 2's request was queued 20 minutes ago.
insert into net._http_response (id, status_code, content)
select request_id, 201, '{"id":"con_3"}' from public.sendry_sync_log
where user_id = '00000000-0000-4000-8000-000000000003';
update public.sendry_sync_log set created_at = now() - interval '20 minutes'
where user_id = '00000000-0000-4000-8000-000000000002';

select is(private.sendry_reconcile_sync_log(), '{"ok": 1, "failed": 1, "lost": 1}'::jsonb,
  'the answer settles one request; the old request whose id is queued again is lost');
select results_eq(
  $$select right(user_id::text, 1), status, status_code from public.sendry_sync_log order by user_id$$,
  $$values ('1', 'pending', null::int), ('2', 'failed', null), ('3', 'ok', 201), ('4', 'pending', null)$$,
  'an answer settles only the request of its pg_net; the old request under that id stays pending'
);
select is((select error from public.sendry_sync_log where user_id = '00000000-0000-4000-8000-000000000002'),
  'lost: no response was recorded for this request',
  'an old request is not kept pending by a new queued request under its id: after 15 minutes it is lost');

-- The old request 1 is 15 minutes old too: the new answer under its id does not make it ok.
update public.sendry_sync_log set created_at = now() - interval '20 minutes'
where user_id = '00000000-0000-4000-8000-000000000001';
select is(private.sendry_reconcile_sync_log(), '{"ok": 0, "failed": 1, "lost": 1}'::jsonb,
  'an old request answered only under its reused id is lost after 15 minutes');
select results_eq(
  $$select right(user_id::text, 1) from public.v_sendry_sync_failures order by user_id$$,
  $$values ('1'), ('2')$$,
  'both users whose requests were never answered are listed as failed, not synced'
);

-- The retry sends them through the current pg_net, and their answers settle them.
set local role service_role;
select is(public.rpc_sendry_retry_failed(), '{"queued": 2, "still_failed": 0}'::jsonb,
  'the two lost users are sent again');
reset role;
select is(
  (select pg_catalog.count(*)::int from public.sendry_sync_log l
   where l.net_generation = private.pg_net_generation() and l.source = 'retry' and l.status = 'pending'),
  2,
  'a retry records the current pg_net'
);
insert into net._http_response (id, status_code, content)
select request_id, 201, '{"id":"con"}' from public.sendry_sync_log where source = 'retry';
select is(private.sendry_reconcile_sync_log(), '{"ok": 2, "failed": 0, "lost": 0}'::jsonb,
  'the answers to the retried requests settle them');

select * from finish();
rollback;
