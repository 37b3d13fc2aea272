-- Work order comments: notes on a work order, written by people or by integrations.
--
-- Why: the inbound webhook action `work_order.add_comment` lets an installed plugin report back
-- ("technician dispatched", "part ordered") without touching the work order's own fields. A comment
-- always belongs to its work order's tenant: a trigger copies tenant_id from the work order, so no
-- writer can file a comment under another tenant, and another moves the comments along when the work
-- order changes tenant (the first locks the work order, so a comment written during a move is not
-- left behind in the old tenant). Members of the tenant read them through RLS; writes go through RPCs
-- and the inbound action path (definer code), never directly from clients. The table is audited like
-- work orders, so plugins can subscribe to new comments.

create table public.work_order_comments (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  work_order_id uuid not null references public.work_orders (id) on delete cascade,
  body text not null,
  author_user_id uuid null references auth.users (id) on delete set null,
  installation_id uuid null references int.plugin_installations (id) on delete set null,
  created_at timestamptz not null default now(),
  constraint work_order_comments_body_length
    check (pg_catalog.length(body) <= 4000 and pg_catalog.btrim(body) <> '')
);

comment on table public.work_order_comments is
  'Comments on a work order, by a user or by a plugin installation (inbound action work_order.add_comment). Audited.';
comment on column public.work_order_comments.tenant_id is 'Always the work order''s tenant (set by a trigger).';
comment on column public.work_order_comments.body is 'The comment text, 1 to 4000 characters.';
comment on column public.work_order_comments.author_user_id is 'The user who wrote it, when a person did.';
comment on column public.work_order_comments.installation_id is
  'The plugin installation that wrote it, when an integration did.';

create index work_order_comments_work_order_id_idx on public.work_order_comments (work_order_id, created_at);
create index work_order_comments_tenant_id_idx on public.work_order_comments (tenant_id);
create index work_order_comments_installation_id_idx on public.work_order_comments (installation_id)
  where installation_id is not null;
create index work_order_comments_author_user_id_idx on public.work_order_comments (author_user_id)
  where author_user_id is not null;

create function private.work_order_comment_tenant()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_tenant_id uuid;
begin
  -- for share: a move of the work order to another tenant that is in progress is waited for (and its
  -- tenant taken), and one that starts later waits until this comment is committed, so that its
  -- work_orders_comments_follow_tenant trigger sees the comment and moves it along.
  select w.tenant_id into v_tenant_id from public.work_orders w where w.id = new.work_order_id for share;
  if v_tenant_id is null then
    raise exception using
      errcode = '23503',
      message = pg_catalog.format('work order %s does not exist', new.work_order_id);
  end if;
  new.tenant_id := v_tenant_id;
  return new;
end
$$;

comment on function private.work_order_comment_tenant() is
  'BEFORE INSERT/UPDATE trigger on work_order_comments: the comment''s tenant_id is its work order''s.';

revoke all on function private.work_order_comment_tenant() from public, anon, authenticated;

create trigger work_order_comments_tenant
  before insert or update of work_order_id, tenant_id on public.work_order_comments
  for each row execute function private.work_order_comment_tenant();

-- A work order can change tenant (the service role may move one, and so may a member of both
-- tenants); its comments follow, or they would stay readable in the old tenant only.
create function private.work_order_comments_follow_tenant()
returns trigger
language plpgsql
-- definer: runs as whoever moved the work order (a member through RLS), who may not write comments.
security definer
set search_path = ''
as $$
begin
  update public.work_order_comments c
  set tenant_id = new.tenant_id
  where c.work_order_id = new.id;
  return null;
end
$$;

comment on function private.work_order_comments_follow_tenant() is
  'AFTER UPDATE OF tenant_id trigger on work_orders: moves the work order''s comments to its new tenant.';

revoke all on function private.work_order_comments_follow_tenant() from public, anon, authenticated, service_role;

create trigger work_orders_comments_follow_tenant
  after update of tenant_id on public.work_orders
  for each row
  when (old.tenant_id is distinct from new.tenant_id)
  execute function private.work_order_comments_follow_tenant();

alter table public.work_order_comments enable row level security;

create policy work_order_comments_select_member on public.work_order_comments
  for select to authenticated
  using (
    tenant_id in (select m.tenant_id from public.tenant_memberships m where m.user_id = (select auth.uid()))
  );

revoke all on table public.work_order_comments from public, anon, authenticated, service_role;
grant select on table public.work_order_comments to authenticated;
grant select, insert, update, delete on table public.work_order_comments to service_role;

select audit.track_table('public.work_order_comments');
