/**
 * The plugin guide's smoke test, end to end: register `example_receiver`, put its secret in Vault,
 * create a tenant, install the plugin, subscribe to `work_orders` INSERT, insert a work order, run the
 * processor, and show the delivery verified by the receiver and delivered. Ends with PASS or FAIL
 * (exit code 0 or 1).
 *
 *   deno task smoke
 *     A throwaway local stack (PostgreSQL cluster, pg_net worker, API gateway; no Docker), and the
 *     example receiver (receiver.ts) on 127.0.0.1.
 *
 *   SUPABASE_URL=... SUPABASE_ANON_KEY=... SUPABASE_SERVICE_ROLE_KEY=... SUPABASE_DB_URL=... deno task smoke
 *     An existing stack. On 127.0.0.1/localhost (e.g. `deno task dev`) the example receiver runs here
 *     as above. For a real project, the database must reach the receiver: set EXAMPLE_WEBHOOK_URL to a
 *     public https URL (the deployed plugin-receiver function, or a tunnel to `deno run -A
 *     plugins/example/receiver.ts`) and WEBHOOK_SECRET to that receiver's secret. What the smoke test
 *     creates there is deleted at the end unless you pass --keep.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import postgres from "postgres";
import type { Database } from "../../supabase/functions/_shared/database.types.ts";
import { createPluginsClient, type PluginDelivery, type PluginsClient } from "../../sdk/mod.ts";
import { createExampleReceiver, type ExampleReceiver } from "./receiver.ts";

export const PLUGIN_KEY = "example_receiver";

/** A Supabase stack to run against. */
export interface SmokeTarget {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  dbUrl: string;
}

export interface SmokeOptions {
  /** Where the database sends deliveries; default: the example receiver on 127.0.0.1 (local stacks only). */
  webhookUrl?: string;
  /** The receiver's shared secret (required with webhookUrl; random otherwise). */
  secret?: string;
  /** Keep what the smoke test created (default: delete it). */
  keep?: boolean;
  /** How long to wait for the delivery (default 30 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface SmokeResult {
  ok: boolean;
  tenantId?: string;
  installationId?: string;
  workOrderId?: string;
  delivery?: PluginDelivery;
  failure?: string;
}

function isLoopback(url: string): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs the guide's steps against `target`; never throws, the result says PASS or FAIL and why. */
export async function runSmoke(target: SmokeTarget, options: SmokeOptions = {}): Promise<SmokeResult> {
  const log = options.log ?? console.log;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const suffix = crypto.randomUUID().slice(0, 8);
  const secretRef = `${PLUGIN_KEY}_hmac_smoke_${suffix}`;
  const secret = options.secret ?? `smoke-${crypto.randomUUID()}`;
  const result: SmokeResult = { ok: false };
  const sql = postgres(target.dbUrl, { max: 2, onnotice: () => {} });
  const auth = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false };
  // A trusted server's client: the service role (secret) key, never shipped to a browser.
  const supabase: SupabaseClient<Database> = createClient<Database>(target.apiUrl, target.serviceRoleKey, {
    auth,
  });
  const client: PluginsClient = createPluginsClient(supabase);
  let receiver: ExampleReceiver | undefined;
  let server: Deno.HttpServer | undefined;
  let userId: string | undefined;
  const step = (text: string) => log(`- ${text}`);

