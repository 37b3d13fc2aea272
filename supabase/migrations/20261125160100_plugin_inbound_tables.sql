-- Inbound plugin webhooks: the action allowlist, the receipts that deduplicate deliveries, and the log.
--
-- Why: partners call back into the database through the `ingest-webhook` function and
-- public.rpc_plugin_ingest_webhook (next migrations). Three tables back that path:
-- - int.inbound_actions: the only actions an inbound webhook may perform. Deliberately narrow; an
--   operator can switch one off (is_enabled) without a deploy.
-- - int.inbound_webhook_receipts: one row per (installation, delivery id) whose signature verified.
--   A second delivery with the same id returns the stored result and changes nothing. Rows are kept
--   well beyond the 5-minute timestamp window, after which a replay is refused anyway.
-- - int.inbound_webhook_log: one row per inbound request of a known installation, accepted or not,
--   with the outcome code. It never holds the body, the signature or the secret: only the body's size
--   and SHA-256, so support can match a partner's request without storing its content.

create table int.inbound_actions (
  action text primary key,
  description text not null,
  is_enabled boolean not null default true,
  created_at timestamptz not null default now(),
  constraint inbound_actions_action_format check (action ~ '^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$')
);

comment on table int.inbound_actions is
  'Allowlist of actions inbound plugin webhooks may perform; rpc_plugin_ingest_webhook refuses anything else.';
comment on column int.inbound_actions.is_enabled is 'A disabled action is refused like an unknown one.';

insert into int.inbound_actions (action, description) values
  ('work_order.set_status',
    'args {work_order_id uuid, status open|in_progress|on_hold|done|cancelled}: sets the work order''s status.'),
  ('work_order.set_external_ref',
    'args {work_order_id uuid, external_ref text 1-200 or null}: links the work order to a record in the partner''s system.'),
  ('work_order.add_comment',
    'args {work_order_id uuid, body text 1-4000}: adds a comment to the work order, authored by the installation.');

alter table int.inbound_actions enable row level security;

revoke all on table int.inbound_actions from public, anon, authenticated, service_role;

create table int.inbound_webhook_receipts (
  installation_id uuid not null references int.plugin_installations (id) on delete cascade,
  delivery_id text not null,
  tenant_id uuid not null,
  action text null,
  body_sha256 bytea not null,
  result jsonb not null,
  received_at timestamptz not null default now(),
  primary key (installation_id, delivery_id),
  constraint inbound_webhook_receipts_delivery_id_length check (pg_catalog.length(delivery_id) between 1 and 200)
);

comment on table int.inbound_webhook_receipts is
  'Inbound deliveries whose signature verified, once per (installation, delivery id), with the result returned; duplicates get the same result.';
comment on column int.inbound_webhook_receipts.result is
  'The outcome returned the first time ({ok, code, message, action, result}); returned again for duplicates.';

-- Purging old receipts.
create index inbound_webhook_receipts_received_at_idx on int.inbound_webhook_receipts (received_at);

alter table int.inbound_webhook_receipts enable row level security;

revoke all on table int.inbound_webhook_receipts from public, anon, authenticated, service_role;

create table int.inbound_webhook_log (
  id bigint generated always as identity primary key,
  installation_id uuid not null references int.plugin_installations (id) on delete cascade,
  tenant_id uuid not null,
  delivery_id text null,
  outcome text not null,
  code text not null,
  message text null,
  action text null,
  body_bytes int not null,
  body_sha256 bytea not null,
  received_at timestamptz not null default now(),
  constraint inbound_webhook_log_outcome_check check (outcome in ('applied', 'rejected', 'duplicate', 'failed')),
  constraint inbound_webhook_log_delivery_id_length
    check (delivery_id is null or pg_catalog.length(delivery_id) <= 200)
);

comment on table int.inbound_webhook_log is
  'Every inbound webhook request of a known installation: applied, rejected (with the reason code), duplicate or failed. No body, signature or secret.';
comment on column int.inbound_webhook_log.outcome is
  'applied (the action ran), rejected (refused: code says why), duplicate (delivery id seen before) or failed (unexpected error, nothing applied).';
comment on column int.inbound_webhook_log.code is
  'applied, or the refusal: invalid_signature, stale_timestamp, unknown_action, invalid_args, ...';

create index inbound_webhook_log_installation_idx on int.inbound_webhook_log (installation_id, received_at desc);
create index inbound_webhook_log_tenant_idx on int.inbound_webhook_log (tenant_id, received_at desc);
create index inbound_webhook_log_received_at_idx on int.inbound_webhook_log (received_at);

alter table int.inbound_webhook_log enable row level security;

revoke all on table int.inbound_webhook_log from public, anon, authenticated, service_role;
