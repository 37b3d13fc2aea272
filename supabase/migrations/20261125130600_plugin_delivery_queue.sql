-- Plugin delivery queue: int.plugin_delivery_batches (what an audited statement queued),
-- int.plugin_deliveries (one row per change and subscription, with its state) and
-- int.plugin_delivery_attempts (one row per try).
--
-- Why: an accepted change must reach its receivers or end visibly in `dead`, so the queue is made of
-- ordinary LOGGED tables (pg_net's own tables are unlogged and its responses expire). The fan-out
-- (next migration) writes one batch row per audited statement that matches a subscription (per
-- tenant, and per 10,000 changes), in the same transaction as the statement: the audit ids it covers, the versions of
-- the subscriptions that matched (immutable copies of their filter and payload choice), and the seed
-- of its delivery ids. Everything a delivery will be (id, body, headers but the signature time) is
-- fixed by that row and the immutable rows it names. The processor (rpc_process_plugin_deliveries, a
-- later migration) turns batches into delivery rows a slice at a time, claims due rows, signs and
-- sends them with pg_net, and records every try in the attempts log. Writing one narrow row per
-- statement rather than one wide row per change and subscription is what keeps an audited statement
-- close to the cost of the statement.
--
-- Batches carry no foreign keys (every key check would be paid by the audited write): an uninstall
-- deletes the installation's subscription versions, and with them what its batches still held for it;
-- a delivery of a deleted subscription is still sent, as it would be had it been a delivery row
-- already. Nothing here deletes audit rows; a retention job for audit.entity_changes added later must
-- keep the rows that a batch still names.

create table int.plugin_delivery_batches (
  id bigint generated always as identity primary key,
  -- the matching subscriptions' int.plugin_subscription_versions at enqueue time
  subscription_version_ids bigint[] not null,
  audit_ids bigint[] not null,
  expanded int not null default 0,
  delivery_id_seed uuid not null default gen_random_uuid(),
  created_at timestamptz not null default now()
);

-- `expanded` stays between 0 and the batch's size. Checked by a trigger on UPDATE, the processor's
-- only write of it, and not by a check constraint: Postgres reads and plans a table's check
-- constraints again at every statement that writes it, and every audited statement inserts here
-- (about 40,000 instructions, some 10 µs, per statement). An insert takes the default 0.
create function private.plugin_delivery_batch_check_expanded()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.expanded not between 0
    and pg_catalog.cardinality(new.audit_ids) * pg_catalog.cardinality(new.subscription_version_ids) then
    raise exception using
      errcode = '23514',
      message = pg_catalog.format('batch %s: expanded %s is outside 0..%s', new.id, new.expanded,
        pg_catalog.cardinality(new.audit_ids) * pg_catalog.cardinality(new.subscription_version_ids));
  end if;
  return new;
end
$$;

comment on function private.plugin_delivery_batch_check_expanded() is
  'Trigger: refuses an update that moves int.plugin_delivery_batches.expanded outside 0 and the batch''s size.';

revoke all on function private.plugin_delivery_batch_check_expanded() from public, anon, authenticated;

create trigger plugin_delivery_batches_check_expanded before update on int.plugin_delivery_batches
  for each row execute function private.plugin_delivery_batch_check_expanded();

-- Written once and read in slices: not worth compressing (pglz would try on every large statement).
alter table int.plugin_delivery_batches alter column audit_ids set storage external;

comment on table int.plugin_delivery_batches is
  'Deliveries queued by one audited statement, not yet turned into int.plugin_deliveries rows.';
comment on column int.plugin_delivery_batches.subscription_version_ids is
  'The subscriptions that matched the statement, as the versions they had then.';
comment on column int.plugin_delivery_batches.audit_ids is
  'The statement''s audit.entity_changes ids; for each version, those of its tenant whose operation and changed fields match it are delivered.';
comment on column int.plugin_delivery_batches.expanded is
  'How many positions (audit id by version, audit id first) the processor has already turned into delivery rows.';
comment on column int.plugin_delivery_batches.delivery_id_seed is
  'The delivery ids: the seed''s first 80 bits, then its last 48 bits plus the delivery''s position in the batch.';

alter table int.plugin_delivery_batches enable row level security;

revoke all on table int.plugin_delivery_batches from public, anon, authenticated, service_role;

-- Status: pending (due at next_attempt_at) -> in_flight (sent, net_request_id set, lease running)
-- -> delivered; or -> failed (awaiting a retry at next_attempt_at) -> ... -> dead after the
-- installation's max_attempts.

create table int.plugin_deliveries (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  installation_id uuid not null references int.plugin_installations (id) on delete cascade,
  subscription_id uuid null references int.plugin_subscriptions (id) on delete set null,
  audit_id bigint not null,
  event_type text not null,
  payload jsonb not null,
  status text not null default 'pending',
  attempts int not null default 0,
  next_attempt_at timestamptz not null default now(),
  lease_expires_at timestamptz null,
  net_request_id bigint null,
  net_generation bigint null,
  last_status_code int null,
  last_error text null,
  delivered_at timestamptz null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint plugin_deliveries_status_check
    check (status in ('pending', 'in_flight', 'delivered', 'failed', 'dead')),
  constraint plugin_deliveries_attempts_check check (attempts >= 0)
);

comment on table int.plugin_deliveries is
  'Durable queue of outbound webhook deliveries: one row per audited change and matching subscription.';
comment on column int.plugin_deliveries.id is 'Sent as X-Plugin-Delivery-Id (and webhook-id); receivers dedupe on it.';
comment on column int.plugin_deliveries.audit_id is 'The audit.entity_changes row this delivery reports.';
comment on column int.plugin_deliveries.event_type is
  '<table_name>.<insert|update|delete>, e.g. work_orders.insert; sent as X-Plugin-Event-Type.';
comment on column int.plugin_deliveries.payload is
  'The exact JSON body, fixed at enqueue time: {id, type, tenant_id, installation_id, audit_id, occurred_at, data}.';
comment on column int.plugin_deliveries.status is
  'pending, in_flight (sent, awaiting its response), delivered, failed (awaiting a retry) or dead.';
comment on column int.plugin_deliveries.lease_expires_at is
  'While in_flight: when a missing response counts as a failed attempt.';
comment on column int.plugin_deliveries.net_request_id is 'The pg_net request id of the attempt in flight.';
comment on column int.plugin_deliveries.delivered_at is
  'When pg_net''s worker took the request that was answered 2xx; pg_net does not record when the reply came.';
comment on column int.plugin_deliveries.net_generation is
  'While in_flight: the generation of pg_net request ids (private.pg_net_generation) that net_request_id belongs to.';

-- Due rows for the processor.
create index plugin_deliveries_due_idx on int.plugin_deliveries (next_attempt_at)
  where status in ('pending', 'failed');
-- In-flight rows, to match pg_net responses.
create index plugin_deliveries_in_flight_idx on int.plugin_deliveries (net_request_id)
  where status = 'in_flight';
create index plugin_deliveries_installation_idx on int.plugin_deliveries (installation_id, created_at desc);
create index plugin_deliveries_tenant_idx on int.plugin_deliveries (tenant_id, created_at desc);

alter table int.plugin_deliveries enable row level security;

revoke all on table int.plugin_deliveries from public, anon, authenticated, service_role;

create table int.plugin_delivery_attempts (
  id bigint generated always as identity primary key,
  delivery_id uuid not null references int.plugin_deliveries (id) on delete cascade,
  attempt int not null,
  status_code int null,
  error text null,
  timed_out boolean not null default false,
  duration_ms int null,
  response_excerpt text null,
  created_at timestamptz not null default now(),
  constraint plugin_delivery_attempts_response_excerpt_length
    check (response_excerpt is null or pg_catalog.length(response_excerpt) <= 500)
);

comment on table int.plugin_delivery_attempts is
  'One row per delivery try: HTTP status or error, timeout, wait for pg_net and the first 500 characters of the response.';
comment on column int.plugin_delivery_attempts.duration_ms is
  'Milliseconds from the processor handing the request to pg_net until pg_net''s worker took it; pg_net does not record when the reply came.';
comment on column int.plugin_delivery_attempts.response_excerpt is 'At most the first 500 characters of the response body.';

create index plugin_delivery_attempts_delivery_id_idx on int.plugin_delivery_attempts (delivery_id);

alter table int.plugin_delivery_attempts enable row level security;

revoke all on table int.plugin_delivery_attempts from public, anon, authenticated, service_role;
