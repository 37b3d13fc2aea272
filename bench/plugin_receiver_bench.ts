/**
 * plugin-receiver's hot path and its callback, measured apart:
 *
 * 1. verify + ack: the receiver app (createApp from supabase/functions/plugin-receiver/app.ts, with
 *    its request logging, but no callback work) in its own process on 127.0.0.1, loaded with wrk
 *    (installed from apt when missing and possible; otherwise a bounded Deno fetch loop). Requests
 *    rotate through 2,000 deliveries signed as the database signs them (Standard Webhooks and
 *    X-Plugin-Signature); every request is verified on its raw bytes, parsed and accepted as a new
 *    delivery: the receiver remembers fewer ids than the rotation holds, so an id has been forgotten
 *    by the time it comes round again (as with real deliveries, almost all of which are new; a
 *    duplicate skips the acceptance work and is cheaper). Two runs: flat out (16 connections,
 *    the throughput), and paced at about 3,300 req/s (the latency at the target rate). Target: >= 3,000
 *    req/s, and p99 < 10 ms at that rate.
 * 2. the callback: set_external_ref through ingest-webhook -> rpc_plugin_ingest_webhook on a local
 *    stack (gateway, function process, database), one at a time and 8 at a time.
 *
 * Run with `deno task bench plugin_receiver`; writes bench/results/plugin_receiver.json.
 */
import { join } from "node:path";
import { startGateway } from "../local/gateway/server.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../local/keys.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { createApp } from "../supabase/functions/plugin-receiver/app.ts";
import { createBackground } from "../supabase/functions/plugin-receiver/background.ts";
import { createIngestCallback } from "../supabase/functions/plugin-receiver/callback.ts";
import { RecentDeliveries } from "../supabase/functions/plugin-receiver/recent_deliveries.ts";
import type { PluginDelivery } from "../supabase/functions/plugin-receiver/schemas.ts";
import { signHmacHex, standardWebhookHeaders } from "../supabase/functions/_shared/webhook_signature.ts";
import { createTestDatabase } from "../tests/_support/db.ts";
import { fmt, median, writeResult } from "./_support.ts";

const SECRET = "bench-receiver-secret-0123456789";
const DISTINCT_DELIVERIES = 2_000;
/**
 * The ids the receiver under load remembers: a quarter of the rotation, so that every request is a new
 * delivery to it (an id comes round again only after 1,999 others have pushed it out).
 */
const REMEMBERED_IDS = DISTINCT_DELIVERIES / 4;
const DURATION_SECONDS = 8;
const CONNECTIONS = 16;
/** Paced run: 24 connections, each waiting 6 ms after an answer: about 3,300 req/s. */
const PACED_CONNECTIONS = 24;
const PACED_DELAY_MS = 6;
const TARGET_RPS = 3_000;
const TARGET_P99_MS = 10;

// --- server mode: `deno run -A bench/plugin_receiver_bench.ts --serve <port>` -----------------------

if (Deno.args[0] === "--serve") {
  const background = createBackground();
  const app = createApp({
    secret: SECRET,
    // The callback is measured on its own below; here only verification and the acknowledgement.
    handleDelivery: () => Promise.resolve({ action: null }),
    waitUntil: background.waitUntil,
    recent: new RecentDeliveries(REMEMBERED_IDS),
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(Deno.args[1]),
    onListen: () => console.error("listening"),
  }, app.fetch);
} else {
  await main();
}

// --- the benchmark ---------------------------------------------------------------------------------

function delivery(i: number): PluginDelivery {
  return {
    id: crypto.randomUUID(),
    type: "work_orders.insert",
    tenant_id: "aaaaaaaa-aaaa-4000-8000-000000000000",
    installation_id: "aaaaaaaa-aaaa-4000-8000-0000000000f1",
    audit_id: 1000 + i,
    occurred_at: new Date().toISOString(),
    data: {
      table_schema: "public",
      table_name: "work_orders",
      op: "INSERT",
      record_id: crypto.randomUUID(),
      changed_fields: [],
    },
  };
}

