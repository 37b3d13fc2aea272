/**
 * The local stack's own commands: `deno task dev` starts, reuses and resets a working stack, and
 * setup problems (a busy port, missing binaries, a broken migration) each get one clear error.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { assertPortFree, Cluster, freePort } from "../../local/cluster.ts";
import { pushMigrations } from "../../local/database.ts";
import { localApiKeys } from "../../local/keys.ts";
import { PROJECT_ROOT, STATE_DIR } from "../../local/paths.ts";
import { ensurePostgres, SetupError } from "../../local/prereqs.ts";
import { createTemplateCluster } from "../../local/template.ts";
import { standInOnly } from "../_support/stack.ts";

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the tests with \`deno task test\``);
  return value;
}

/** An empty database (no template), for a project of the test's own. */
async function withEmptyDatabase(fn: (url: string) => Promise<void>): Promise<void> {
  const adminUrl = env("LOCAL_PG_ADMIN_URL");
  const name = `empty_${Deno.pid}_${Date.now().toString(36)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template template0`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    await fn(url.toString());
  } finally {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

Deno.test({
  name: "a broken migration is reported with its file and line, and nothing of that file is applied",
  ...standInOnly,
  async fn() {
    const project = Deno.makeTempDirSync({ prefix: "broken-migration-" });
    try {
      Deno.mkdirSync(join(project, "supabase", "migrations"), { recursive: true });
      Deno.writeTextFileSync(join(project, "supabase", "config.toml"), 'project_id = "broken"\n');
      Deno.writeTextFileSync(
        join(project, "supabase", "migrations", "20260101000000_good.sql"),
        "create table public.good (id int);\n",
      );
      Deno.writeTextFileSync(
        join(project, "supabase", "migrations", "20260101000001_broken.sql"),
        "-- a comment\ncreate table public.half (id int);\n\ncreate table public.bad (x no_such_type);\n",
      );
      await withEmptyDatabase(async (url) => {
        const error = await pushMigrations(env("SUPABASE_CLI"), url, { cwd: project }).then(
          () => null,
          (e) => e,
        );
        assert.ok(error instanceof SetupError, `expected a SetupError, got ${error}`);
        assert.match(error.message, /^supabase\/migrations\/20260101000001_broken\.sql:4: /);
        assert.match(error.message, /no_such_type/);
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        try {
          const tables = await sql`select tablename from pg_tables where schemaname = 'public' order by 1`;
          assert.deepEqual(tables.map((t) => t.tablename), ["good"]);
          const versions = await sql`select version from supabase_migrations.schema_migrations`;
          assert.deepEqual(versions.map((v) => v.version), ["20260101000000"]);
        } finally {
          await sql.end();
        }
      });
    } finally {
      Deno.removeSync(project, { recursive: true });
    }
  },
});

Deno.test({
  name: "a template cluster whose migrations do not apply is stopped and removed, not left running",
  ...standInOnly,
  async fn() {
    const project = Deno.makeTempDirSync({ prefix: "broken-template-" });
    const name = `broken-template-${Deno.pid}`;
    try {
      Deno.mkdirSync(join(project, "supabase", "migrations"), { recursive: true });
      Deno.writeTextFileSync(join(project, "supabase", "config.toml"), 'project_id = "broken"\n');
      Deno.writeTextFileSync(
        join(project, "supabase", "migrations", "20260101000000_broken.sql"),
        "create table public.bad (x no_such_type);\n",
      );
      const error = await createTemplateCluster(await ensurePostgres(), env("SUPABASE_CLI"), name, () => {}, {
        projectDir: project,
      }).then(() => null, (e) => e);
      assert.ok(error instanceof SetupError, `expected a SetupError, got ${error}`);
      assert.match(error.message, /no_such_type/);
      assert.equal(existsSync(join(STATE_DIR, name)), false, "the cluster's directory is removed");
      const running = new TextDecoder().decode(
        (await new Deno.Command("pgrep", { args: ["-f", `${name}/data`], stdout: "piped" }).output()).stdout,
      );
      assert.equal(running, "", "no postgres of that cluster is left running");
    } finally {
      Deno.removeSync(project, { recursive: true });
    }
  },
});

Deno.test("a busy port gets an error that names the port and what needed it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  try {
    await assert.rejects(
      () => assertPortFree(port, "the API gateway"),
      (e: Error) =>
        e instanceof SetupError && e.message.includes(`Port ${port} for the API gateway is already in use`),
    );
  } finally {
    listener.close();
  }
});

Deno.test("missing PostgreSQL binaries get an error that says what to install", () => {
  assert.throws(
    () =>
      new Cluster({ binDir: "/nonexistent/bin", extensionDir: "/x", pkgLibDir: "/x" }, {
        dir: "/tmp/x",
        port: 1,
      }),
    (e: Error) =>
      e instanceof SetupError &&
      /not found in \/nonexistent\/bin.*apt-get install postgresql-15/.test(e.message),
  );
});

