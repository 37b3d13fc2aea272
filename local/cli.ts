/**
 * Entry point of the local stack's commands (see deno.json's tasks):
 *
 *   deno task dev [--reset] [--api-port N] [--db-port N] [--dir PATH] [--check]
 *   deno task test [deno test arguments, e.g. a file or --filter NAME]
 *   deno task types
 *   deno task bench [name ...]
 */
import { parseArgs } from "node:util";
import { ensurePostgres, ensureSupabaseCli, SetupError } from "./prereqs.ts";
import { TOOLS_DIR } from "./paths.ts";
import { describeStack, startStack } from "./stack.ts";
import { cleanUpOnInterrupt, STOP_SIGNALS } from "./interrupt.ts";
import {
  createMigratedDatabase,
  createScratchCluster,
  removeScratchCluster,
  TEMPLATE_DB,
} from "./template.ts";
import { runAllTests } from "./test_runner.ts";
import { runBenchmarks } from "./bench_runner.ts";
import { generateTypes, TYPES_FILE } from "./types.ts";

const USAGE = `usage:
  deno task dev [--reset] [--api-port 54321] [--db-port 54322] [--dir .supabase-local/dev] [--check]
  deno task test [deno test arguments]
  deno task types
  deno task bench [name ...]`;

async function dev(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      reset: { type: "boolean", default: false },
      dir: { type: "string" },
      check: { type: "boolean", default: false },
      "api-port": { type: "string", default: "54321" },
      "db-port": { type: "string", default: "54322" },
    },
  });
  const port = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new SetupError(`--${name} must be a port number, got "${value}"`);
    }
    return n;
  };
  // Listening from the start: a Ctrl-C while the stack starts must still stop what it started (the
  // PostgreSQL server runs in a session of its own, out of reach of the terminal's SIGINT).
  const stopping = listenForStop();
  try {
    const started = performance.now();
    const stack = await startStack({
      reset: values.reset,
      dir: values.dir,
      apiPort: port("api-port", values["api-port"]),
      dbPort: port("db-port", values["db-port"]),
    });
    if (stopping.requested) {
      console.log("\nInterrupted while starting: stopping ...");
      await stack.stop();
      return 130;
    }
    console.log(
      `\nStarted the local Supabase stack in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`,
    );
    console.log(describeStack(stack));
    if (values.check) {
      // Start, answer one real request through the gateway, stop: proof that the whole stack works.
      const health = await fetch(`${stack.apiUrl}/auth/v1/health`, { headers: { apikey: stack.anonKey } })
        .then(async (res) => ({ ok: res.ok, text: `${res.status} ${await res.text()}` }))
        .catch((error) => ({ ok: false, text: (error as Error).message }));
      await stack.stop();
      console.log(
        `\n--check: ${health.ok ? "the gateway answered" : `the gateway failed: ${health.text}`}; stopped`,
      );
      return health.ok ? 0 : 1;
    }
    console.log("\nPress Ctrl-C to stop.");
    await stopping.wait;
    console.log("\nStopping ...");
    await stack.stop();
    return 0;
  } finally {
    stopping.dispose();
  }
}

/** SIGINT, SIGTERM or SIGHUP, noted instead of ending the process at once. */
function listenForStop(): { readonly requested: boolean; wait: Promise<void>; dispose(): void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  let requested = false;
  const onSignal = () => {
    requested = true;
    resolve();
  };
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, onSignal);
  return {
    get requested() {
      return requested;
    },
    wait: promise,
    dispose: () => STOP_SIGNALS.forEach((signal) => Deno.removeSignalListener(signal, onSignal)),
  };
}

async function types(): Promise<number> {
  const cli = await ensureSupabaseCli(TOOLS_DIR);
  const pg = await ensurePostgres();
  const name = `types-${Deno.pid}`;
  // Ctrl-C: remove the cluster, built or half built.
  const interrupt = cleanUpOnInterrupt(() => removeScratchCluster(pg, name));
  try {
    const cluster = await createScratchCluster(pg, name);
    try {
      await createMigratedDatabase(cluster, cli, TEMPLATE_DB);
      Deno.writeTextFileSync(TYPES_FILE, await generateTypes(cli, cluster.url(TEMPLATE_DB)));
      console.log(`Wrote ${TYPES_FILE}`);
    } finally {
      await cluster.destroy();
    }
  } finally {
    interrupt.dispose();
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "dev":
        return await dev(rest);
      case "test":
        return await runAllTests(rest);
      case "types":
        return await types();
      case "bench":
        return await runBenchmarks(rest);
      default:
        console.error(USAGE);
        return 2;
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const usageError = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
    if (error instanceof SetupError || usageError) {
      console.error(`error: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
