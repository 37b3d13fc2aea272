/**
 * Fidelity tests for the pg_net stand-in (local/extensions/pg_net + local/net_worker.ts): each test
 * gets its own database cloned from the migrated template, its own in-process worker and its own
 * loopback HTTP server, and checks what real pg_net 0.20 does.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase, type TestDatabase } from "../_support/db.ts";
import { type NetWorker, startNetWorker } from "../../local/net_worker.ts";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

interface TestServer {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** `closing` aborts when the server shuts down, so slow handlers can end early. */
type Handler = (req: Request, closing: AbortSignal) => Response | Promise<Response>;

/** A loopback HTTP server that records every request it receives. */
function startServer(
  handler: Handler = () => new Response("ok", { headers: { "x-reply": "yes" } }),
): TestServer {
  const seen: Seen[] = [];
  const closing = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    });
    return await handler(req, closing.signal);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close() {
      closing.abort();
      return server.shutdown();
    },
  };
}

/** Resolves after `ms`, or early when `signal` aborts (a client gave up). */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      resolve();
    }
  });
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface ResponseRow {
  id: number;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

function responseOf(sql: postgres.Sql, id: number, timeoutMs?: number): Promise<ResponseRow> {
  return waitFor(`the response to request ${id}`, async () => {
    const [row] = await sql<ResponseRow[]>`
      select id::int, status_code, content_type, headers, content, timed_out, error_msg
      from net._http_response where id = ${id}`;
    return row;
  }, timeoutMs);
}

async function queued(sql: postgres.Sql): Promise<number> {
  const [{ count }] = await sql<
    { count: number }[]
  >`select count(*)::int as count from net.http_request_queue`;
  return count;
}

/** A loopback port that nothing listens on. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

interface Stack {
  db: TestDatabase;
  sql: postgres.Sql;
  worker: NetWorker;
  server: TestServer;
  /** Stops the worker (requests in flight are abandoned); startWorker() starts a new one. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
}

/** Runs `fn` against a fresh database, a running worker and a loopback server, then tears all down. */
async function withStack(
  fn: (stack: Stack) => Promise<void>,
  options: { handler?: Handler; before?: (db: TestDatabase, server: TestServer) => Promise<void> } = {},
): Promise<void> {
  const db = await createTestDatabase();
  const server = startServer(options.handler);
  let worker: NetWorker | undefined;
  const start = async () => {
    worker = await startNetWorker({ databaseUrl: db.url, log: () => {} });
  };
  const stop = async () => {
    await worker?.stop();
    worker = undefined;
  };
  try {
    await options.before?.(db, server);
    await start();
    await fn({
      db,
      sql: db.sql,
      server,
      get worker() {
        if (!worker) throw new Error("the worker is stopped");
        return worker;
      },
      stopWorker: stop,
      startWorker: start,
    });
  } finally {
    await stop();
    await server.close();
    await db.close();
  }
}

/** Runs `fn` in a transaction that is rolled back afterwards. */
async function rolledBack<T>(sql: postgres.Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  const rollback = new Error("rollback");
  let result: T | undefined;
  try {
    await sql.begin(async (tx) => {
      result = await fn(tx);
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  }
  return result as T;
}

async function setDatabaseSetting(db: TestDatabase, name: string, value: string): Promise<void> {
  await db.sql.unsafe(`alter database "${db.name}" set ${name} = '${value}'`);
}

Deno.test("requests are sent only after commit and never after a rollback", () =>
  withStack(async ({ sql, server }) => {
    await rolledBack(sql, (tx) => tx`select net.http_get(${server.url + "/rolled-back"})`);
    const id = await sql.begin(async (tx) => {
      const [{ id }] = await tx<{ id: number }[]>`select net.http_get(${
        server.url + "/committed"
      })::int as id`;
      await delay(300);
      assert.equal(server.seen.length, 0, "nothing may be sent before commit");
      return id;
    });
    await responseOf(sql, id);
    await delay(100);
    assert.deepEqual(server.seen.map((r) => r.path), ["/committed"]);
    assert.equal(await queued(sql), 0);
  }));

Deno.test("http_get queues GET with pg_net's defaults and sends params, headers and User-Agent", () =>
  withStack(async ({ sql, server }) => {
    const [{ id }] = await sql<{ id: number }[]>`
      select net.http_get(
        ${server.url + "/get?x=1"},
        params => '{"q": "a b&c", "ü": "1", "skipped": null}',
        headers => '{"X-Custom": "yes", "X-Empty": ""}'
      )::int as id`;
    const response = await responseOf(sql, id);

    assert.equal(server.seen.length, 1);
    const [request] = server.seen;
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/get?x=1&q=a%20b%26c&%C3%BC=1");
    assert.equal(request.headers["user-agent"], "pg_net/0.20.0");
    assert.equal(request.headers["x-custom"], "yes");
    assert.equal(request.headers["x-empty"], undefined, 'curl sends no header for "Name:" without a value');
    assert.equal(request.headers["content-type"], undefined);
    assert.equal(request.body.length, 0);

    assert.equal(response.status_code, 200);
    assert.equal(response.content, "ok");
    assert.equal(response.content_type, "text/plain;charset=UTF-8");
    assert.equal(response.headers?.["x-reply"], "yes");
    assert.equal(response.timed_out, false);
    assert.equal(response.error_msg, null);

    // the defaults, as stored by a call that passes only the url
    const row = await rolledBack(sql, async (tx) => {
      await tx`select net.http_get(${server.url})`;
      const [row] = await tx`select method, url, headers, timeout_milliseconds from net.http_request_queue`;
      return row;
    });
    assert.deepEqual({ ...row }, {
      method: "GET",
      url: server.url + "/",
      headers: {},
      timeout_milliseconds: 5000,
    });
  }));

Deno.test("http_post sends exactly the bytes of body::text as application/json", () =>
  withStack(async ({ sql, server }) => {
    const body = '{"b": [1, 2.50, "é ✓"], "a": null, "nested": {"z": true}}';
    const [{ id, text }] = await sql<{ id: number; text: string }[]>`
      select net.http_post(${server.url + "/post"}, ${body}::text::jsonb)::int as id,
        ${body}::text::jsonb::text as text`;
    const response = await responseOf(sql, id);
    assert.equal(response.status_code, 200);

    const [request] = server.seen;
    assert.equal(request.method, "POST");
    assert.deepEqual(request.body, new TextEncoder().encode(text));
    assert.equal(text, '{"a": null, "b": [1, 2.50, "é ✓"], "nested": {"z": true}}');
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["user-agent"], "pg_net/0.20.0");

    // Content-Type is added back when custom headers omit it; the defaults are pg_net's
    const row = await rolledBack(sql, async (tx) => {
      await tx`select net.http_post(${server.url}, headers => '{"X-A": "1"}')`;
      const [row] = await tx`select method, headers, convert_from(body, 'UTF8') as body, timeout_milliseconds
        from net.http_request_queue`;
      return row;
    });
    assert.deepEqual({ ...row }, {
      method: "POST",
      headers: { "X-A": "1", "Content-Type": "application/json" },
      body: "{}",
      timeout_milliseconds: 5000,
    });
  }));

Deno.test("http_post refuses a Content-Type other than application/json at call time", () =>
  withStack(async ({ sql, server }) => {
    await assert.rejects(
      sql`select net.http_post(${server.url}, '{}', headers => '{"content-type": "text/plain"}')`,
      { message: 'Content-Type header must be "application/json"' },
    );
    assert.equal(await queued(sql), 0);
  }));

Deno.test("http_delete sends no Content-Type without a body and the body bytes with one", () =>
  withStack(async ({ sql, server }) => {
    const [{ plain, withBody }] = await sql<{ plain: number; withBody: number }[]>`
      select net.http_delete(${server.url + "/a"}, params => '{"id": "7"}')::int as plain,
        net.http_delete(${server.url + "/b"}, body => '{"k": "v"}')::int as "withBody"`;
    await responseOf(sql, plain);
    await responseOf(sql, withBody);

    const a = server.seen.find((r) => r.path.startsWith("/a"))!;
    assert.equal(a.method, "DELETE");
    assert.equal(a.path, "/a?id=7");
    assert.equal(a.headers["content-type"], undefined);
    assert.equal(a.body.length, 0);

    const b = server.seen.find((r) => r.path.startsWith("/b"))!;
    assert.equal(b.method, "DELETE");
    assert.equal(new TextDecoder().decode(b.body), '{"k": "v"}');
    assert.equal(b.headers["content-type"], "application/x-www-form-urlencoded", "curl's default for a body");
  }));

Deno.test("4xx and 5xx replies are stored as responses, not errors", () =>
  withStack(
    async ({ sql, server }) => {
      const [{ missing, broken }] = await sql<{ missing: number; broken: number }[]>`
        select net.http_get(${server.url + "/missing"})::int as missing,
          net.http_get(${server.url + "/broken"})::int as broken`;
      const notFound = await responseOf(sql, missing);
      assert.equal(notFound.status_code, 404);
      assert.equal(notFound.content, '{"error":"nope"}');
      assert.equal(notFound.content_type, "application/json");
      assert.equal(notFound.error_msg, null);
      assert.equal(notFound.timed_out, false);

      const unavailable = await responseOf(sql, broken);
      assert.equal(unavailable.status_code, 503);
      assert.equal(unavailable.content, null, "an empty body is stored as null");

      const [collected] = await sql`
        select (r).status, (r).message, ((r).response).status_code, ((r).response).body
        from net._http_collect_response(${missing}) r`;
      assert.deepEqual({ ...collected }, {
        status: "SUCCESS",
        message: "ok",
        status_code: 404,
        body: '{"error":"nope"}',
      });
    },
    {
      handler: (req) =>
        new URL(req.url).pathname === "/missing"
          ? Response.json({ error: "nope" }, { status: 404 })
          : new Response(null, { status: 503 }),
    },
  ));

Deno.test("a reply slower than timeout_milliseconds is stored as timed out with curl's message", () =>
  withStack(
    async ({ sql, server }) => {
      const [{ id }] = await sql<{ id: number }[]>`
        select net.http_get(${server.url + "/slow"}, timeout_milliseconds => 200)::int as id`;
      const response = await responseOf(sql, id);
      assert.equal(response.timed_out, true);
      assert.equal(response.status_code, null);
      assert.equal(response.headers, null);
      assert.equal(response.content, null);
      assert.match(
        response.error_msg!,
        /^Timeout of 200 ms reached\. Total time: \d+\.\d{6} ms \(DNS time: \d+\.\d{6} ms, TCP\/SSL handshake time: \d+\.\d{6} ms, HTTP Request\/Response time: \d+\.\d{6} ms\)$/,
      );
      const total = Number(/Total time: ([\d.]+)/.exec(response.error_msg!)![1]);
      assert.ok(total >= 200 && total < 1500, `total time ${total} ms`);

      const [{ status, message }] = await sql`
        select (r).status, (r).message from net._http_collect_response(${id}) r`;
      assert.equal(status, "ERROR");
      assert.equal(message, response.error_msg);
    },
    { handler: async (_req, closing) => (await delay(3000, closing), new Response("late")) },
  ));

// pg_net inserts a round's responses in the transaction that took its requests (src/worker.c:
// consume_request_queue, then insert_curl_responses, then commit), so `created` (default now()) is
// when the worker took the request, not when the reply came back.
Deno.test("a response's created is when the worker took the request, not when a slow reply arrived", () => {
  let arrivedAt: number | undefined;
  return withStack(
    async ({ sql, server }) => {
      const [{ id }] = await sql<{ id: number }[]>`select net.http_post(${
        server.url + "/slow"
      }, '{}')::int as id`;
      await responseOf(sql, id);
      const [{ created }] = await sql<{ created: number }[]>`
        select extract(epoch from created)::float8 * 1000 as created from net._http_response where id = ${id}`;
      assert.ok(arrivedAt !== undefined);
      // Same clock; the reply took 1,500 ms, and 300 ms leave room for the clock reads.
      assert.ok(
        created - arrivedAt <= 300,
        `created is ${Math.round(created - arrivedAt)} ms after the request`,
      );
    },
    {
      handler: async (_req, closing) => {
        arrivedAt = Date.now();
        await delay(1500, closing);
        return new Response("slow ok");
      },
    },
  );
});

Deno.test("connection failures are stored with curl's error text", () =>
  withStack(async ({ sql }) => {
    // a server that accepts, reads the request and closes without replying
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepting = (async () => {
      for await (const conn of silent) {
        await conn.read(new Uint8Array(4096));
        conn.close();
      }
    })();
    try {
      const [ids] = await sql<{ refused: number; unknown: number; empty: number }[]>`
        select net.http_get(${`http://127.0.0.1:${freePort()}/`})::int as refused,
          net.http_get('http://pg-net-stand-in.invalid/')::int as unknown,
          net.http_get(${`http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}/`})::int as empty`;
      const expected = {
        refused: "Couldn't connect to server",
        unknown: "Couldn't resolve host name",
        empty: "Server returned nothing (no headers, no data)",
      };
      for (const [key, message] of Object.entries(expected)) {
        const response = await responseOf(sql, ids[key as keyof typeof ids]);
        assert.deepEqual(
          { ...response, id: undefined },
          {
            id: undefined,
            status_code: null,
            content_type: null,
            headers: null,
            content: null,
            timed_out: false,
            error_msg: message,
          },
          key,
        );
      }
    } finally {
      silent.close();
      await accepting;
    }
  }));

Deno.test("a malformed URL or an unsupported scheme raises at call time", () =>
  withStack(async ({ sql }) => {
    const cases: [string | null, string][] = [
      ["localhost:6666", 'invalid URL "localhost:6666": Unsupported URL scheme'],
      ["/malformed_url", 'invalid URL "/malformed_url": Bad scheme'],
      ["http://a b/", 'invalid URL "http://a b/": Bad hostname'],
      [
        "http://host:99999/",
        'invalid URL "http://host:99999/": Port number was not a decimal number between 0 and 65535',
      ],
      ["http://", 'invalid URL "http://": No host part in the URL'],
      [null, 'null value in column "url" of relation "http_request_queue" violates not-null constraint'],
    ];
    for (const [url, message] of cases) {
      await assert.rejects(sql`select net.http_get(${url})`, { message }, String(url));
      await assert.rejects(sql`select net.http_post(${url})`, { message }, String(url));
      await assert.rejects(sql`select net.http_delete(${url})`, { message }, String(url));
    }
    assert.equal(await queued(sql), 0);

    // curl knows ftp, so the call succeeds; the worker only speaks http and https, like pg_net
    const [{ id }] = await sql<{ id: number }[]>`select net.http_get('ftp://127.0.0.1/file')::int as id`;
    assert.equal((await responseOf(sql, id)).error_msg, "Unsupported protocol");
  }));

Deno.test("each round purges responses older than pg_net.ttl (default 6 hours)", () =>
  withStack(async ({ db, sql, worker }) => {
    await sql`
      insert into net._http_response (id, status_code, created) values
        (-1, 200, now() - interval '7 hours'),
        (-2, 200, now() - interval '2 hours'),
        (-3, 200, now())`;
    worker.wake();
    await waitFor("the 7 hour old response to be purged", async () => {
      const rows = await sql`select id::int from net._http_response order by id`;
      return rows.length === 2 ? rows : undefined;
    }).then((rows) => assert.deepEqual(rows.map((r) => r.id), [-3, -2]));

    // like pg_net: change the setting, then net.worker_restart() makes the worker pick it up
    await setDatabaseSetting(db, "pg_net.ttl", "1 hour");
    const [{ restarted }] = await sql`select net.worker_restart() as restarted`;
    assert.equal(restarted, true);
    await waitFor("the 2 hour old response to be purged", async () => {
      const rows = await sql`select id::int from net._http_response`;
      return rows.length === 1 ? rows : undefined;
    }).then((rows) => assert.deepEqual(rows.map((r) => r.id), [-3]));
  }));

Deno.test("a round sends at most pg_net.batch_size requests, concurrently, then pauses", () => {
  let active = 0;
  let peak = 0;
  const starts: number[] = [];
  return withStack(
    async ({ sql, server }) => {
      await responseOf(sql, 5, 8000);
      await waitFor("all responses", async () => (await queued(sql)) === 0 ? true : undefined);
      assert.equal(server.seen.length, 5);
      assert.equal(peak, 2, "two requests in flight at once, never more");
      // rounds of 2, 2 and 1 with a pause of about a second between them
      assert.ok(
        starts[2] - starts[1] >= 900,
        `second round started ${starts[2] - starts[1]} ms after the first`,
      );
      assert.ok(
        starts[4] - starts[0] >= 1800,
        `last round started ${starts[4] - starts[0]} ms after the first`,
      );
    },
    {
      // queued before the worker starts, so its first sweep sees all five
      before: async (db, server) => {
        await setDatabaseSetting(db, "pg_net.batch_size", "2");
        await db.sql`select net.http_get(${server.url + "/n"}) from generate_series(1, 5)`;
      },
      handler: async () => {
        starts.push(Date.now());
        peak = Math.max(peak, ++active);
        await delay(150);
        active--;
        return new Response("ok");
      },
    },
  );
});

Deno.test("stopping the worker mid-request loses nothing: the next worker sends it again", () => {
  let slow = true;
  return withStack(
    async ({ sql, server, stopWorker, startWorker }) => {
      const [{ id }] = await sql<{ id: number }[]>`select net.http_get(${server.url + "/once"})::int as id`;
      await waitFor("the request to reach the server", () => server.seen.length === 1 || undefined);

      await stopWorker();
      assert.equal(await queued(sql), 1, "the request is still queued");
      assert.equal((await sql`select 1 from net._http_response`).length, 0);

      slow = false;
      await startWorker(); // sweeps the queue on start
      const response = await responseOf(sql, id);
      assert.equal(response.status_code, 200);
      assert.equal(response.content, "done");
      assert.equal(await queued(sql), 0);
      assert.equal(server.seen.length, 2, "delivery is at least once");
    },
    {
      handler: async (_req, closing) => {
        if (slow) await delay(3000, closing);
        return new Response("done");
      },
    },
  );
});

Deno.test("net.worker_restart() returns true and the worker keeps serving", () =>
  withStack(async ({ sql, server }) => {
    const [{ restarted }] = await sql`select net.worker_restart() as restarted`;
    assert.equal(restarted, true);
    const [{ id }] = await sql<{ id: number }[]>`select net.http_get(${
      server.url + "/after-restart"
    })::int as id`;
    assert.equal((await responseOf(sql, id)).status_code, 200);
  }));

Deno.test("an idle worker sends no queries and wakes at commit", () =>
  withStack(async ({ db, sql, server }) => {
    // when a worker's connections last ran a statement
    const lastActivity = async () => {
      const [{ at }] = await sql<{ at: Date }[]>`
        select max(state_change) as at from pg_stat_activity
        where datname = ${db.name} and application_name = 'pg_net 0.20.0'`;
      return at.getTime();
    };
    await delay(1500); // the sweep on start: one empty round and a one second pause
    const before = await lastActivity();
    await delay(1000);
    assert.equal(await lastActivity(), before, "no polling while idle");

    const committed = Date.now();
    const [{ id }] = await sql<{ id: number }[]>`select net.http_get(${server.url + "/wake"})::int as id`;
    await responseOf(sql, id);
    // well inside the one second pause and the ten second safety poll
    assert.ok(Date.now() - committed < 800, `answered ${Date.now() - committed} ms after commit`);
  }));

Deno.test("requests queued while no worker runs are sent when a worker starts", async () => {
  const db = await createTestDatabase();
  const server = startServer();
  let worker: NetWorker | undefined;
  try {
    await assert.rejects(db.sql`select net.check_worker_is_up()`, {
      message: "the pg_net background worker is not up",
    });
    const [{ id }] = await db.sql<{ id: number }[]>`select net.http_get(${
      server.url + "/queued"
    })::int as id`;
    await delay(200);
    assert.equal(server.seen.length, 0);
    worker = await startNetWorker({ databaseUrl: db.url, log: () => {} });
    await db.sql`select net.wait_until_running()`;
    await db.sql`select net.check_worker_is_up()`;
    assert.equal((await responseOf(db.sql, id)).status_code, 200);
  } finally {
    await worker?.stop();
    await server.close();
    await db.close();
  }
});

Deno.test("the net schema is usable by any role and the functions are security invoker", () =>
  withStack(async ({ sql, server }) => {
    const [{ id, who }] = await sql.begin(async (tx) => {
      await tx`set local role anon`;
      return await tx<{ id: number; who: string }[]>`
        select net.http_get(${server.url + "/as-anon"})::int as id, current_user as who`;
    });
    assert.equal(who, "anon");
    assert.equal((await responseOf(sql, id)).status_code, 200);

    const functions = await sql`
      select p.proname, p.prosecdef, p.proisstrict, p.provolatile
      from pg_proc p where p.pronamespace = 'net'::regnamespace
        and p.proname in ('http_get', 'http_post', 'http_delete') order by 1`;
    for (const f of functions) {
      assert.deepEqual({ ...f, proname: undefined }, {
        proname: undefined,
        prosecdef: false,
        proisstrict: false,
        provolatile: "v",
      }, f.proname);
    }
    const [{ persistence }] = await sql`
      select string_agg(relpersistence::text, '' order by relname) as persistence
      from pg_class where relnamespace = 'net'::regnamespace and relname in ('http_request_queue', '_http_response')`;
    assert.equal(persistence, "uu", "both tables are unlogged");
    const [{ indexes }] = await sql`
      select array_agg(indexdef) as indexes from pg_indexes where schemaname = 'net'`;
    assert.deepEqual(indexes, [
      "CREATE INDEX _http_response_created_idx ON net._http_response USING btree (created)",
    ]);
  }));

Deno.test("create extension pg_net works plainly and with schema extensions, and drops cleanly", async () => {
  // a bare database, so objects of the project's migrations cannot get in the way of drop extension
  const adminUrl = Deno.env.get("LOCAL_PG_ADMIN_URL")!;
  const name = `t_${Deno.pid}_pg_net_install`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template template0`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await sql`create extension pg_net`;
    const [{ version }] = await sql`select extversion as version from pg_extension where extname = 'pg_net'`;
    assert.equal(version, "0.20.0");
    await sql`drop extension pg_net`;
    const [{ gone }] = await sql`select to_regnamespace('net') is null as gone`;
    assert.equal(gone, true, "the net schema belongs to the extension");

    await sql`create schema extensions`;
    await sql`create extension if not exists pg_net with schema extensions`;
    await sql`create extension if not exists pg_net with schema extensions`;
    const [{ schema }] = await sql`
      select extnamespace::regnamespace::text as schema from pg_extension where extname = 'pg_net'`;
    assert.equal(schema, "extensions");
    const [{ id }] = await sql`select net.http_get('http://127.0.0.1/')::int as id`;
    assert.equal(id, 1);
  } finally {
    await sql.end();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
});