/** `deno task dev` as a running child process whose output can be waited on. */
function spawnDev(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(PROJECT_ROOT, "local", "cli.ts"), "dev", ...args],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pumps = [child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  });
  return {
    child,
    output: () => text,
    async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${pattern}; output so far:\n${text}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return text;
    },
    /** Kills the child if it still runs and waits for its output to end. */
    async close() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await child.status;
      await Promise.all(pumps);
    },
  };
}

/** Runs `deno task dev` with `args` to its end. */
async function dev(args: string[]): Promise<{ code: number; output: string }> {
  const run = spawnDev(args);
  const { code } = await run.child.status;
  await run.close();
  return { code, output: run.output() };
}

Deno.test({
  name:
    "deno task dev starts the stack, prints its URLs and keys, stops on Ctrl-C, reuses it, and resets it on request",
  ...standInOnly,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "dev-stack-" });
    try {
      const apiPort = freePort();
      const dbPort = freePort();
      const common = ["--check", "--dir", dir, "--api-port", String(apiPort), "--db-port", String(dbPort)];

      const first = await dev(common);
      assert.equal(first.code, 0, first.output);
      assert.match(first.output, /Created a PostgreSQL cluster/);
      assert.match(first.output, new RegExp(`API URL: http://127\\.0\\.0\\.1:${apiPort}`));
      assert.match(
        first.output,
        new RegExp(`DB URL: postgresql://postgres:postgres@127\\.0\\.0\\.1:${dbPort}/postgres`),
      );
      assert.match(first.output, /anon key: eyJ/);
      assert.match(first.output, /service_role key: eyJ/);
      console.log(first.output.match(/Started the local Supabase stack in .*/)?.[0]);

      // Without --check it runs until Ctrl-C; this start reuses the cluster made above.
      const running = spawnDev(["--dir", dir, "--api-port", String(apiPort), "--db-port", String(dbPort)]);
      try {
        const banner = await running.waitFor(/Press Ctrl-C to stop/, 60_000);
        assert.doesNotMatch(banner, /Created a PostgreSQL cluster/);
        const { anonKey } = await localApiKeys();
        const health = await fetch(`http://127.0.0.1:${apiPort}/auth/v1/health`, {
          headers: { apikey: anonKey },
        });
        assert.equal(health.status, 200, await health.text());
        const sql = postgres(`postgresql://postgres@127.0.0.1:${dbPort}/postgres`, {
          max: 1,
          onnotice: () => {},
        });
        try {
          const [workers] = await sql`
            select count(*) filter (where backend_type = 'pg_cron launcher')::int as cron,
                   count(*) filter (where application_name like 'pg_net%')::int as net
            from pg_stat_activity`;
          assert.equal(workers.cron, 1, "pg_cron's scheduler runs");
          assert.ok(workers.net > 0, "the pg_net worker is connected");
        } finally {
          await sql.end();
        }
        running.child.kill("SIGINT");
        const status = await running.child.status;
        assert.equal(status.code, 0, running.output());
        await assert.rejects(fetch(`http://127.0.0.1:${apiPort}/auth/v1/health`), "the gateway stopped");
        await assertPortFree(dbPort, "PostgreSQL (it should have stopped)");
      } finally {
        await running.close();
      }

      const reset = await dev([...common, "--reset"]);
      assert.equal(reset.code, 0, reset.output);
      assert.match(reset.output, /Resetting the local database[\s\S]*Created a PostgreSQL cluster/);

      const busy = Deno.listen({ hostname: "127.0.0.1", port: apiPort });
      try {
        const refused = await dev(common);
        assert.equal(refused.code, 1);
        assert.match(
          refused.output,
          new RegExp(`error: Port ${apiPort} for the API gateway is already in use`),
        );
      } finally {
        busy.close();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "Ctrl-C while deno task dev is starting stops the PostgreSQL server it started",
  ...standInOnly,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "dev-interrupted-" });
    const apiPort = freePort();
    const dbPort = freePort();
    const starting = spawnDev(["--dir", dir, "--api-port", String(apiPort), "--db-port", String(dbPort)]);
    try {
      // The cluster runs and the migrations are being applied.
      await starting.waitFor(/Applying migrations/, 60_000);
      starting.child.kill("SIGINT");
      const status = await starting.child.status;
      assert.notEqual(status.code, 0, starting.output());
      await assertPortFree(dbPort, "PostgreSQL (it should have stopped)");
      await assertPortFree(apiPort, "the API gateway (it should have stopped)");
    } finally {
      await starting.close();
      // Only if the assertions above failed: stop the server before removing its folder.
      const pg = await ensurePostgres();
      await new Cluster(pg, { dir, port: dbPort }).stop().catch(() => {});
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
