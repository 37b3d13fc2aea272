/**
 * CPU instructions per single-row insert into public.work_orders, counted by valgrind (callgrind) in a
 * single-user backend: the comparison audit_fanout makes with wall-clock time (untracked copy, audit
 * only, audit + fan-out to three subscriptions, the floor), without the host's noise. On this shared
 * 2-core machine wall-clock ratios move by 0.3x and more between runs; instruction counts repeat
 * within about 1%.
 *
 * Each count is (instructions of a run of warm-up + N prepared inserts - those of a run of the warm-up
 * alone) / N, so the backend's start, the set-up and the warm-up cancel out. Only the server's
 * instructions are counted: no WAL flush, no client round trip, no system calls (a wall-clock ratio has
 * those on both sides, which is why it comes out lower). A single-user backend needs the data directory
 * to itself, so this benchmark builds its own cluster. It needs valgrind, which it installs with apt when
 * run as root.
 *
 * Run with `deno task bench audit_instructions`.
 */
import postgres from "postgres";
import { ensureAptPackages, ensurePostgres, ensureSupabaseCli, isRoot, onPath } from "../local/prereqs.ts";
import { TOOLS_DIR } from "../local/paths.ts";
import { createTemplateCluster, TEMPLATE_DB } from "../local/template.ts";
import { writeResult } from "./_support.ts";
import { AUDIT_BENCH_SETUP, SUBSCRIPTIONS } from "./_audit_setup.ts";

const INSERTS = 300;
const WARM_UP = 30;
const TARGET_SINGLE = 1.5;
const DATABASE = "instructions";

type Case = { label: string; table: string; subscriptionsActive: boolean };

const CASES: Record<string, Case> = {
  untracked: { label: "untracked copy", table: "work_orders_untracked", subscriptionsActive: true },
  floor: { label: "the floor (log row + queue row)", table: "work_orders_floor", subscriptionsActive: true },
  audit_only: { label: "audited, subscriptions off", table: "work_orders", subscriptionsActive: false },
  tracked: {
    label: `audited + ${SUBSCRIPTIONS} deliveries queued`,
    table: "work_orders",
    subscriptionsActive: true,
  },
};

/**
 * Runs `statements` (one per line) in a single-user backend under callgrind; returns the instructions
 * counted and what the backend printed.
 */
async function countInstructions(binDir: string, dataDir: string, statements: string[]) {
  const backend = [
    "valgrind",
    "--tool=callgrind",
    "--callgrind-out-file=/dev/null",
    `${binDir}/postgres`,
    "--single",
    "-D",
    dataDir,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    DATABASE,
  ];
  const [cmd, args] = isRoot()
    ? ["runuser", ["-u", "postgres", "--", ...backend]]
    : [backend[0], backend.slice(1)];
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped", cwd: "/" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(statements.join("\n") + "\n"));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  const stdout = new TextDecoder().decode(out.stdout);
  const collected = stderr.match(/Collected : (\d+)/);
  if (!out.success || !collected || /\bERROR:/.test(stdout + stderr)) {
    throw new Error(`single-user backend failed:\n${(stdout + stderr).split("\n").slice(-15).join("\n")}`);
  }
  return { instructions: Number(collected[1]), stdout };
}

/** Instructions per insert of `c`, and a check that the counted inserts really wrote what they should. */
async function measure(binDir: string, dataDir: string, tenantId: string, c: Case): Promise<number> {
  const run = (inserts: number) =>
    countInstructions(binDir, dataDir, [
      `update int.plugin_subscriptions set is_active = ${c.subscriptionsActive};`,
      `truncate public.${c.table}, audit.entity_changes, int.plugin_delivery_batches cascade;`,
      `prepare single(uuid, text) as insert into public.${c.table} (tenant_id, title) values ($1, $2);`,
      ...Array.from({ length: WARM_UP + inserts }, () => `execute single('${tenantId}', 'Single');`),
      `select (select count(*) from public.${c.table}) as row_count,` +
      ` (select count(*) from int.plugin_delivery_batches) as batch_count;`,
    ]);
  const none = await run(0);
  const some = await run(INSERTS);
  // The backend prints result rows as `1: row_count = "330"`.
  const rows = Number(some.stdout.match(/row_count = "(\d+)"/)?.[1]);
  const batches = Number(some.stdout.match(/batch_count = "(\d+)"/)?.[1]);
  const expectedBatches = c.table === "work_orders" && c.subscriptionsActive ? WARM_UP + INSERTS : 0;
  if (rows !== WARM_UP + INSERTS || batches !== expectedBatches) {
    throw new Error(
      `${c.label}: expected ${
        WARM_UP + INSERTS
      } rows and ${expectedBatches} batches, got ${rows} and ${batches}`,
    );
  }
  return (some.instructions - none.instructions) / INSERTS;
}

async function main() {
  await ensureAptPackages({ valgrind: () => onPath("valgrind") });
  const pg = await ensurePostgres();
  const cli = Deno.env.get("SUPABASE_CLI") ?? await ensureSupabaseCli(TOOLS_DIR);
  const cluster = await createTemplateCluster(pg, cli, `bench-instructions-${Deno.pid}`);
  try {
    const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${DATABASE} template ${TEMPLATE_DB}`);
    await admin.end();
    const sql = postgres(cluster.url(DATABASE), { max: 1, onnotice: () => {} });
    await sql.unsafe(AUDIT_BENCH_SETUP);
    const [{ tenant_id }] = await sql<{ tenant_id: string }[]>`select tenant_id::text from bench_ids`;
    await sql.end();
    await cluster.stop();

    const perInsert: Record<string, number> = {};
    for (const [key, c] of Object.entries(CASES)) {
      perInsert[key] = await measure(pg.binDir, cluster.dataDir, tenant_id, c);
    }
    const ratio = (key: string) => perInsert[key] / perInsert.untracked;
    console.log(`instructions per single-row insert (${INSERTS} inserts, callgrind, single-user backend):`);
    for (const [key, c] of Object.entries(CASES)) {
      const thousands = `${(perInsert[key] / 1000).toFixed(0)}k`;
      console.log(`  ${c.label}: ${thousands}${key === "untracked" ? "" : ` (${ratio(key).toFixed(2)}x)`}`);
    }
    // CPU work alone: the single-row target itself is judged with durable commits (audit_fanout).
    console.log(
      `  audit + fan-out ${ratio("tracked").toFixed(2)}x, ${
        ratio("tracked") <= TARGET_SINGLE ? "within" : "above"
      } ${TARGET_SINGLE}x in instructions; the floor is ${ratio("floor").toFixed(2)}x`,
    );
    writeResult("audit_instructions", {
      inserts: INSERTS,
      subscriptions: SUBSCRIPTIONS,
      instructions_per_insert: perInsert,
      ratios: { floor: ratio("floor"), audit_only: ratio("audit_only"), tracked: ratio("tracked") },
      target_ratio: TARGET_SINGLE,
    });
  } finally {
    await cluster.destroy();
  }
}

await main();
