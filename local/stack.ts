/**
 * The local development stack: what `supabase start` provides, without Docker.
 * A PostgreSQL cluster with the project's migrations and seed, the pg_net worker, and the API
 * gateway (PostgREST RPCs, Auth, Edge Functions) on one port.
 */
import { join } from "node:path";
import { assertPortFree, Cluster, serverReachableDir } from "./cluster.ts";
import { bootstrapDatabase, pushMigrations } from "./database.ts";
import { type Gateway, startGateway } from "./gateway/server.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "./keys.ts";
import { startNetWorker } from "./net_worker.ts";
import { PROJECT_ROOT, STATE_DIR, TOOLS_DIR } from "./paths.ts";
import { ensurePostgres, ensureSupabaseCli } from "./prereqs.ts";

export interface StackOptions {
  apiPort?: number;
  dbPort?: number;
  /** Folder of the dev cluster (default .supabase-local/dev). */
  dir?: string;
  /** Throw the database away and start from the migrations again. */
  reset?: boolean;
  log?: (line: string) => void;
}

export interface RunningStack {
  apiUrl: string;
  dbUrl: string;
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const log = options.log ?? console.log;
  const apiPort = options.apiPort ?? 54321;
  const pg = await ensurePostgres(log);
  const cli = await ensureSupabaseCli(TOOLS_DIR, log);
  const dir = await serverReachableDir(options.dir ?? join(STATE_DIR, "dev"));
  const cluster = new Cluster(pg, { dir, port: options.dbPort ?? 54322 });

  await assertPortFree(apiPort, "the API gateway");
  const wasRunning = await cluster.isRunning();
  if (options.reset) {
    log("Resetting the local database ...");
    await cluster.destroy();
  }
  const created = await cluster.init();
  if (created) log(`Created a PostgreSQL cluster in ${cluster.dataDir}`);
  await cluster.start();

  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log(`while stopping: ${e.message}`));
  };
  // Stop what this run started, including Postgres unless it was already running before.
  if (!wasRunning || options.reset) stops.push(() => cluster.stop());
  try {
    const dbUrl = cluster.url();
    await bootstrapDatabase(dbUrl);
    log("Applying migrations and seed with the Supabase CLI ...");
    const pushed = await pushMigrations(cli, dbUrl, { seed: true });
    for (const line of pushed.split("\n").filter((l) => /^(Applying|Seeding)/.test(l))) log(`  ${line}`);

    const worker = await startNetWorker({ databaseUrl: dbUrl, log: (l) => log(`[pg_net] ${l}`) });
    stops.push(() => worker.stop());

    const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
    const gateway: Gateway = await startGateway({
      databaseUrl: dbUrl,
      jwtSecret: LOCAL_JWT_SECRET,
      apiKeys,
      functionsDir: join(PROJECT_ROOT, "supabase", "functions"),
      configPath: join(PROJECT_ROOT, "supabase", "config.toml"),
      port: apiPort,
      log: (l) => log(`[gateway] ${l}`),
    });
    stops.push(() => gateway.close());

    return {
      apiUrl: gateway.url,
      dbUrl,
      jwtSecret: LOCAL_JWT_SECRET,
      ...apiKeys,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The summary `supabase start` prints, with the same labels. */
export function describeStack(stack: RunningStack): string {
  const rows: Array<[string, string]> = [
    ["API URL", stack.apiUrl],
    ["Functions URL", `${stack.apiUrl}/functions/v1`],
    ["DB URL", stack.dbUrl],
    ["JWT secret", stack.jwtSecret],
    ["anon key", stack.anonKey],
    ["service_role key", stack.serviceRoleKey],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padStart(width)}: ${value}`).join("\n");
}
