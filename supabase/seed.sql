-- Demo data for the local stack, applied by `deno task dev` (and `supabase db reset`) after the
-- migrations. Features add their demo rows here.

-- ---------------------------------------------------------------------------------------------------
-- Plugin platform: a demo tenant, its admin and a few work orders (audited like any other change).
-- Sign in on the local stack as demo-admin@example.com with the password demo-password-123.
-- Plugins, their installations and subscriptions are not seeded: register and install one as the
-- plugin guide describes.
-- ---------------------------------------------------------------------------------------------------

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
  email_change_token_new, email_change)
values ('00000000-0000-0000-0000-000000000000', 'd0000000-0000-4000-8000-000000000001', 'authenticated',
  'authenticated', 'demo-admin@example.com', extensions.crypt('demo-password-123', extensions.gen_salt('bf', 10)),
  now(), '{"provider": "email", "providers": ["email"]}', '{"email_verified": true}', now(), now(), '', '', '', '')
on conflict (id) do nothing;

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('d0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001',
  '{"sub": "d0000000-0000-4000-8000-000000000001", "email": "demo-admin@example.com", "email_verified": true}',
  'email', now(), now(), now())
on conflict (provider_id, provider) do nothing;

insert into public.tenants (id, name)
values ('d1000000-0000-4000-8000-000000000001', 'Demo Maintenance Co.')
on conflict (id) do nothing;

insert into public.tenant_memberships (tenant_id, user_id, role)
values ('d1000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'tenant.admin')
on conflict (tenant_id, user_id) do nothing;

insert into public.work_orders (id, tenant_id, title, status, priority, assignee, external_ref)
values
  ('d2000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000001',
    'Replace the filters in air handler AHU-2', 'open', 'high', null, null),
  ('d2000000-0000-4000-8000-000000000002', 'd1000000-0000-4000-8000-000000000001',
    'Inspect the fire pump', 'in_progress', 'urgent', 'd0000000-0000-4000-8000-000000000001', null),
  ('d2000000-0000-4000-8000-000000000003', 'd1000000-0000-4000-8000-000000000001',
    'Lubricate conveyor bearings', 'on_hold', 'normal', null, 'SAP-4711'),
  ('d2000000-0000-4000-8000-000000000004', 'd1000000-0000-4000-8000-000000000001',
    'Recalibrate the boiler pressure sensor', 'done', 'low', null, null)
on conflict (id) do nothing;
