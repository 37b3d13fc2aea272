/**
 * The set-up of the audit benchmarks (audit_fanout, audit_instructions): a tenant with three plugins
 * installed, each subscribed to every operation on public.work_orders; an untracked copy of
 * work_orders; and the floor, a copy with the least a trigger-based audit plus queue can do. Leaves
 * the tenant's id in the temporary table bench_ids.
 */

/** Subscriptions that match every audited work_orders change. */
export const SUBSCRIPTIONS = 3;

export const AUDIT_BENCH_SETUP = `
insert into auth.users (id, email, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000b001', 'bench@example.com', now(), now());
select vault.create_secret('bench-signing-key', 'bench_hmac');
create temp table bench_ids as
  select public.rpc_create_tenant('Bench tenant', '00000000-0000-4000-8000-00000000b001') as tenant_id;
select public.rpc_register_plugin('bench_plugin_' || n, 'Bench plugin ' || n) from generate_series(1, ${SUBSCRIPTIONS}) n;
select public.rpc_upsert_webhook_subscription(
  public.rpc_install_plugin(b.tenant_id, 'bench_plugin_' || n,
    jsonb_build_object('webhook_url', 'https://hooks.example.com/bench/' || n), 'bench_hmac'),
  'public', 'work_orders', array['INSERT', 'UPDATE', 'DELETE'])
from bench_ids b, generate_series(1, ${SUBSCRIPTIONS}) n;

-- The untracked copy: everything work_orders has except the audit triggers.
create table public.work_orders_untracked (like public.work_orders including all);
alter table public.work_orders_untracked
  add foreign key (tenant_id) references public.tenants (id),
  add foreign key (assignee) references auth.users (id) on delete set null;
create trigger work_orders_untracked_touch_updated_at before update on public.work_orders_untracked
  for each row execute function private.touch_updated_at();
-- The same row level security and grants, for the inserts made as the API makes them.
alter table public.work_orders_untracked enable row level security;
do $$
declare
  p record;
begin
  for p in select * from pg_policies where schemaname = 'public' and tablename = 'work_orders' loop
    execute format('create policy %I on public.work_orders_untracked as %s for %s to %s %s %s',
      p.policyname, p.permissive, p.cmd, array_to_string(p.roles, ', '),
      case when p.qual is not null then 'using (' || p.qual || ')' else '' end,
      case when p.with_check is not null then 'with check (' || p.with_check || ')' else '' end);
  end loop;
end
$$;
grant select, insert, update, delete on public.work_orders_untracked to authenticated;

-- The floor: another untracked copy with the least that auditing plus a queue in the same transaction can
-- do: a statement-level trigger whose one statement writes each new row as jsonb to a log table and
-- one queue row naming the new log ids. No actor, tenant, record id, table or operation, security definer,
-- search_path or other setting of the function, subscription lookup or versions.
create table public.work_orders_floor (like public.work_orders_untracked including all);
alter table public.work_orders_floor
  add foreign key (tenant_id) references public.tenants (id),
  add foreign key (assignee) references auth.users (id) on delete set null;
alter table public.work_orders_floor enable row level security;
create table public.work_orders_floor_log (id bigint generated always as identity primary key, row_data jsonb not null);
create table public.work_orders_floor_queue (id bigint generated always as identity primary key, log_ids bigint[] not null);
create function public.work_orders_floor_log_rows() returns trigger language plpgsql as $f$
begin
  with logged as (
    insert into public.work_orders_floor_log (row_data) select to_jsonb(n.*) from new_rows n returning id
  )
  insert into public.work_orders_floor_queue (log_ids) select array_agg(id) from logged;
  return null;
end
$f$;
create trigger work_orders_floor_log_rows after insert on public.work_orders_floor
  referencing new table as new_rows for each statement execute function public.work_orders_floor_log_rows();
`;
