/**
 * The test runner's contract with the machine it runs on: Ctrl-C in the middle of `deno task test`
 * leaves no cluster and no process behind. (pg_ctl starts PostgreSQL in a session of its own, so the
 * terminal's SIGINT never reaches the server: the runner has to stop it.)
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { serverReachableDir } from "../../local/cluster.ts";
import { PROJECT_ROOT, STATE_DIR } from "../../local/paths.ts";
import { standInOnly } from "../_support/stack.ts";

/** Pids of the live processes whose process group is `pgid`. */
function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // Fields after the command name: state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(entry.name));
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}

/** Pids of the postgres processes serving `dataDir`. */
function postgresServing(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline.includes(dataDir) && cmdline.some((arg) => arg.endsWith("/postgres"))) {
        pids.push(Number(entry.name));
      }
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

Deno.test({
  name: "deno task test: Ctrl-C while the cluster is being built stops and removes it, and leaves no process",
  ...standInOnly,
  async fn() {
    // setsid: the run gets a process group of its own, as a terminal's foreground job has, and the
    // runner keeps the child's pid (setsid only forks when it already leads a group).
    const child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "run", "-A", "local/cli.ts", "test", "tests/local/jwt_test.ts"],
      cwd: PROJECT_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const runner = child.pid;
    const dataDir = join(await serverReachableDir(join(STATE_DIR, `test-${runner}`)), "data");
    let output = "";
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) output += text;
    };
    const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
    let exited = false;
    const status = child.status.finally(() => (exited = true));
    try {
      assert.ok(
        await waitFor(() => /cluster started on port \d+/.test(output) || exited, 120_000),
        `the runner never said that its cluster started:\n${output}`,
      );
      assert.equal(exited, false, `the runner ended before the cluster was built:\n${output}`);
      assert.ok(postgresServing(dataDir).length > 0, "its postgres runs before the interrupt");

      // What Ctrl-C does: SIGINT to every process of the foreground job.
      Deno.kill(-runner, "SIGINT");
      assert.ok(await waitFor(() => exited, 60_000), `the runner did not stop after SIGINT:\n${output}`);
      assert.equal((await status).code, 130, output);
      assert.ok(
        await waitFor(() => processGroup(runner).length === 0, 10_000),
        `processes of the run are left: ${processGroup(runner).join(", ")}`,
      );
      assert.deepEqual(postgresServing(dataDir), [], "no postgres of the run's cluster is left running");
      assert.equal(existsSync(dataDir), false, "the run's cluster directory is removed");
      assert.match(output, /interrupted/i);
    } finally {
      // Whatever happened above, leave nothing behind: the run's processes, then its cluster.
      const kill = (pid: number, signal: Deno.Signal) => {
        try {
          Deno.kill(pid, signal);
        } catch {
          // Gone already.
        }
      };
      for (const pid of processGroup(runner)) kill(pid, "SIGKILL");
      await status;
      await drained;
      for (const pid of postgresServing(dataDir)) kill(pid, "SIGQUIT");
      await waitFor(() => postgresServing(dataDir).length === 0, 10_000);
      await Deno.remove(join(dataDir, ".."), { recursive: true }).catch(() => {});
    }
  },
});