/** Headers and body exactly as rpc_process_plugin_deliveries sends them. */
async function signedRequest(payload: PluginDelivery, timestamp: number) {
  const body = JSON.stringify(payload);
  const standard = await standardWebhookHeaders(SECRET, { id: payload.id, timestamp, body }, "raw");
  return {
    body,
    headers: {
      "Content-Type": "application/json",
      "X-Plugin-Delivery-Id": payload.id,
      "X-Plugin-Event-Type": payload.type,
      "X-Plugin-Signature": await signHmacHex(SECRET, body),
      ...standard,
    } as Record<string, string>,
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function hasWrk(): Promise<boolean> {
  try {
    return (await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()) !==
      undefined;
  } catch {
    return false;
  }
}

/** wrk, installing it with apt when this runs as root; false when it cannot be had. */
async function ensureWrk(): Promise<boolean> {
  if (await hasWrk()) return true;
  if (Deno.uid?.() !== 0) return false;
  console.log("wrk is missing: installing it with apt-get ...");
  try {
    await new Deno.Command("apt-get", { args: ["install", "-y", "wrk"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return false;
  }
  return await hasWrk();
}

function luaString(text: string): string {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;
}

interface LoadResult {
  tool: string;
  requests: number;
  seconds: number;
  rps: number;
  non_2xx_or_errors: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
}

/**
 * wrk with `connections` connections for DURATION_SECONDS. With `delayMs`, each connection waits that
 * long after each answer before its next request (wrk's delay hook), which paces the load to about
 * connections * 1000 / (delayMs + latency) requests per second; without it wrk sends as fast as the
 * server answers.
 */
async function loadWithWrk(
  url: string,
  requests: Array<{ body: string; headers: Record<string, string> }>,
  connections: number,
  delayMs?: number,
) {
  const dir = await Deno.makeTempDir({ prefix: "receiver-bench-" });
  try {
    const entries = requests.map((r) =>
      `{${luaString(r.body)}, {${
        Object.entries(r.headers).map(([k, v]) => `[${luaString(k)}]=${luaString(v)}`)
      }}}`
    );
    const script = `
local raw = {${entries.join(",\n")}}
local reqs = {}
local n = #raw
local i = 0
init = function(args)
  for k = 1, n do reqs[k] = wrk.format("POST", nil, raw[k][2], raw[k][1]) end
end
request = function()
  i = (i % n) + 1
  return reqs[i]
end
${delayMs === undefined ? "" : `delay = function() return ${delayMs} end`}
done = function(summary, latency, requests)
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end`;
    const scriptPath = join(dir, "receiver.lua");
    await Deno.writeTextFile(scriptPath, script);
    const out = await new Deno.Command("wrk", {
      args: ["-t1", `-c${connections}`, `-d${DURATION_SECONDS}s`, "--timeout", "5s", "-s", scriptPath, url],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const match = /WRK_JSON (\{.*\})/.exec(text);
    if (!match) throw new Error(`wrk printed no result: ${text}\n${new TextDecoder().decode(out.stderr)}`);
    const r = JSON.parse(match[1]);
    const seconds = r.duration_us / 1e6;
    return {
      tool: `wrk -t1 -c${connections} -d${DURATION_SECONDS}s${
        delayMs === undefined ? "" : `, ${delayMs} ms between requests`
      }`,
      requests: r.requests,
      seconds,
      rps: r.requests / seconds,
      non_2xx_or_errors: r.errors,
      latency_ms: { p50: r.p50 / 1000, p90: r.p90 / 1000, p99: r.p99 / 1000, max: r.max / 1000 },
    } satisfies LoadResult;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The fallback load generator: `connections` concurrent fetch loops for DURATION_SECONDS. */
async function loadWithDeno(
  url: string,
  requests: Array<{ body: string; headers: Record<string, string> }>,
  connections: number,
  delayMs?: number,
) {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const deadline = performance.now() + DURATION_SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const r = requests[next++ % requests.length];
      const t = performance.now();
      const res = await fetch(url, { method: "POST", headers: r.headers, body: r.body });
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
      if (!res.ok) errors++;
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
  return {
    tool: `deno fetch loop, ${connections} concurrent${delayMs ? `, ${delayMs} ms between requests` : ""}`,
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    non_2xx_or_errors: errors,
    latency_ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: sorted.at(-1) ?? 0 },
  } satisfies LoadResult;
}

/** Runs the receiver in its own process and loads it twice: flat out, then paced at about 3,300 req/s. */
async function verifyAndAck(): Promise<{ max: LoadResult; paced: LoadResult }> {
  const port = freePort();
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--serve", String(port)],
    cwd: PROJECT_ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = server.stderr.getReader();
  try {
    await stderr.read(); // "listening"
    const url = `http://127.0.0.1:${port}/plugin-receiver`;
    const now = Math.floor(Date.now() / 1000);
    const requests = await Promise.all(
      Array.from({ length: DISTINCT_DELIVERIES }, (_, i) => signedRequest(delivery(i), now)),
    );
    // Warm-up (JIT, connection set-up): one pass over the rotation, then its first delivery again. Each
    // must be accepted as new, the repeat too (it was forgotten), or the load below would measure the
    // cheaper duplicate answer instead of verify + accept.
    for (const r of [...requests, requests[0]]) {
      const res = await fetch(url, { method: "POST", headers: r.headers, body: r.body });
      const answer = await res.text();
      if (res.status !== 200 || JSON.parse(answer).duplicate !== false) {
        throw new Error(`warm-up: expected a new delivery accepted, got ${res.status} ${answer}`);
      }
    }
    const load = (await ensureWrk()) ? loadWithWrk : loadWithDeno;
    const max = await load(url, requests, CONNECTIONS);
    const paced = await load(url, requests, PACED_CONNECTIONS, PACED_DELAY_MS);
    return { max, paced };
  } finally {
    stderr.releaseLock();
    server.kill("SIGTERM");
    await server.status;
    await server.stderr.cancel().catch(() => {});
  }
}

async function callbackRoundTrip() {
  const db = await createTestDatabase();
  const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
  const gateway = await startGateway({
    databaseUrl: db.url,
    jwtSecret: LOCAL_JWT_SECRET,
    apiKeys,
    functionsDir: join(PROJECT_ROOT, "supabase", "functions"),
    configPath: join(PROJECT_ROOT, "supabase", "config.toml"),
    port: 0,
  });
  try {
    const tenantId = crypto.randomUUID();
    const installationId = crypto.randomUUID();
    await db.sql`insert into public.tenants (id, name) values (${tenantId}, 'Bench')`;
    await db.sql`insert into int.plugins (key, name) values ('bench_receiver', 'Bench receiver')`;
    await db.sql`select vault.create_secret(${SECRET}, 'bench_receiver_secret')`;
    await db.sql`
      insert into int.plugin_installations (id, tenant_id, plugin_key, config, secret_ref)
      values (${installationId}, ${tenantId}, 'bench_receiver', '{"webhook_url": "https://hooks.example.com/b"}',
              'bench_receiver_secret')`;
    const orders = await db.sql<{ id: string }[]>`
      insert into public.work_orders (tenant_id, title)
      select ${tenantId}, 'order ' || g from generate_series(1, 401) g returning id`;
    const deliveries = orders.map((o, i) => {
      const d = delivery(i);
      d.tenant_id = tenantId;
      d.installation_id = installationId;
      d.data.record_id = o.id;
      return d;
    });
    const callback = createIngestCallback({
      ingestUrl: `${gateway.url}/functions/v1/ingest-webhook`,
      secret: SECRET,
    });

    const cold = performance.now();
    await callback(deliveries[0]); // boots the ingest-webhook process
    const firstMs = performance.now() - cold;

    const sequential: number[] = [];
    for (const d of deliveries.slice(1, 201)) {
      const t = performance.now();
      const result = await callback(d);
      sequential.push(performance.now() - t);
      if (result.status !== 200 || result.duplicate) throw new Error(`unexpected ${JSON.stringify(result)}`);
    }
    const concurrentStarted = performance.now();
    const queue = deliveries.slice(201);
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await callback(d);
    }));
    const concurrentSeconds = (performance.now() - concurrentStarted) / 1000;
    const [{ n }] = await db
      .sql`select count(*)::int as n from public.work_orders where external_ref is not null`;
    if (n !== 401) throw new Error(`expected 401 external refs, found ${n}`);
    const sorted = [...sequential].sort((a, b) => a - b);
    return {
      first_call_with_function_boot_ms: firstMs,
      sequential_ms: { p50: median(sequential), p99: sorted[Math.floor(sorted.length * 0.99)] },
      concurrent_8_per_second: 200 / concurrentSeconds,
    };
  } finally {
    await gateway.close();
    await db.close();
  }
}

function describe(load: LoadResult): string {
  return `${Math.round(load.rps)} req/s (${(load.rps / TARGET_RPS).toFixed(1)}x the ${TARGET_RPS} target), ` +
    `p50 ${fmt(load.latency_ms.p50)}, p99 ${fmt(load.latency_ms.p99)} ` +
    `(${(load.latency_ms.p99 / TARGET_P99_MS).toFixed(2)}x the ${TARGET_P99_MS} ms limit), ` +
    `${load.non_2xx_or_errors} errors [${load.tool}]`;
}

async function main() {
  const loadAverage = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  const { max, paced } = await verifyAndAck();
  const pass = max.rps >= TARGET_RPS && paced.rps >= TARGET_RPS && paced.latency_ms.p99 < TARGET_P99_MS &&
    max.non_2xx_or_errors === 0 && paced.non_2xx_or_errors === 0;
  console.log(`load average before the run: ${loadAverage} on ${navigator.hardwareConcurrency} cores`);
  console.log(`verify + ack, flat out:        ${describe(max)}`);
  console.log(`verify + ack, paced >= 3,000/s: ${describe(paced)}`);
  console.log(
    `verify + ack: ${pass ? "PASS" : "FAIL"} (>= ${TARGET_RPS} req/s with p99 < ${TARGET_P99_MS} ms)`,
  );
  const callback = await callbackRoundTrip();
  console.log(
    `callback through ingest-webhook -> rpc_plugin_ingest_webhook: first ${
      fmt(callback.first_call_with_function_boot_ms)
    } ` +
      `(boots the function), then p50 ${fmt(callback.sequential_ms.p50)}, p99 ${
        fmt(callback.sequential_ms.p99)
      } ` +
      `one at a time; ${Math.round(callback.concurrent_8_per_second)}/s with 8 at a time`,
  );
  writeResult("plugin_receiver", {
    load_average: loadAverage,
    verify_and_ack: { max, paced, target_rps: TARGET_RPS, target_p99_ms: TARGET_P99_MS, pass },
    callback,
  });
  if (!pass) Deno.exit(1);
}
