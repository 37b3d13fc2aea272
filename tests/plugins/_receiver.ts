/**
 * A plugin's webhook receiver for the delivery tests: a loopback HTTP server that checks both
 * signatures of every delivery on the raw body bytes, like a partner's receiver must, and records
 * what arrived.
 *
 * - `X-Plugin-Signature`: lowercase hex HMAC-SHA256 of the body bytes, recomputed with Web Crypto and
 *   compared in constant time.
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): verified by the
 *   `standardwebhooks` package with the same secret in its raw format.
 *
 * A request that fails either check is answered 401 and recorded in `rejected`, never in `received`.
 * Tests decide the answer to each verified delivery with `respond`.
 *
 * `installReceiver` wires a receiver into a test database: a tenant, the Vault secret, a plugin
 * installation pointing at the receiver and a subscription to `public.work_orders` INSERTs.
 */
import { Webhook } from "standardwebhooks";
import type postgres from "postgres";

export interface ReceivedDelivery {
  /** X-Plugin-Delivery-Id. */
  id: string;
  eventType: string | null;
  /** The raw body, decoded as UTF-8. */
  body: string;
  /** The body parsed as JSON. */
  payload: Record<string, unknown>;
  /** The how-manieth request for this delivery id the receiver got (1 for the first). */
  seen: number;
  /** The request headers, without the signatures. */
  headers: Record<string, string>;
}

/** What the receiver answers: a status (with an optional delay before answering), or a Response. */
export type Answer = { status: number; delayMs?: number; body?: string };
export type Responder = (delivery: ReceivedDelivery) => Answer;

export interface Receiver {
  /** The URL to install, e.g. http://127.0.0.1:41234/hooks. */
  url: string;
  secret: string;
  /** Verified deliveries in arrival order. */
  received: ReceivedDelivery[];
  /** Requests that failed verification, with the reason. */
  rejected: string[];
  /** How often each delivery id arrived (verified). */
  countById(): Map<string, number>;
  /** Changes how verified deliveries are answered (default: 200). */
  respond: Responder;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time comparison of two strings of equal length (the expected value's length leaks). */
function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Starts a receiver on 127.0.0.1 and a free port. `secret` is the Vault secret's plaintext. */
export async function startReceiver(secret: string): Promise<Receiver> {
  // Import the HMAC key once: importing it per request costs more than the HMAC itself.
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  // The documented way for receivers: the raw secret string. It takes char codes as key bytes, which
  // are the UTF-8 bytes only for an ASCII secret; other secrets go in as their UTF-8 bytes.
  // deno-lint-ignore no-control-regex
  const standard = /^[\x00-\x7f]*$/.test(secret)
    ? new Webhook(secret, { format: "raw" })
    : new Webhook(encoder.encode(secret), { format: "raw" });
  const received: ReceivedDelivery[] = [];
  const rejected: string[] = [];
  const counts = new Map<string, number>();
  const closing = new AbortController();

  const receiver: Receiver = {
    url: "",
    secret,
    received,
    rejected,
    countById: () => new Map(counts),
    respond: () => ({ status: 200 }),
    async close() {
      closing.abort();
      await server.shutdown();
    },
  };

  async function verify(req: Request, bytes: Uint8Array<ArrayBuffer>): Promise<string | ReceivedDelivery> {
    const signature = req.headers.get("x-plugin-signature");
    const id = req.headers.get("x-plugin-delivery-id");
    if (!signature || !id) return "missing X-Plugin-Signature or X-Plugin-Delivery-Id";
    const expected = toHex(await crypto.subtle.sign("HMAC", key, bytes));
    if (!timingSafeEqual(signature, expected)) {
      return "X-Plugin-Signature does not match the body (are the raw bytes signed?)";
    }
    let body: string;
    try {
      body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return "the body is not valid UTF-8";
    }
    try {
      standard.verify(body, Object.fromEntries(req.headers));
    } catch (error) {
      return `Standard Webhooks verification failed: ${(error as Error).message}`;
    }
    if (req.headers.get("webhook-id") !== id) return "webhook-id differs from X-Plugin-Delivery-Id";
    const seen = (counts.get(id) ?? 0) + 1;
    counts.set(id, seen);
    return {
      id,
      eventType: req.headers.get("x-plugin-event-type"),
      body,
      payload: JSON.parse(body),
      seen,
      headers: Object.fromEntries(
        [...req.headers].filter(([name]) => !["x-plugin-signature", "webhook-signature"].includes(name)),
      ),
    };
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const bytes = new Uint8Array(await req.arrayBuffer());
    const result = await verify(req, bytes);
    if (typeof result === "string") {
      rejected.push(result);
      return Response.json({ error: "invalid_signature", message: result }, { status: 401 });
    }
    received.push(result);
    const answer = receiver.respond(result);
    if (answer.delayMs) await delay(answer.delayMs, closing.signal);
    return new Response(answer.body ?? "ok", { status: answer.status });
  });
  receiver.url = `http://127.0.0.1:${server.addr.port}/hooks`;
  return receiver;
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      resolve();
    }
  });
}

