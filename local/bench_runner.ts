/**
 * `deno task bench [name ...]`: runs bench/*_bench.ts, each in its own process, against a throwaway
 * cluster with the migrated template (the same set-up the tests get: LOCAL_PG_ADMIN_URL and
 * LOCAL_PG_TEMPLATE). Each benchmark prints its ratios and writes bench/results/<name>.json.
 */
import { join } from "node:path";
import { PROJECT_ROOT, TOOLS_DIR } from "./paths.ts";
import { ensurePostgres, ensureSupabaseCli } from "./prereqs.ts";
import { cleanUpOnInterrupt } from "./interrupt.ts";
import { createTemplateCluster, removeScratchCluster, TEMPLATE_DB } from "./template.ts";

const BENCH_DIR = join(PROJECT_ROOT, "bench");

export async function runBenchmarks(names: string[]): Promise<number> {
  const all = [...Deno.readDirSync(BENCH_DIR)]
    .filter((f) => f.isFile && f.name.endsWith("_bench.ts"))
    .map((f) => f.name)
    .sort();
  const chosen = names.length ? all.filter((f) => names.some((n) => f.includes(n))) : all;
  if (chosen.length === 0) {
    console.error(`No benchmark matches ${names.join(", ")}; there are: ${all.join(", ")}`);
    return 2;
  }
  const cli = await ensureSupabaseCli(TOOLS_DIR);
  const pg = await ensurePostgres();
  const name = `bench-${Deno.pid}`;
  // Ctrl-C: stop the benchmark processes and remove the cluster, built or half built.
  const interrupt = cleanUpOnInterrupt(() => removeScratchCluster(pg, name));
  let failed = 0;
  try {
    const cluster = await createTemplateCluster(pg, cli, name);
    try {
      for (const file of chosen) {
        console.log(`\n== ${file}`);
        const status = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(BENCH_DIR, file)],
          cwd: PROJECT_ROOT,
          env: { LOCAL_PG_ADMIN_URL: cluster.url(), LOCAL_PG_TEMPLATE: TEMPLATE_DB, SUPABASE_CLI: cli },
          stdout: "inherit",
          stderr: "inherit",
        }).spawn().status;
        if (!status.success) failed++;
      }
    } finally {
      await cluster.destroy();
    }
  } finally {
    interrupt.dispose();
  }
  return failed === 0 ? 0 : 1;
}
