/**
 * What the local stack costs, measured side by side in one run:
 * - a test database cloned from the migrated template vs one built from scratch (bootstrap + db push);
 * - an RPC through the gateway with supabase-js vs the same SQL call over a direct connection;
 * - 200 HTTP calls through net.http_get and the pg_net worker vs the same calls with fetch.
 */
import { createClient } from "@supabase/supabase-js";
import { bootstrapDatabase, pushMigrations } from "../local/database.ts";
import { startGateway } from "../local/gateway/server.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../local/keys.ts";
import { startNetWorker } from "../local/net_worker.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { createTestDatabase } from "../tests/_support/db.ts";
import { fmt, median, timeRuns, writeResult } from "./_support.ts";

const adminUrl = Deno.env.get("LOCAL_PG_ADMIN_URL");
const cli = Deno.env.get("SUPABASE_CLI");
if (!adminUrl || !cli) {
  console.error("Run this with `deno task bench local_stack`, which starts a cluster for it.");
  Deno.exit(2);
}

async function cloneVsMigrate() {
  const clones = await timeRuns(5, async () => {
    const db = await createTestDatabase();
    await db.close();
  });
  // pg_cron can only be created in the database its scheduler serves (`postgres`), so the database
  // built from scratch is that one, and only once.
  const scratch = await timeRuns(1, async () => {
    await bootstrapDatabase(adminUrl!);
    await pushMigrations(cli!, adminUrl!);
  });
  return { clone_ms: median(clones), from_scratch_ms: median(scratch) };
}

async function rpcVsDirect() {
  const db = await createTestDatabase();
  await db.sql.unsafe(`
    create function public.bench_add(a int, b int) returns int language sql immutable as 'select a + b';
    revoke execute on function public.bench_add(int, int) from public;
    grant execute on function public.bench_add(int, int) to anon;`);
  const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
  const gateway = await startGateway({
    databaseUrl: db.url,
    jwtSecret: LOCAL_JWT_SECRET,
    apiKeys,
    functionsDir: `${PROJECT_ROOT}/supabase/functions`,
    configPath: `${PROJECT_ROOT}/supabase/config.toml`,
    port: 0,
  });
  const client = createClient(gateway.url, apiKeys.anonKey, { auth: { persistSession: false } });
  const calls = 500;
  try {
    await client.rpc("bench_add", { a: 1, b: 2 }); // warm-up
    const [viaGateway] = await timeRuns(1, async () => {
      for (let i = 0; i < calls; i++) {
        const { data, error } = await client.rpc("bench_add", { a: i, b: 1 });
        if (error || data !== i + 1) {
          throw new Error(`unexpected rpc result ${JSON.stringify({ data, error })}`);
        }
      }
    });
    const [direct] = await timeRuns(1, async () => {
      for (let i = 0; i < calls; i++) await db.sql`select public.bench_add(${i}, 1)`;
    });
    return { calls, gateway_ms_per_call: viaGateway / calls, direct_ms_per_call: direct / calls };
  } finally {
    await gateway.close();
    await db.close();
  }
}

async function netWorkerVsFetch() {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => new Response("ok"));
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const db = await createTestDatabase();
  const worker = await startNetWorker({ databaseUrl: db.url });
  const requests = 200;
  try {
    const [viaWorker] = await timeRuns(1, async () => {
      await db.sql`select net.http_get(${url}) from generate_series(1, ${requests})`;
      const deadline = Date.now() + 30_000;
      while ((await db.sql`select count(*)::int as n from net._http_response`)[0].n < requests) {
        if (Date.now() > deadline) throw new Error("the pg_net worker did not finish within 30 s");
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const [viaFetch] = await timeRuns(1, async () => {
      await Promise.all(Array.from({ length: requests }, () => fetch(url).then((r) => r.text())));
    });
    return { requests, worker_ms: viaWorker, fetch_ms: viaFetch };
  } finally {
    await worker.stop();
    await db.close();
    await server.shutdown();
  }
}

const databases = await cloneVsMigrate();
console.log(
  `test database: clone ${fmt(databases.clone_ms)} vs from scratch ${fmt(databases.from_scratch_ms)} ` +
    `(clone is ${(databases.from_scratch_ms / databases.clone_ms).toFixed(1)}x faster)`,
);
const rpc = await rpcVsDirect();
console.log(
  `rpc: gateway ${fmt(rpc.gateway_ms_per_call)}/call vs direct SQL ${fmt(rpc.direct_ms_per_call)}/call ` +
    `(ratio ${(rpc.gateway_ms_per_call / rpc.direct_ms_per_call).toFixed(1)}x)`,
);
const net = await netWorkerVsFetch();
console.log(
  `pg_net: ${net.requests} requests through the worker ${fmt(net.worker_ms)} vs fetch ${fmt(net.fetch_ms)} ` +
    `(ratio ${(net.worker_ms / net.fetch_ms).toFixed(1)}x)`,
);
writeResult("local_stack", { databases, rpc, net });
