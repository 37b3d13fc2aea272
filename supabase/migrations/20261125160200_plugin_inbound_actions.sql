-- Inbound plugin webhook actions: parse the body, check the action against the allowlist, validate its
-- arguments and apply it inside the installation's tenant.
--
-- Why: rpc_plugin_ingest_webhook (next migration) verifies who sent a body; these helpers decide what
-- the body may do. The body is {"action": "<name>", "args": {...}} and nothing else. Every action
-- names a work order by id and only ever finds work orders of the installation's own tenant, so a
-- partner cannot reach another tenant's rows even with a valid signature. Expected refusals
-- (invalid_payload, unknown_action, invalid_args, work_order_not_found) are returned as outcomes,
-- written nowhere; only an unexpected error raises.
--
-- Outcome shape shared by all of them: {"ok": bool, "code": text, "message": text, ["action": text],
-- ["result": {...}]}.

create function private.inbound_outcome(p_code text, p_message text, p_extra jsonb default '{}')
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('ok', p_code = 'applied', 'code', p_code, 'message', p_message)
    || coalesce(p_extra, '{}'::jsonb)
$$;

comment on function private.inbound_outcome(text, text, jsonb) is
  'The outcome object of an inbound webhook: {ok, code, message} plus extra keys; ok is true only for code applied.';

revoke all on function private.inbound_outcome(text, text, jsonb) from public, anon, authenticated;

-- Arguments ------------------------------------------------------------------------------------------

create function private.inbound_check_args(p_action text, p_args jsonb, p_allowed text[])
returns text
language sql
immutable
set search_path = ''
as $$
  -- The problem with the argument names, or null: unknown names are refused so typos do not pass
  -- silently.
  select case
    when pg_catalog.jsonb_typeof(p_args) is distinct from 'object' then
      pg_catalog.format('%s: args must be a JSON object', p_action)
    else (
      select pg_catalog.format('%s: unknown argument%s %s (allowed: %s)', p_action,
          case when pg_catalog.count(*) > 1 then 's' else '' end,
          pg_catalog.string_agg(k.key, ', ' order by k.key),
          pg_catalog.array_to_string(p_allowed, ', '))
      from pg_catalog.jsonb_object_keys(p_args) k(key)
      where k.key <> all (p_allowed)
      having pg_catalog.count(*) > 0
    )
  end
$$;

comment on function private.inbound_check_args(text, jsonb, text[]) is
  'Null when args is an object whose keys are all in p_allowed; otherwise the message naming the problem.';

revoke all on function private.inbound_check_args(text, jsonb, text[]) from public, anon, authenticated;

create function private.inbound_uuid_arg(p_args jsonb, p_name text)
returns uuid
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- Null when missing, not a string or not a uuid; callers turn that into invalid_args.
  if pg_catalog.jsonb_typeof(p_args -> p_name) is distinct from 'string'
    or (p_args ->> p_name) !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  then
    return null;
  end if;
  return (p_args ->> p_name)::uuid;
end
$$;

comment on function private.inbound_uuid_arg(jsonb, text) is
  'The argument p_name as a uuid, or null when it is missing, not a string or not a uuid.';

revoke all on function private.inbound_uuid_arg(jsonb, text) from public, anon, authenticated;

-- Actions --------------------------------------------------------------------------------------------

