/**
 * A throwaway cluster whose `app_template` database holds the bootstrap and every migration:
 * the test runner clones it per test, `deno task types` generates types from it.
 */
import { join } from "node:path";
import postgres from "postgres";
import { Cluster, freePort, serverReachableDir } from "./cluster.ts";
import { bootstrapDatabase, pushMigrations } from "./database.ts";
import type { Postgres } from "./prereqs.ts";
import { STATE_DIR } from "./paths.ts";

export const TEMPLATE_DB = "app_template";

/** Creates (from scratch) a fast, non-durable cluster under .supabase-local/<name>. */
export async function createScratchCluster(pg: Postgres, name: string): Promise<Cluster> {
  // pg_cron's scheduler keeps a connection to its database, which would block cloning it; it points
  // at the template while migrations create pg_cron, and the caller may move it afterwards.
  const cluster = new Cluster(pg, {
    dir: await serverReachableDir(join(STATE_DIR, name)),
    port: freePort(),
    fast: true,
    cronDatabase: TEMPLATE_DB,
  });
  await cluster.destroy();
  await cluster.init();
  await cluster.start();
  return cluster;
}

/** Creates `database`, prepares it like a Supabase project and applies the migrations. */
export async function createMigratedDatabase(
  cluster: Cluster,
  cli: string,
  database: string,
  { seed = false } = {},
): Promise<void> {
  const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${database}"`);
  } finally {
    await admin.end();
  }
  await bootstrapDatabase(cluster.url(database));
  await pushMigrations(cli, cluster.url(database), { seed });
}
