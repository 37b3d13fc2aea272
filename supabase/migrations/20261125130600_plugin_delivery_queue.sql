-- Plugin delivery queue: int.plugin_deliveries (one row per change and subscription) and
-- int.plugin_delivery_attempts (one row per try).
--
-- Why: an accepted change must reach its receivers or end visibly in `dead`, so the queue is an
-- ordinary LOGGED table (pg_net's own tables are unlogged and its responses expire). The fan-out
-- (next migration) inserts rows in the same transaction as the change, with the exact JSON body fixed
-- at that moment; the processor (rpc_process_plugin_deliveries, a later migration) claims due rows,
-- signs and sends them with pg_net, and records every try in the attempts log.
--
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
  'One row per delivery try: HTTP status or error, timeout, duration and the first 500 characters of the response.';
comment on column int.plugin_delivery_attempts.response_excerpt is 'At most the first 500 characters of the response body.';

create index plugin_delivery_attempts_delivery_id_idx on int.plugin_delivery_attempts (delivery_id);

alter table int.plugin_delivery_attempts enable row level security;

revoke all on table int.plugin_delivery_attempts from public, anon, authenticated, service_role;