import { waitFor } from "../_support/wait.ts";
export { waitFor };

export interface Installation {
  tenantId: string;
  installationId: string;
  pluginKey: string;
  secretRef: string;
}

export interface InstallOptions {
  /** The webhook_url; defaults to the receiver's URL. */
  url?: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
  maxAttempts?: number;
  /** Subscribe with include_payload, so bodies carry the rows (old_data/new_data). */
  includePayload?: boolean;
}

let installs = 0;

/**
 * Creates a tenant with a plugin installation that delivers work_orders INSERTs to `receiver` (or
 * `options.url`), through the same RPCs a tenant admin's app uses, run as the service role. Loopback
 * URLs need `private.plugin_settings.allow_private_webhook_urls`, which this turns on for the database.
 */
export async function installReceiver(
  sql: postgres.Sql,
  receiver: Pick<Receiver, "url" | "secret">,
  options: InstallOptions = {},
): Promise<Installation> {
  const n = ++installs;
  const pluginKey = "delivery_test";
  const secretRef = `delivery_test_secret_${n}_${crypto.randomUUID().slice(0, 8)}`;
  await sql`update private.plugin_settings set allow_private_webhook_urls = true`;
  const config: Record<string, unknown> = { webhook_url: options.url ?? receiver.url };
  if (options.timeoutMs !== undefined) config.timeout_ms = options.timeoutMs;
  if (options.headers) config.headers = options.headers;

  return await sql.begin(async (tx) => {
    const [{ id: tenantId }] = await tx`
      insert into public.tenants (name) values (${`Delivery test tenant ${n}`}) returning id`;
    await tx`select vault.create_secret(${receiver.secret}, ${secretRef})`;
    await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
    await tx`set local role service_role`;
    await tx`select public.rpc_register_plugin(${pluginKey}, 'Delivery test', 'deno tests', true, true)`;
    const configText = JSON.stringify(config);
    const [{ id: installationId }] = await tx`
      select public.rpc_install_plugin(
        ${tenantId}, ${pluginKey}, ${configText}::text::jsonb, ${secretRef}, ${options.maxAttempts ?? 8}::int
      ) as id`;
    await tx`
      select public.rpc_upsert_webhook_subscription(
        ${installationId}, 'public', 'work_orders', array['INSERT'], null, ${
      options.includePayload ?? false
    })`;
    await tx`reset role`;
    return { tenantId, installationId, pluginKey, secretRef };
  });
}

/** What one rpc_process_plugin_deliveries call reports. */
export interface ProcessCounts {
  reconciled: number;
  delivered: number;
  retried: number;
  dead: number;
  expired_leases: number;
  extended_leases: number;
  /** Queued deliveries the run wrote as delivery rows (private.expand_plugin_delivery_batches). */
  queued: number;
  sent: number;
  not_sent: number;
}

/** Runs the processor once, as pg_cron does. */
export async function processDeliveries(sql: postgres.Sql, limit = 500): Promise<ProcessCounts> {
  const [{ counts }] = await sql<{ counts: ProcessCounts }[]>`
    select public.rpc_process_plugin_deliveries(${limit}::int) as counts`;
  return counts;
}

/**
 * Runs the processor repeatedly (as the cron job would, only faster) until `done` holds for the summed
 * counts, and returns them; throws after `timeoutMs`.
 */
export async function processUntil(
  sql: postgres.Sql,
  what: string,
  done: (total: ProcessCounts) => boolean | Promise<boolean>,
  { limit = 500, timeoutMs = 10_000 } = {},
): Promise<ProcessCounts> {
  const total: ProcessCounts = {
    reconciled: 0,
    delivered: 0,
    retried: 0,
    dead: 0,
    expired_leases: 0,
    extended_leases: 0,
    queued: 0,
    sent: 0,
    not_sent: 0,
  };
  return await waitFor(what, async () => {
    const counts = await processDeliveries(sql, limit);
    for (const key of Object.keys(total) as (keyof ProcessCounts)[]) total[key] += counts[key];
    return (await done(total)) ? total : undefined;
  }, timeoutMs);
}
