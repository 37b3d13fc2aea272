/**
 * `deno task test`: every test of the project in one command.
 *
 * Builds a throwaway cluster with the migrated template database, then runs the pgTAP tests with
 * pg_prove, `supabase db lint`, the generated-types check, fmt/lint/type checks and `deno test`
 * (which clones the template per test). Ends with one line: `summary: N passed, N failed`.
 *
 * With SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY and SUPABASE_DB_URL set, it
 * runs against that stack instead (for example `supabase start`); stand-in tests then skip.
 *
 * Ctrl-C (or SIGTERM) stops the processes it started and removes its cluster before it exits.
 */
import { join } from "node:path";
import postgres from "postgres";
import type { Cluster } from "./cluster.ts";
import { pushMigrations, runSupabaseCli } from "./database.ts";
import { PROJECT_ROOT, TOOLS_DIR } from "./paths.ts";
import { cleanUpOnInterrupt } from "./interrupt.ts";
import { ensurePostgres, ensureSupabaseCli, type Postgres, SetupError } from "./prereqs.ts";
import { cloneTemplate, createTemplateCluster, removeScratchCluster, TEMPLATE_DB } from "./template.ts";
import { generateTypes, TYPES_FILE } from "./types.ts";

interface Tally {
  passed: number;
  failed: number;
  failures: string[];
}

function record(tally: Tally, name: string, ok: boolean, detail = ""): void {
  if (ok) tally.passed++;
  else {
    tally.failed++;
    tally.failures.push(name);
  }
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
}

/** Runs a command with its output streamed through, and returns that output too. */
async function runStreaming(cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    sink: { write(p: Uint8Array): Promise<number> },
  ) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { success: status.success, output };
}

async function quiet(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, cwd: PROJECT_ROOT, env, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { success: out.success, output: d.decode(out.stdout) + d.decode(out.stderr) };
}

async function runPgTap(tally: Tally, databaseUrl: string): Promise<void> {
  const dir = join(PROJECT_ROOT, "supabase", "tests", "database");
  const files = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".test.sql")).map((f) => f.name)
    .sort();
  if (files.length === 0) return;
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe("create extension if not exists pgtap with schema extensions");
  } finally {
    await sql.end();
  }
  const u = new URL(databaseUrl);
  console.log(`\n== pgTAP: ${files.length} files with pg_prove`);
  const { output } = await runStreaming(
    "pg_prove",
    [
      "--ext",
      ".sql",
      "-h",
      u.hostname,
      "-p",
      u.port || "5432",
      "-U",
      decodeURIComponent(u.username),
      "-d",
      u.pathname.slice(1),
      ...files.map((f) => join(dir, f)),
    ],
    { PGOPTIONS: "-c search_path=public,extensions", PGPASSWORD: decodeURIComponent(u.password) },
  );
  const total = Number(output.match(/Tests=(\d+)/)?.[1] ?? 0);
  const failedTests = [...output.matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
  const pass = /Result: PASS/.test(output);
  const failed = pass ? 0 : Math.max(failedTests, 1);
  tally.passed += Math.max(total - failedTests, 0);
  tally.failed += failed;
  if (!pass) tally.failures.push("pgTAP (see pg_prove's output above)");
}

/** Schemas the migrations own: everything but Postgres', Supabase's and the extensions' own. */
async function projectSchemas(databaseUrl: string): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ nspname: string }[]>`
      select n.nspname from pg_namespace n
      where n.nspname not like 'pg\\_%' and n.nspname not in
        ('information_schema', 'auth', 'extensions', 'vault', 'net', 'cron', 'supabase_migrations')
        and not exists (select 1 from pg_depend d where d.classid = 'pg_namespace'::regclass
                        and d.objid = n.oid and d.deptype = 'e')
      order by 1`;
    return rows.map((r) => r.nspname);
  } finally {
    await sql.end();
  }
}

async function runChecks(tally: Tally, cli: string, databaseUrl: string): Promise<void> {
  console.log("\n== checks");
  const schemas = await projectSchemas(databaseUrl);
  const lint = await runSupabaseCli(cli, [
    "db",
    "lint",
    `--remote=${databaseUrl}`,
    "--fail-on",
    "error",
    ...schemas.flatMap((s) => ["--schema", s]),
  ]);
  record(tally, "supabase db lint finds no errors", lint.success, lint.success ? "" : lint.output.trim());

  const generated = await generateTypes(cli, databaseUrl);
  let committed = "";
  try {
    committed = Deno.readTextFileSync(TYPES_FILE);
  } catch { /* missing counts as stale */ }
  record(
    tally,
    "committed database types match the migrations",
    generated === committed,
    generated === committed
      ? ""
      : `run \`deno task types\` and commit ${TYPES_FILE.slice(PROJECT_ROOT.length + 1)}`,
  );

  const deno = Deno.execPath();
  const fmt = await quiet(deno, ["fmt", "--check"]);
  record(
    tally,
    "deno fmt --check",
    fmt.success,
    fmt.success ? "" : fmt.output.trim().split("\n").slice(-5).join("\n"),
  );
  const lintTs = await quiet(deno, ["lint"]);
  record(tally, "deno lint", lintTs.success, lintTs.success ? "" : lintTs.output.trim());
  const check = await quiet(deno, [
    "check",
    "local/",
    "supabase/functions/",
    "tests/",
    "sdk/",
    "plugins/",
    "bench/",
  ]);
  record(tally, "deno check", check.success, check.success ? "" : check.output.trim());
}

