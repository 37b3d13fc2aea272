-- The extensions and API roles that every migration and function relies on.
begin;
select plan(9);

select has_extension('pgcrypto', 'pgcrypto is installed');
select has_extension('supabase_vault', 'Vault is installed');
select has_extension('pg_net', 'pg_net is installed');
select has_extension('pg_cron', 'pg_cron is installed');

select has_function('net', 'http_post', array['text', 'jsonb', 'jsonb', 'jsonb', 'integer'],
  'net.http_post has pg_net''s signature');
select has_function('vault', 'create_secret', array['text', 'text', 'text', 'uuid'],
  'vault.create_secret has Vault''s signature');

select has_role('anon', 'the anon role exists');
select has_role('authenticated', 'the authenticated role exists');
select ok((select rolbypassrls from pg_roles where rolname = 'service_role'), 'service_role bypasses RLS');

select * from finish();
rollback;