create function private.inbound_work_order_set_status(p_tenant_id uuid, p_args jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_action text := 'work_order.set_status';
  v_problem text := private.inbound_check_args(v_action, p_args, array['work_order_id', 'status']);
  v_work_order_id uuid := private.inbound_uuid_arg(p_args, 'work_order_id');
  v_status text := p_args ->> 'status';
  v_previous text;
begin
  if v_problem is not null then
    return private.inbound_outcome('invalid_args', v_problem, pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if v_work_order_id is null then
    return private.inbound_outcome('invalid_args', v_action || ': args.work_order_id must be a uuid string',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if pg_catalog.jsonb_typeof(p_args -> 'status') is distinct from 'string'
    or v_status not in ('open', 'in_progress', 'on_hold', 'done', 'cancelled')
  then
    return private.inbound_outcome('invalid_args',
      v_action || ': args.status must be one of open, in_progress, on_hold, done, cancelled',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;

  select w.status into v_previous
  from public.work_orders w
  where w.id = v_work_order_id and w.tenant_id = p_tenant_id
  for update;
  if not found then
    return private.inbound_outcome('work_order_not_found',
      pg_catalog.format('%s: work order %s does not exist in this installation''s tenant', v_action, v_work_order_id),
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  update public.work_orders w set status = v_status
  where w.id = v_work_order_id and w.status is distinct from v_status;

  return private.inbound_outcome('applied', pg_catalog.format('%s applied', v_action),
    pg_catalog.jsonb_build_object('action', v_action, 'result', pg_catalog.jsonb_build_object(
      'work_order_id', v_work_order_id, 'status', v_status, 'previous_status', v_previous,
      'changed', v_previous is distinct from v_status)));
end
$$;

comment on function private.inbound_work_order_set_status(uuid, jsonb) is
  'Inbound action work_order.set_status {work_order_id, status} on a work order of p_tenant_id.';

revoke all on function private.inbound_work_order_set_status(uuid, jsonb) from public, anon, authenticated;

create function private.inbound_work_order_set_external_ref(p_tenant_id uuid, p_args jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_action text := 'work_order.set_external_ref';
  v_problem text := private.inbound_check_args(v_action, p_args, array['work_order_id', 'external_ref']);
  v_work_order_id uuid := private.inbound_uuid_arg(p_args, 'work_order_id');
  v_ref text := p_args ->> 'external_ref';
  v_previous text;
begin
  if v_problem is not null then
    return private.inbound_outcome('invalid_args', v_problem, pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if v_work_order_id is null then
    return private.inbound_outcome('invalid_args', v_action || ': args.work_order_id must be a uuid string',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if not (p_args ? 'external_ref')
    or pg_catalog.jsonb_typeof(p_args -> 'external_ref') not in ('string', 'null')
    or (v_ref is not null and (pg_catalog.length(v_ref) not between 1 and 200 or v_ref ~ '[[:cntrl:]]'))
  then
    return private.inbound_outcome('invalid_args',
      v_action || ': args.external_ref must be a string of 1 to 200 characters without control characters, or null',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;

  select w.external_ref into v_previous
  from public.work_orders w
  where w.id = v_work_order_id and w.tenant_id = p_tenant_id
  for update;
  if not found then
    return private.inbound_outcome('work_order_not_found',
      pg_catalog.format('%s: work order %s does not exist in this installation''s tenant', v_action, v_work_order_id),
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  update public.work_orders w set external_ref = v_ref
  where w.id = v_work_order_id and w.external_ref is distinct from v_ref;

  return private.inbound_outcome('applied', pg_catalog.format('%s applied', v_action),
    pg_catalog.jsonb_build_object('action', v_action, 'result', pg_catalog.jsonb_build_object(
      'work_order_id', v_work_order_id, 'external_ref', v_ref,
      'changed', v_previous is distinct from v_ref)));
end
$$;

comment on function private.inbound_work_order_set_external_ref(uuid, jsonb) is
  'Inbound action work_order.set_external_ref {work_order_id, external_ref} on a work order of p_tenant_id.';

revoke all on function private.inbound_work_order_set_external_ref(uuid, jsonb) from public, anon, authenticated;

create function private.inbound_work_order_add_comment(p_tenant_id uuid, p_installation_id uuid, p_args jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_action text := 'work_order.add_comment';
  v_problem text := private.inbound_check_args(v_action, p_args, array['work_order_id', 'body']);
  v_work_order_id uuid := private.inbound_uuid_arg(p_args, 'work_order_id');
  v_body text := p_args ->> 'body';
  v_comment_id uuid;
begin
  if v_problem is not null then
    return private.inbound_outcome('invalid_args', v_problem, pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if v_work_order_id is null then
    return private.inbound_outcome('invalid_args', v_action || ': args.work_order_id must be a uuid string',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  if pg_catalog.jsonb_typeof(p_args -> 'body') is distinct from 'string'
    or pg_catalog.length(v_body) > 4000 or pg_catalog.btrim(v_body) = ''
  then
    return private.inbound_outcome('invalid_args', v_action || ': args.body must be a string of 1 to 4000 characters',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;

  -- for share, like the other actions' for update: a work order that is moving to another tenant
  -- is not commented on by this tenant's partner, and one that has moved is not found.
  perform 1 from public.work_orders w where w.id = v_work_order_id and w.tenant_id = p_tenant_id for share;
  if not found then
    return private.inbound_outcome('work_order_not_found',
      pg_catalog.format('%s: work order %s does not exist in this installation''s tenant', v_action, v_work_order_id),
      pg_catalog.jsonb_build_object('action', v_action));
  end if;
  insert into public.work_order_comments (tenant_id, work_order_id, body, installation_id)
  values (p_tenant_id, v_work_order_id, v_body, p_installation_id)
  returning id into v_comment_id;

  return private.inbound_outcome('applied', pg_catalog.format('%s applied', v_action),
    pg_catalog.jsonb_build_object('action', v_action, 'result', pg_catalog.jsonb_build_object(
      'work_order_id', v_work_order_id, 'comment_id', v_comment_id)));
end
$$;

comment on function private.inbound_work_order_add_comment(uuid, uuid, jsonb) is
  'Inbound action work_order.add_comment {work_order_id, body}: a comment authored by the installation.';

revoke all on function private.inbound_work_order_add_comment(uuid, uuid, jsonb) from public, anon, authenticated;

-- Dispatch -------------------------------------------------------------------------------------------

create function private.inbound_apply(p_tenant_id uuid, p_installation_id uuid, p_body text)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_payload jsonb;
  v_action text;
  v_args jsonb;
  v_extra text;
  v_allowed text;
begin
  begin
    v_payload := p_body::jsonb;
  exception when others then
    -- Not JSON at all, or JSON Postgres cannot hold (a \u0000 escape): either way not an action.
    return private.inbound_outcome('invalid_json', 'The body is not valid JSON');
  end;
  if pg_catalog.jsonb_typeof(v_payload) is distinct from 'object' then
    return private.inbound_outcome('invalid_payload', 'The body must be a JSON object {"action": ..., "args": {...}}');
  end if;
  select pg_catalog.string_agg(k.key, ', ' order by k.key) into v_extra
  from pg_catalog.jsonb_object_keys(v_payload) k(key)
  where k.key not in ('action', 'args');
  if v_extra is not null then
    return private.inbound_outcome('invalid_payload',
      pg_catalog.format('The body may only have the keys action and args, not %s', v_extra));
  end if;
  if pg_catalog.jsonb_typeof(v_payload -> 'action') is distinct from 'string' then
    return private.inbound_outcome('invalid_payload', 'The body''s action must be a string, e.g. "work_order.set_status"');
  end if;
  v_action := v_payload ->> 'action';
  v_args := coalesce(v_payload -> 'args', '{}'::jsonb);
  if pg_catalog.jsonb_typeof(v_args) <> 'object' then
    return private.inbound_outcome('invalid_payload', 'The body''s args must be a JSON object',
      pg_catalog.jsonb_build_object('action', v_action));
  end if;

  if not exists (select 1 from int.inbound_actions a where a.action = v_action and a.is_enabled) then
    select pg_catalog.string_agg(a.action, ', ' order by a.action) into v_allowed
    from int.inbound_actions a where a.is_enabled;
    return private.inbound_outcome('unknown_action',
      pg_catalog.format('Unknown action %s: allowed actions are %s',
        pg_catalog.left(pg_catalog.quote_literal(v_action), 100), coalesce(v_allowed, 'none')));
  end if;

  case v_action
    when 'work_order.set_status' then
      return private.inbound_work_order_set_status(p_tenant_id, v_args);
    when 'work_order.set_external_ref' then
      return private.inbound_work_order_set_external_ref(p_tenant_id, v_args);
    when 'work_order.add_comment' then
      return private.inbound_work_order_add_comment(p_tenant_id, p_installation_id, v_args);
    else
      return private.inbound_outcome('unknown_action',
        pg_catalog.format('Action %s is allowlisted but has no implementation', v_action));
  end case;
end
$$;

comment on function private.inbound_apply(uuid, uuid, text) is
  'Parses an inbound webhook body {action, args}, checks the allowlist and applies the action in p_tenant_id; returns the outcome.';

revoke all on function private.inbound_apply(uuid, uuid, text) from public, anon, authenticated;