async function runDenoTests(tally: Tally, env: Record<string, string>, filterArgs: string[]): Promise<void> {
  console.log("\n== deno test");
  const { output } = await runStreaming(Deno.execPath(), ["test", "-A", "--no-prompt", ...filterArgs], env);
  const summary = output.match(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  if (!summary) {
    record(tally, "deno test ran to its summary", false, "no summary line: see the output above");
    return;
  }
  tally.passed += Number(summary[1]);
  tally.failed += Number(summary[2]);
  if (Number(summary[2]) > 0) tally.failures.push(`deno test: ${summary[2]} failed (see above)`);
}

/** Builds the migrated template on a fresh cluster and checks that the seed applies on a clone. */
async function buildLocalCluster(pg: Postgres, cli: string, name: string, tally: Tally): Promise<Cluster> {
  // A migration that fails throws here, and the run reports it as its setup failure.
  const cluster = await createTemplateCluster(pg, cli, name);
  record(tally, "migrations apply with supabase db push", true);
  try {
    // The clone has the migrations recorded already, so this push applies only the seed.
    await cloneTemplate(cluster, "seed_check");
    await pushMigrations(cli, cluster.url("seed_check"), { seed: true });
    record(tally, "seed.sql applies after the migrations", true);
  } catch (error) {
    record(tally, "seed.sql applies after the migrations", false, (error as Error).message);
  }
  return cluster;
}

export async function runAllTests(args: string[]): Promise<number> {
  const started = performance.now();
  const tally: Tally = { passed: 0, failed: 0, failures: [] };
  const remote = ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_DB_URL"]
    .every((name) => Deno.env.get(name));
  let cluster: Cluster | undefined;
  // What Ctrl-C has to remove: the cluster, whether it is built, half built or failed to build.
  const clusterName = `test-${Deno.pid}`;
  let pg: Postgres | undefined;
  let building: Promise<Cluster> | undefined;
  let cleaning: Promise<void> | undefined;
  const removeCluster = () =>
    cleaning ??= (async () => {
      // Let a build step in progress end first (its processes are gone), so none races the removal.
      await building?.catch(() => {});
      if (pg) await removeScratchCluster(pg, clusterName);
    })();
  const interrupt = cleanUpOnInterrupt(removeCluster, (line) => console.log(line));
  try {
    const cli = await ensureSupabaseCli(TOOLS_DIR);
    let env: Record<string, string>;
    let checkUrl: string;
    if (remote) {
      console.log(`Running against ${Deno.env.get("SUPABASE_URL")} (stand-in tests skip)`);
      await ensurePostgres();
      env = {};
      checkUrl = Deno.env.get("SUPABASE_DB_URL")!;
    } else {
      pg = await ensurePostgres();
      building = buildLocalCluster(pg, cli, clusterName, tally);
      cluster = await building;
      const t = performance.now();
      await cloneTemplate(cluster, "checks");
      console.log(`one test database cloned in ${Math.round(performance.now() - t)} ms`);
      checkUrl = cluster.url("checks");
      env = {
        LOCAL_PG_ADMIN_URL: cluster.url(),
        LOCAL_PG_TEMPLATE: TEMPLATE_DB,
        SUPABASE_CLI: cli,
      };
    }
    // Lint before pgTAP, whose functions (installed into the same database) are not ours to lint.
    await runChecks(tally, cli, checkUrl);
    await runPgTap(tally, checkUrl);
    // tests/local tests the stand-ins themselves: against a real stack there is nothing to test there.
    await runDenoTests(tally, env, remote ? ["--ignore=tests/local", ...args] : args);
  } catch (error) {
    const message = error instanceof SetupError ? error.message : (error as Error).stack ?? String(error);
    record(tally, "test setup", false, message);
  } finally {
    await removeCluster();
    interrupt.dispose();
  }
  // The interrupt handler exits with 130 once the cluster is gone; this is only a safety net.
  if (interrupt.signal) return 130;
  console.log(`\nfinished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (tally.failures.length) console.log(`failed:\n${tally.failures.map((f) => `  - ${f}`).join("\n")}`);
  console.log(`summary: ${tally.passed} passed, ${tally.failed} failed`);
  return tally.failed === 0 ? 0 : 1;
}
