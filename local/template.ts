/**
 * A throwaway cluster whose `app_template` database holds the bootstrap and every migration:
 * the test runner clones it per test, `deno task types` generates types from it.
 */
import { join } from "node:path";
import postgres from "postgres";
import { Cluster, freePort, serverReachableDir } from "./cluster.ts";
import { bootstrapDatabase, pushMigrations } from "./database.ts";
import type { Postgres } from "./prereqs.ts";
import { PROJECT_ROOT, STATE_DIR } from "./paths.ts";

export const TEMPLATE_DB = "app_template";

/**
 * The scratch cluster called `name` (nothing is created yet): a fast, non-durable cluster under
 * .supabase-local/<name>.
 */
async function scratchCluster(pg: Postgres, name: string): Promise<Cluster> {
  // pg_cron's scheduler keeps a connection to its database, which would block cloning it; it points
  // at the template while migrations create pg_cron, and the caller may move it afterwards.
  return new Cluster(pg, {
    dir: await serverReachableDir(join(STATE_DIR, name)),
    port: freePort(),
    fast: true,
    cronDatabase: TEMPLATE_DB,
  });
}

/**
 * Stops and removes the scratch cluster `name`, whoever created it and however far it got: what an
 * interrupted command cleans up.
 */
export async function removeScratchCluster(pg: Postgres, name: string): Promise<void> {
  await (await scratchCluster(pg, name)).destroy();
}

/** Creates (from scratch) and starts the scratch cluster `name`; one that fails to start is removed. */
export async function createScratchCluster(pg: Postgres, name: string): Promise<Cluster> {
  const cluster = await scratchCluster(pg, name);
  await cluster.destroy();
  try {
    await cluster.init();
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** Creates `database`, prepares it like a Supabase project and applies the migrations. */
export async function createMigratedDatabase(
  cluster: Cluster,
  cli: string,
  database: string,
  { seed = false, projectDir = PROJECT_ROOT } = {},
): Promise<void> {
  const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${database}"`);
  } finally {
    await admin.end();
  }
  await bootstrapDatabase(cluster.url(database));
  await pushMigrations(cli, cluster.url(database), { seed, cwd: projectDir });
}

/**
 * A scratch cluster whose template is migrated and ready to clone: pg_cron's scheduler is moved off
 * the template afterwards (it would block cloning), so no cron job runs in the clones; tests and
 * benchmarks call a job's SQL directly.
 */
export async function createTemplateCluster(
  pg: Postgres,
  cli: string,
  name: string,
  log: (line: string) => void = console.log,
  { projectDir = PROJECT_ROOT } = {},
): Promise<Cluster> {
  let t = performance.now();
  const cluster = await createScratchCluster(pg, name);
  log(`cluster started on port ${cluster.port} in ${Math.round(performance.now() - t)} ms`);
  try {
    t = performance.now();
    await createMigratedDatabase(cluster, cli, TEMPLATE_DB, { projectDir });
    log(`migrations applied to ${TEMPLATE_DB} in ${Math.round(performance.now() - t)} ms`);
    await cluster.restart({ cronDatabase: "postgres" });
  } catch (error) {
    // Nobody else holds the cluster yet: a migration that does not apply must not leave it running.
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** (Re)creates `name` as a clone of the migrated template. */
export async function cloneTemplate(cluster: Cluster, name: string): Promise<void> {
  const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
    await sql.unsafe(`create database "${name}" template "${TEMPLATE_DB}" strategy file_copy`);
  } finally {
    await sql.end();
  }
}
