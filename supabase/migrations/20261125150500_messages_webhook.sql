-- public.messages and its webhook: every inserted message is posted as {id, message} to the URL in
-- the Vault secret `messages_webhook_url`, with `Authorization: Bearer <messages_webhook_token>`.
--
-- Why: the simplest database -> outside world path. The URL and token are read from Vault on every
-- insert (through private.get_secret), so rotating either with vault.update_secret takes effect on
-- the next message. Decision: a missing or broken webhook configuration never blocks a write; the
-- message is stored and a warning (naming the missing secret, never a value) says it was not sent.
-- pg_net sends after commit; a rolled back insert sends nothing.

create table if not exists public.messages (
  id bigint generated always as identity primary key,
  message text not null check (pg_catalog.length(message) between 1 and 10000),
  user_id uuid default auth.uid() references auth.users (id) on delete cascade,
  created_at timestamptz not null default pg_catalog.now()
);

comment on table public.messages is
  'Messages; each insert is posted to the webhook configured in Vault (messages_webhook_url / messages_webhook_token).';
comment on column public.messages.message is 'The text, 1 to 10,000 characters; sent to the webhook with the id.';
comment on column public.messages.user_id is 'The author (auth.uid() of the inserting user); null when written by the service.';

create index if not exists messages_user_id_idx on public.messages (user_id);

alter table public.messages enable row level security;

create policy "users read their own messages"
  on public.messages
  for select
  to authenticated
  using (user_id = (select auth.uid()));

create policy "users write their own messages"
  on public.messages
  for insert
  to authenticated
  with check (user_id = (select auth.uid()));

revoke all on table public.messages from public, anon, authenticated, service_role;
grant select, insert on table public.messages to authenticated;
grant select, insert, update, delete on table public.messages to service_role;

create or replace function private.send_message_to_webhook()
returns trigger
language plpgsql
-- definer: the inserting role (authenticated, service_role) may not read Vault.
security definer
set search_path = ''
as $$
begin
  begin
    perform net.http_post(
      url := private.get_secret('messages_webhook_url'),
      body := pg_catalog.jsonb_build_object('id', new.id, 'message', new.message),
      headers := pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || private.get_secret('messages_webhook_token')
      )
    );
  exception
    when no_data_found then
      raise warning 'messages webhook: message % not sent: %', new.id, sqlerrm;
    when others then
      -- Other errors may quote the URL: keep only their code.
      raise warning 'messages webhook: message % not sent: SQLSTATE %', new.id, sqlstate;
  end;
  return null;
end
$$;

comment on function private.send_message_to_webhook() is
  'Trigger on public.messages INSERT: posts {id, message} to the Vault-configured webhook; warns instead of failing the insert.';

revoke all on function private.send_message_to_webhook() from public, anon, authenticated, service_role;

create or replace trigger on_message_created_send_webhook
  after insert on public.messages
  for each row execute function private.send_message_to_webhook();
