-- Manual redeliveries: who put which delivery back in the queue, when, and from which state.
--
-- Why: rpc_redeliver_plugin_delivery lets a tenant admin send a dead or delivered delivery again,
-- which resets the delivery's attempts; this log keeps the record of that decision (the delivery's
-- attempts log keeps every try). Rows go with their delivery (on delete cascade, e.g. the purge).

create table int.plugin_redeliveries (
  id bigint generated always as identity primary key,
  delivery_id uuid not null references int.plugin_deliveries (id) on delete cascade,
  tenant_id uuid not null,
  requested_by uuid null references auth.users (id) on delete set null,
  previous_status text not null,
  previous_attempts int not null,
  created_at timestamptz not null default now(),
  constraint plugin_redeliveries_previous_status_check check (previous_status in ('dead', 'delivered'))
);

comment on table int.plugin_redeliveries is
  'One row per manual redelivery (rpc_redeliver_plugin_delivery): who, when, and the delivery''s status and attempts before.';
comment on column int.plugin_redeliveries.requested_by is
  'The tenant admin who asked (JWT sub); null for the service role and direct sessions.';

create index plugin_redeliveries_delivery_id_idx on int.plugin_redeliveries (delivery_id, created_at desc);

alter table int.plugin_redeliveries enable row level security;

revoke all on table int.plugin_redeliveries from public, anon, authenticated, service_role;
