/**
 * Set-up shared by the inbound, round-trip and SDK tests: a tenant with a signed-in tenant admin, a
 * registered plugin installed in it with a Vault secret, work orders, signed inbound requests, polling.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type postgres from "postgres";
import type { Database } from "../../supabase/functions/_shared/database.types.ts";
import { createPluginsClient, type PluginsClient, signInboundWebhook } from "../../sdk/mod.ts";
import type { TestStack } from "../_support/stack.ts";

const PASSWORD = "correct-horse-battery-staple";

/** supabase-js with the given key and no session persistence or refresh timers. */
export function supabaseClient(stack: TestStack, key = stack.anonKey): SupabaseClient<Database> {
  return createClient<Database>(stack.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

export interface SignedInUser {
  userId: string;
  email: string;
  supabase: SupabaseClient<Database>;
}

/** Creates a confirmed user through the Auth admin API and signs them in. */
export async function signedInUser(stack: TestStack, label: string): Promise<SignedInUser> {
  const email = `${label}-${crypto.randomUUID().slice(0, 8)}@plugins.test`;
  const admin = supabaseClient(stack, stack.serviceRoleKey).auth.admin;
  const created = await admin.createUser({ email, password: PASSWORD, email_confirm: true });
  if (created.error) throw created.error;
  const supabase = supabaseClient(stack);
  const signedIn = await supabase.auth.signInWithPassword({ email, password: PASSWORD });
  if (signedIn.error) throw signedIn.error;
  return { userId: created.data.user.id, email, supabase };
}

/** Lets webhook_url point at http://127.0.0.1 in this database (local development only). */
export async function allowPrivateWebhookUrls(stack: TestStack): Promise<void> {
  await stack.sql`update private.plugin_settings set allow_private_webhook_urls = true`;
}

/** Creates or replaces a Vault secret. */
export async function setVaultSecret(sql: postgres.Sql, name: string, value: string): Promise<void> {
  const [existing] = await sql`select id from vault.secrets where name = ${name}`;
  if (existing) await sql`select vault.update_secret(${existing.id}, ${value})`;
  else await sql`select vault.create_secret(${value}, ${name})`;
}

export interface PluginTenant {
  tenantId: string;
  installationId: string;
  admin: SignedInUser;
  /** The admin's plugins client, bound to the tenant. */
  client: PluginsClient;
  pluginKey: string;
  secret: string;
  secretRef: string;
}

export interface PluginTenantOptions {
  pluginKey?: string;
  webhookUrl?: string;
  secret?: string;
  label?: string;
}

/**
 * Registers the plugin (service role), stores its secret in Vault, creates a tenant with a new admin
 * and installs the plugin there as that admin.
 */
export async function pluginTenant(
  stack: TestStack,
  options: PluginTenantOptions = {},
): Promise<PluginTenant> {
  const label = options.label ?? "tenant";
  const pluginKey = options.pluginKey ?? "inbound_test";
  const secret = options.secret ?? `secret-${crypto.randomUUID()}`;
  const secretRef = `${pluginKey}_${label}_${crypto.randomUUID().slice(0, 8)}`;
  const service = createPluginsClient(supabaseClient(stack, stack.serviceRoleKey));
  await service.plugins.register({ key: pluginKey, name: `Plugin ${pluginKey}`, isIntegration: true });
  await setVaultSecret(stack.sql, secretRef, secret);
  const admin = await signedInUser(stack, `${label}-admin`);
  const { data: tenantId, error } = await supabaseClient(stack, stack.serviceRoleKey).rpc(
    "rpc_create_tenant",
    {
      p_name: `Tenant ${label}`,
      p_admin_user_id: admin.userId,
    },
  );
  if (error) throw error;
  const client = createPluginsClient(admin.supabase, { tenantId: tenantId! });
  const installationId = await client.plugins.install({
    pluginKey,
    secretRef,
    config: { webhook_url: options.webhookUrl ?? `https://hooks.example.com/${label}` },
  });
  return { tenantId: tenantId!, installationId, admin, client, pluginKey, secret, secretRef };
}

/** Inserts a work order directly (as the database owner); returns its id. */
export async function insertWorkOrder(
  sql: postgres.Sql,
  tenantId: string,
  title = "Pump 7 leaks",
): Promise<string> {
  const [row] =
    await sql`insert into public.work_orders (tenant_id, title) values (${tenantId}, ${title}) returning id`;
  return row.id as string;
}

export async function workOrder(sql: postgres.Sql, id: string) {
  const [row] = await sql`select status, external_ref from public.work_orders where id = ${id}`;
  return row as { status: string; external_ref: string | null };
}

/** POSTs a signed inbound action to ingest-webhook through the API gateway. */
export async function postInbound(
  stack: TestStack,
  installationId: string,
  secret: string,
  message: { action: string; args: Record<string, unknown>; deliveryId?: string; timestamp?: number | Date },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const signed = await signInboundWebhook(message, secret);
  const res = await fetch(`${stack.apiUrl}/functions/v1/ingest-webhook/${installationId}`, {
    method: "POST",
    headers: signed.headers,
    body: signed.body,
  });
  return { status: res.status, body: await res.json() };
}

export { waitFor } from "../_support/wait.ts";
