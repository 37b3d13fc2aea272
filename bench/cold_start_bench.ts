/**
 * Cold start of every Edge Function: how long a fresh Deno process takes to import the function's
 * index.ts, i.e. load and evaluate its whole module graph (Hono, zod, supabase-js, the app, env
 * loading, client creation), with Deno.serve stubbed out. Deno's own process start is measured apart,
 * as is the time from spawning the function to its first answered request. Each figure is the median
 * of fresh processes after one warm-up run (which fills Deno's module cache, as a deploy does).
 * Target: module import under 100 ms.
 *
 * Run with `deno task bench cold_start`; writes bench/results/cold_start.json.
 */
import { join } from "node:path";
import process from "node:process";
import { PROJECT_ROOT } from "../local/paths.ts";
import { fmt, median, writeResult } from "./_support.ts";

const RUNS = 7;
const TARGET_MS = 100;
const FUNCTIONS_DIR = join(PROJECT_ROOT, "supabase", "functions");
const IMPORT_MAP = join(PROJECT_ROOT, "import_map.json");

// --- child mode: import one entrypoint with Deno.serve stubbed, print the milliseconds --------------

if (Deno.args[0] === "--import") {
  // The function's Deno.serve must not listen: only the import is measured.
  const stub = () => ({ finished: Promise.resolve(), shutdown: () => Promise.resolve(), addr: {} });
  Object.defineProperty(Deno, "serve", { value: stub, configurable: true, writable: true });
  const cpu = process.cpuUsage();
  const started = performance.now();
  try {
    await import(Deno.args[1]);
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ ms, cpu_ms: (used.user + used.system) / 1000 }));
  } catch (error) {
    const missing = (error as { missing?: unknown }).missing;
    console.log(JSON.stringify({ error: String((error as Error).message), missing }));
  }
  Deno.exit(0);
}

/** Variables a function's index.ts may require: the stack's, plus dummies for its own. */
const BASE_ENV: Record<string, string> = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "bench-anon-key",
  SUPABASE_SERVICE_ROLE_KEY: "bench-service-role-key",
  PLUGIN_RECEIVER_SECRET: "bench-secret",
};

function dummyFor(name: string): string {
  return /URL$/.test(name) ? "http://127.0.0.1:9/bench" : /_MS$/.test(name) ? "1000" : "bench-dummy-value";
}

async function run(args: string[], env: Record<string, string>): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: PROJECT_ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  return { text, ms };
}

interface ImportTime {
  /** Median wall-clock milliseconds of the import. */
  ms: number;
  /** The fastest run: the least disturbed by other processes on a shared machine. */
  min_ms: number;
  /** Median CPU milliseconds the process spent on the import (user + system, all threads). */
  cpu_ms: number;
}

/** Import times of `entrypoint` in fresh processes, filling in env variables the function asks for. */
async function importTime(entrypoint: string): Promise<ImportTime & { env: Record<string, string> }> {
  const env = { ...BASE_ENV };
  const args = [
    "run",
    "-A",
    "--import-map",
    IMPORT_MAP,
    import.meta.filename!,
    "--import",
    `file://${entrypoint}`,
  ];
  for (let attempt = 0;; attempt++) {
    const { text } = await run(args, env); // warm-up; also discovers missing variables
    const result = JSON.parse(text.split("\n").at(-1)!);
    if (result.ms !== undefined) break;
    if (!Array.isArray(result.missing) || attempt > 3) throw new Error(`${entrypoint}: ${result.error}`);
    for (const entry of result.missing as string[]) {
      const name = entry.split(" ")[0];
      env[name] = dummyFor(name);
    }
  }
  const runs: Array<{ ms: number; cpu_ms: number }> = [];
  for (let i = 0; i < RUNS; i++) runs.push(JSON.parse((await run(args, env)).text.split("\n").at(-1)!));
  return {
    ms: median(runs.map((r) => r.ms)),
    min_ms: Math.min(...runs.map((r) => r.ms)),
    cpu_ms: median(runs.map((r) => r.cpu_ms)),
    env,
  };
}

/** Median time from spawning `deno run index.ts` to its first answered request. */
async function bootToFirstResponse(name: string, entrypoint: string, env: Record<string, string>) {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--import-map", IMPORT_MAP, entrypoint],
      cwd: PROJECT_ROOT,
      env: { ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/${name}`, { method: "OPTIONS" });
          await res.body?.cancel();
          break;
        } catch {
          if (performance.now() - started > 30_000) throw new Error(`${name} did not answer within 30 s`);
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      if (i > 0) times.push(performance.now() - started); // the first run is the warm-up
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
  }
  return median(times);
}

const functions = [...Deno.readDirSync(FUNCTIONS_DIR)]
  .filter((e) => e.isDirectory && !e.name.startsWith("_"))
  .map((e) => e.name)
  .filter((name) => {
    try {
      return Deno.statSync(join(FUNCTIONS_DIR, name, "index.ts")).isFile;
    } catch {
      return false;
    }
  })
  .sort();

const denoStart = [];
for (let i = 0; i < RUNS + 1; i++) denoStart.push((await run(["eval", "0"], {})).ms);
const denoStartMs = median(denoStart.slice(1));
console.log(`deno process start (deno eval 0): ${fmt(denoStartMs)}`);

const loadAverage = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
console.log(
  `load average ${loadAverage} on ${navigator.hardwareConcurrency} cores (other processes slow every figure)`,
);

const results: Record<string, ImportTime & { boot_to_first_response_ms: number; pass: boolean }> = {};
for (const name of functions) {
  const entrypoint = join(FUNCTIONS_DIR, name, "index.ts");
  const { env, ...time } = await importTime(entrypoint);
  const boot = await bootToFirstResponse(name, entrypoint, env);
  const pass = time.ms < TARGET_MS;
  results[name] = { ...time, boot_to_first_response_ms: boot, pass };
  console.log(
    `${name}: module import ${fmt(time.ms)} median, ${fmt(time.min_ms)} fastest, ${fmt(time.cpu_ms)} CPU ` +
      `(${(time.ms / TARGET_MS).toFixed(2)}x the ${TARGET_MS} ms limit: ${pass ? "PASS" : "FAIL"}); ` +
      `spawn to first response ${fmt(boot)}`,
  );
}
writeResult("cold_start", {
  runs: RUNS,
  target_import_ms: TARGET_MS,
  load_average: loadAverage,
  deno_process_start_ms: denoStartMs,
  functions: results,
});
if (Object.values(results).some((r) => !r.pass)) Deno.exit(1);
