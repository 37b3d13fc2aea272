/**
 * The local Edge Functions runtime (local/gateway/functions.ts) and the config.toml reader
 * (local/config_toml.ts). Function processes are real `deno run` subprocesses of the fixtures in
 * tests/fixtures/functions; each cold start costs a few hundred milliseconds, so the router tests
 * share one handler and start each fixture once (echo twice: the restart is under test).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  functionConfig,
  loadProjectConfig,
  parseProjectConfig,
  parseToml,
  TomlError,
} from "../../local/config_toml.ts";
import { createFunctionsHandler, type FunctionsHandler, parseDotEnv } from "../../local/gateway/functions.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = join(ROOT, "tests", "fixtures");
const FUNCTIONS_DIR = join(FIXTURES, "functions");
const GOOD_TOKEN = "good.jwt.token";

const ENV = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon-key-for-tests",
  SUPABASE_SERVICE_ROLE_KEY: "service-role-key-for-tests",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
};

async function makeHandler(bootTimeoutMs?: number): Promise<{ handler: FunctionsHandler; logs: string[] }> {
  const logs: string[] = [];
  const handler = createFunctionsHandler({
    functionsDir: FUNCTIONS_DIR,
    config: await loadProjectConfig(join(FIXTURES, "config.toml")),
    env: ENV,
    // Stands in for the stack's JWT check: only GOOD_TOKEN is valid.
    verifyJwt: (token) =>
      token === GOOD_TOKEN ? Promise.resolve({ role: "authenticated" }) : Promise.reject(new Error("bad")),
    importMap: join(ROOT, "import_map.json"),
    projectRoot: ROOT,
    bootTimeoutMs,
    log: (line) => logs.push(line),
  });
  return { handler, logs };
}

/** Calls the handler as the gateway does: the URL is the public one, `path` follows /functions/v1. */
function call(
  handler: FunctionsHandler,
  pathAndQuery: string,
  init: RequestInit = {},
): Promise<Response> {
  const req = new Request(`http://127.0.0.1:54321/functions/v1${pathAndQuery}`, init);
  return handler.handle(req, pathAndQuery.split("?")[0]);
}