  try {
    let webhookUrl = options.webhookUrl;
    if (!webhookUrl) {
      if (!isLoopback(target.apiUrl)) {
        throw new Error(
          "the database of a hosted project cannot reach this machine: set EXAMPLE_WEBHOOK_URL to a public " +
            "https receiver (e.g. the deployed plugin-receiver function) and WEBHOOK_SECRET to its secret",
        );
      }
      receiver = createExampleReceiver(secret);
      server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, receiver.handler);
      webhookUrl = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/hooks/example`;
      step(`example receiver listening on ${webhookUrl}`);
    }

    // 1. Register in the catalog (backend only), as in the guide.
    const { error: registerError } = await supabase.rpc("rpc_register_plugin", {
      p_key: PLUGIN_KEY,
      p_name: "Example receiver",
      p_description: "The plugin guide's example: receives work order deliveries",
      p_is_integration: true,
      p_is_active: true,
    });
    if (registerError) throw new Error(`rpc_register_plugin: ${registerError.message}`);
    step(`registered ${PLUGIN_KEY}`);

    // 2. Store the secret in Vault; the installation names it, the database alone reads it.
    await sql`select vault.create_secret(${secret}, ${secretRef}, 'plugin guide smoke test')`;
    step(`stored its HMAC secret in Vault as ${secretRef}`);

    // 3. A tenant with an admin.
    const created = await supabase.auth.admin.createUser({
      email: `smoke-admin-${suffix}@example.com`,
      email_confirm: true,
      password: crypto.randomUUID(),
    });
    if (created.error) throw new Error(`auth admin createUser: ${created.error.message}`);
    userId = created.data.user.id;
    const tenant = await supabase.rpc("rpc_create_tenant", {
      p_name: `Smoke ${suffix}`,
      p_admin_user_id: userId,
    });
    if (tenant.error) throw new Error(`rpc_create_tenant: ${tenant.error.message}`);
    const tenantId = tenant.data;
    result.tenantId = tenantId;
    step(`created tenant ${tenantId}`);

    // 4. Install. A loopback receiver needs the local-development URL setting, set for this session only.
    const config = { webhook_url: webhookUrl, timeout_ms: 5000 };
    if (isLoopback(webhookUrl)) {
      result.installationId = await sql.begin(async (tx) => {
        await tx`select set_config('plugins.allow_private_webhook_urls', 'on', true)`;
        const [row] = await tx`
          select public.rpc_install_plugin(${tenantId}, ${PLUGIN_KEY}, ${
          tx.json(config)
        }, ${secretRef}) as id`;
        return row.id as string;
      });
    } else {
      result.installationId = await client.plugins.install({
        tenantId,
        pluginKey: PLUGIN_KEY,
        secretRef,
        config,
      });
    }
    step(`installed it for the tenant (installation ${result.installationId}) -> ${webhookUrl}`);

    // 5. Subscribe to new work orders.
    await client.plugins.upsertWebhookSubscription({
      installationId: result.installationId,
      tableName: "work_orders",
      operations: ["INSERT"],
    });
    step("subscribed to work_orders INSERT");

    // 6. An audited change: the delivery is queued in the same transaction.
    const [order] = await sql`
      insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Smoke test: pump 7 leaks')
      returning id`;
    result.workOrderId = order.id;
    step(`inserted work order ${order.id}`);

    // 7. Run the processor (pg_cron does this every few seconds) until the delivery is settled.
    const delivery = await waitFor("the delivery", timeoutMs, async () => {
      await client.plugins.processDeliveries(100);
      const [row] = await client.plugins.listRecentDeliveries({
        tenantId,
        installationId: result.installationId,
      });
      return row && ["delivered", "dead"].includes(row.status) ? row : undefined;
    });
    result.delivery = delivery;
    step(
      `processor: delivery ${delivery.id} is ${delivery.status} (HTTP ${delivery.last_status_code ?? "-"})`,
    );

    // 8. Show it verified and delivered.
    if (delivery.status !== "delivered") {
      throw new Error(`the delivery ended ${delivery.status}: ${delivery.last_error ?? "no error recorded"}`);
    }
    if (receiver) {
      const seen = receiver.received.find((r) => r.id === delivery.id);
      if (!seen) throw new Error("the receiver did not record a verified delivery");
      step(
        `receiver verified ${seen.type} ${seen.id} on the raw bytes (${seen.scheme}); refused: ${receiver.refused}`,
      );
    } else {
      const [attempt] = await sql`
        select status_code, response_excerpt from int.plugin_delivery_attempts
        where delivery_id = ${delivery.id} order by attempt desc limit 1`;
      step(`receiver verified and answered ${attempt?.status_code}: ${attempt?.response_excerpt ?? ""}`);
    }
    result.ok = true;
  } catch (error) {
    result.failure = (error as Error).message;
  } finally {
    if (!options.keep) {
      await cleanUp(sql, supabase, result, secretRef, userId).catch((error) =>
        log(`(clean-up failed: ${(error as Error).message})`)
      );
    }
    await server?.shutdown();
    await sql.end({ timeout: 5 });
  }
  return result;
}

async function cleanUp(
  sql: postgres.Sql,
  supabase: SupabaseClient<Database>,
  result: SmokeResult,
  secretRef: string,
  userId: string | undefined,
): Promise<void> {
  if (result.tenantId) {
    // Installations, subscriptions, deliveries and memberships go with the tenant (on delete cascade).
    await sql`delete from public.work_orders where tenant_id = ${result.tenantId}`;
    await sql`delete from public.tenants where id = ${result.tenantId}`;
  }
  await sql`delete from vault.secrets where name = ${secretRef}`;
  if (userId) await supabase.auth.admin.deleteUser(userId);
}

/** A throwaway local stack, like `deno task test` builds one (imported lazily: local only). */
async function throwawayStack(
  log: (line: string) => void,
): Promise<SmokeTarget & { close(): Promise<void> }> {
  const { ensurePostgres, ensureSupabaseCli } = await import("../../local/prereqs.ts");
  const { TOOLS_DIR, PROJECT_ROOT } = await import("../../local/paths.ts");
  const { createTemplateCluster, cloneTemplate } = await import("../../local/template.ts");
  const { startNetWorker } = await import("../../local/net_worker.ts");
  const { startGateway } = await import("../../local/gateway/server.ts");
  const { LOCAL_JWT_SECRET, localApiKeys } = await import("../../local/keys.ts");
  const cli = await ensureSupabaseCli(TOOLS_DIR);
  const cluster = await createTemplateCluster(await ensurePostgres(), cli, `smoke-${Deno.pid}`, log);
  const closers: Array<() => Promise<void>> = [() => cluster.destroy()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  try {
    await cloneTemplate(cluster, "smoke");
    const dbUrl = cluster.url("smoke");
    const worker = await startNetWorker({ databaseUrl: dbUrl });
    closers.push(() => worker.stop());
    const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
    const gateway = await startGateway({
      databaseUrl: dbUrl,
      jwtSecret: LOCAL_JWT_SECRET,
      apiKeys,
      functionsDir: `${PROJECT_ROOT}/supabase/functions`,
      configPath: `${PROJECT_ROOT}/supabase/config.toml`,
      port: 0,
    });
    closers.push(() => gateway.close());
    return { apiUrl: gateway.url, dbUrl, ...apiKeys, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function main(args: string[]): Promise<number> {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const keep = args.includes("--keep");
  let target: SmokeTarget & { close?: () => Promise<void> };
  if (env("SUPABASE_URL")) {
    const missing = ["SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_DB_URL"].filter((n) =>
      !env(n)
    );
    if (missing.length) {
      console.error(`FAIL: with SUPABASE_URL set, also set ${missing.join(", ")}`);
      return 1;
    }
    target = {
      apiUrl: env("SUPABASE_URL")!,
      anonKey: env("SUPABASE_ANON_KEY")!,
      serviceRoleKey: env("SUPABASE_SERVICE_ROLE_KEY")!,
      dbUrl: env("SUPABASE_DB_URL")!,
    };
    console.log(`Smoke test against ${target.apiUrl}`);
  } else {
    console.log("Smoke test against a throwaway local stack (set SUPABASE_URL etc. to use another one)");
    target = await throwawayStack((line) => console.log(`  ${line}`));
  }
  const webhookUrl = env("EXAMPLE_WEBHOOK_URL");
  const secret = env("WEBHOOK_SECRET");
  if (webhookUrl && !secret) {
    console.error("FAIL: EXAMPLE_WEBHOOK_URL needs WEBHOOK_SECRET, the receiver's shared secret");
    await target.close?.();
    return 1;
  }
  const started = performance.now();
  try {
    const result = await runSmoke(target, { webhookUrl, secret, keep });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (result.ok) {
      console.log(`PASS: delivery ${result.delivery!.id} was verified and delivered (${seconds} s)`);
      return 0;
    }
    console.log(`FAIL: ${result.failure}`);
    return 1;
  } finally {
    await target.close?.();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