async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${text}`);
  }
}

function processGone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("functions router: routing, verify_jwt, env, errors, reuse, restart and close", async (t) => {
  // A parent variable that is not on the inherited list must not reach functions.
  Deno.env.set("FIXTURE_PARENT_ONLY", "leaked");
  const { handler, logs } = await makeHandler();
  try {
    let echoPid = 0;

    await t.step("two concurrent first calls start one process; a later call reuses it", async () => {
      const [a, b] = await Promise.all([call(handler, "/echo"), call(handler, "/echo")]);
      const [ja, jb] = [await json(a), await json(b)];
      assert.equal(a.status, 200, JSON.stringify(ja));
      assert.equal(ja.pid, jb.pid);
      const c = await json(await call(handler, "/echo/again"));
      assert.equal(c.pid, ja.pid);
      echoPid = ja.pid as number;
      assert.deepEqual(handler.processes().map((p) => [p.name, p.pid]), [["echo", echoPid]]);
    });

    await t.step("the function sees /<name>/... with the query, method, headers and body", async () => {
      const res = await call(handler, "/echo/a/b?x=1&y=two", {
        method: "POST",
        headers: {
          "content-type": "text/plain",
          "content-length": "10",
          "x-custom": "custom value",
          authorization: "Bearer anything",
        },
        body: "hello body",
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get("x-echo"), "1");
      const body = await json(res);
      assert.equal(body.method, "POST");
      assert.equal(body.path, "/echo/a/b");
      assert.equal(body.search, "?x=1&y=two");
      assert.equal(body.body, "hello body");
      const headers = body.headers as Record<string, string | null>;
      assert.equal(headers["content-type"], "text/plain");
      assert.equal(headers["x-custom"], "custom value");
      assert.equal(headers["content-length"], "10", "functions may check the size before reading");
      // verify_jwt = false: the header passes through unchecked.
      assert.equal(headers.authorization, "Bearer anything");
      assert.equal(headers["x-forwarded-host"], "127.0.0.1:54321");
    });

    await t.step("request bodies stream through whole", async () => {
      const big = "x".repeat(300_000);
      const stream = new Blob([big]).stream();
      const res = await call(handler, "/echo/big", { method: "PUT", body: stream });
      const body = await json(res);
      assert.equal(body.body, "300000 bytes");
    });

    await t.step("OPTIONS reaches the function, which answers CORS itself", async () => {
      const res = await call(handler, "/echo", { method: "OPTIONS" });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      await res.body?.cancel();
    });

    await t.step("env: the stack's SUPABASE_* values and functions/.env, nothing else", async () => {
      const { env } = await json(await call(handler, "/echo")) as { env: Record<string, string | null> };
      assert.equal(env.SUPABASE_URL, ENV.SUPABASE_URL, "a SUPABASE_* name in .env must not override");
      assert.equal(env.SUPABASE_ANON_KEY, ENV.SUPABASE_ANON_KEY);
      assert.equal(env.SUPABASE_SERVICE_ROLE_KEY, ENV.SUPABASE_SERVICE_ROLE_KEY);
      assert.equal(env.SUPABASE_DB_URL, ENV.SUPABASE_DB_URL);
      assert.equal(env.FIXTURE_GREETING, "hello from .env");
      assert.equal(env.FIXTURE_QUOTED, "two words # not a comment");
      assert.equal(env.FIXTURE_EXPORTED, "yes");
      assert.equal(env.FIXTURE_PARENT_ONLY, null);
      assert.ok(logs.some((line) => line.includes("skipping SUPABASE_URL")), "the skipped name is logged");
    });

    await t.step("verify_jwt defaults to true: missing, malformed and bad tokens get 401", async () => {
      const none = await call(handler, "/secured/whoami");
      assert.equal(none.status, 401);
      assert.deepEqual(await json(none), { msg: "Error: Missing authorization header" });

      const basic = await call(handler, "/secured/whoami", { headers: { authorization: "Basic abc" } });
      assert.equal(basic.status, 401);
      assert.deepEqual(await json(basic), { msg: "Error: Auth header is not 'Bearer {token}'" });

      const bad = await call(handler, "/secured/whoami", { headers: { authorization: "Bearer nope" } });
      assert.equal(bad.status, 401);
      assert.deepEqual(await json(bad), { msg: "Invalid JWT" });
      assert.equal(
        handler.processes().some((p) => p.name === "secured"),
        false,
        "no start before a valid JWT",
      );
    });

    await t.step("verify_jwt: a valid token reaches the function (Hono app with basePath)", async () => {
      const res = await call(handler, "/secured/whoami", {
        headers: { authorization: `Bearer ${GOOD_TOKEN}` },
      });
      const body = await json(res);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.ok, true);
      // Preflights carry no token and are not checked.
      const preflight = await call(handler, "/secured/whoami", { method: "OPTIONS" });
      assert.equal(preflight.status, 204);
      await preflight.body?.cancel();
    });

    await t.step("unknown, configured-but-missing and invalid names get a 404 JSON error", async () => {
      const ghost = await call(handler, "/ghost", { method: "POST", body: "{}" });
      assert.equal(ghost.status, 404);
      const ghostBody = await json(ghost);
      assert.equal(ghostBody.code, "NOT_FOUND");
      assert.match(ghostBody.message as string, /"ghost" has no entrypoint at .*ghost\/index\.ts/);

      for (const path of ["/nope/x", "/", "/_shared/cors.ts", "/..%2F..%2Fetc"]) {
        const res = await call(handler, path);
        assert.equal(res.status, 404, path);
        assert.equal((await json(res)).code, "NOT_FOUND", path);
      }
    });

    await t.step("a function that throws at import gets a 503 naming it, with its error", async () => {
      const res = await call(handler, "/crashes");
      assert.equal(res.status, 503);
      const body = await json(res);
      assert.equal(body.code, "BOOT_ERROR");
      assert.match(
        body.message as string,
        /Function "crashes" failed to boot: its process exited with code 1/,
      );
      assert.match(body.message as string, /CRASHES_CONFIG is not set/);
      assert.ok(!(body.message as string).includes("\x1b["), "no terminal colour codes");
      assert.equal(handler.processes().some((p) => p.name === "crashes"), false);
    });

    await t.step("a function whose process has exited is started again", async () => {
      const bye = await json(await call(handler, "/echo/exit"));
      assert.equal(bye.bye, echoPid);
      await waitFor(() => processGone(echoPid), "the echo process to exit");
      const again = await json(await call(handler, "/echo"));
      assert.notEqual(again.pid, echoPid);
      echoPid = again.pid as number;
    });

    await t.step("close() stops every process and waits for them", async () => {
      const pids = handler.processes().map((p) => p.pid);
      assert.equal(pids.length, 2, JSON.stringify(handler.processes()));
      await handler.close();
      assert.deepEqual(handler.processes(), []);
      for (const pid of pids) assert.ok(processGone(pid), `process ${pid} is still running`);
      const after = await call(handler, "/echo");
      assert.equal(after.status, 503);
      await after.body?.cancel();
    });
  } finally {
    Deno.env.delete("FIXTURE_PARENT_ONLY");
    await handler.close();
  }
});

Deno.test("functions router: a function that never listens is stopped after the boot timeout", async () => {
  const { handler } = await makeHandler(1000);
  try {
    const started = Date.now();
    const res = await call(handler, "/hangs");
    assert.equal(res.status, 503);
    const body = await json(res);
    assert.match(body.message as string, /Function "hangs" failed to boot: not listening after 1000 ms/);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(handler.processes(), []);
  } finally {
    await handler.close();
  }
});

Deno.test("parseDotEnv: comments, export, quotes", () => {
  const env = parseDotEnv(
    [
      "# comment",
      "",
      "A=1",
      "export B = two words ",
      'C="quoted # kept"',
      "D='single'",
      "E=value # trailing comment",
      'F="line\\nbreak"',
      "not a line",
    ].join("\n"),
  );
  assert.deepEqual(env, {
    A: "1",
    B: "two words",
    C: "quoted # kept",
    D: "single",
    E: "value",
    F: "line\nbreak",
  });
});

Deno.test("parseToml: the value types config.toml uses", () => {
  const parsed = parseToml(
    [
      "# top comment",
      'project_id = "p" # trailing comment',
      "[api]",
      "port = 54_321",
      "schemas = [\"public\", 'graphql_public']",
      "ratio = 0.5",
      "[db.seed]",
      "enabled = true",
      "sql_paths = [",
      '  "./seed.sql", # first',
      '  "./more.sql",',
      "]",
      '[functions."my-fn"]',
      "verify_jwt = false",
      'limits = { memory = 256, tags = ["a"] }',
      'note = """',
      'two "quoted"',
      'lines"""',
      "[[auth.hooks]]",
      "name = 'one'",
      "[[auth.hooks]]",
      "name = 'two'",
    ].join("\n"),
  );
  assert.deepEqual(parsed, {
    project_id: "p",
    api: { port: 54321, schemas: ["public", "graphql_public"], ratio: 0.5 },
    db: { seed: { enabled: true, sql_paths: ["./seed.sql", "./more.sql"] } },
    functions: {
      "my-fn": { verify_jwt: false, limits: { memory: 256, tags: ["a"] }, note: 'two "quoted"\nlines' },
    },
    auth: { hooks: [{ name: "one" }, { name: "two" }] },
  });
});

Deno.test("parseToml: errors name the line", () => {
  const cases: [string, number, RegExp][] = [
    ["a = 1\n\n[t]\nport 54321", 4, /expected "=" after key "port"/],
    ["a = 1\nb = 2\na = 3", 3, /key "a" is defined twice/],
    ['[x]\nname = "open\ny = 1', 2, /unterminated string/],
    ["[x]\n[y]\n[x]", 3, /table \[x\] is defined twice/],
    ["ok = true\nflag = yes", 2, /invalid value "yes" \(strings must be quoted\)/],
    ["list = [1, 2\nnext = 3", 2, /expected "," or "\]" in array/],
    ["x = 1 2", 1, /expected the end of the line/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(
      () => parseToml(text, "config.toml"),
      (error: unknown) => {
        assert.ok(error instanceof TomlError, String(error));
        assert.equal(error.line, line, error.message);
        assert.match(error.message, message);
        assert.match(error.message, new RegExp(`^config\\.toml: line ${line}, column \\d+: `));
        return true;
      },
    );
  }
});

Deno.test("parseProjectConfig: defaults, resolved paths and type errors", () => {
  const config = parseProjectConfig(
    [
      'project_id = "demo"',
      "[functions.hook]",
      "verify_jwt = false",
      'import_map = "../import_map.json"',
      "[functions.other]",
    ].join("\n"),
    "/proj/supabase/config.toml",
  );
  assert.equal(config.supabaseDir, "/proj/supabase");
  assert.deepEqual(config.api, {
    port: 54321,
    schemas: ["public", "graphql_public"],
    extra_search_path: ["public", "extensions"],
    max_rows: 1000,
  });
  assert.equal(config.db.port, 54322);
  assert.deepEqual(config.db.seed, { enabled: true, sql_paths: ["/proj/supabase/seed.sql"] });
  assert.deepEqual(config.functions.hook, {
    verify_jwt: false,
    enabled: true,
    import_map: "/proj/import_map.json",
  });
  assert.deepEqual(config.functions.other, { verify_jwt: true, enabled: true });
  assert.deepEqual(functionConfig(config, "not-configured"), { verify_jwt: true, enabled: true });

  assert.throws(
    () => parseProjectConfig('project_id = "x"\n[functions.f]\nverify_jwt = "no"', "c.toml"),
    /c\.toml: functions\.f\.verify_jwt must be true or false, got string "no"/,
  );
  assert.throws(
    () => parseProjectConfig("[db]\nport = 1", "c.toml"),
    /c\.toml: missing required field project_id/,
  );
  assert.throws(
    () => parseProjectConfig('project_id = "x"\n[db]\nport = 70000', "c.toml"),
    /db\.port must be a port between 1 and 65535/,
  );
});

Deno.test("loadProjectConfig: the project's supabase/config.toml", async () => {
  const config = await loadProjectConfig(join(ROOT, "supabase", "config.toml"));
  assert.equal(config.project_id, "supabase-plugin-bridge");
  assert.deepEqual(config.api, {
    port: 54321,
    schemas: ["public", "graphql_public"],
    extra_search_path: ["public", "extensions"],
    max_rows: 1000,
  });
  assert.equal(config.db.port, 54322);
  assert.equal(config.db.major_version, 15);
  assert.deepEqual(config.db.seed.sql_paths, [join(ROOT, "supabase", "seed.sql")]);
  for (const name of ["handleNewUser", "plugin-receiver", "ingest-webhook", "sendry-unsub"]) {
    const fn = functionConfig(config, name);
    assert.equal(fn.verify_jwt, false, `${name} is called without a Supabase JWT`);
    assert.equal(fn.enabled, true);
    assert.equal(fn.import_map, join(ROOT, "import_map.json"));
    assert.ok(existsSync(fn.import_map!), `${fn.import_map} exists`);
  }
});
