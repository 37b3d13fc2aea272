/**
 * Where the pg_net stand-in (local/extensions/pg_net + local/net_worker.ts) differs from real pg_net 0.20
 * in a way this project's SQL can see. Each test states what real pg_net does, with its source, and fails
 * while the stand-in does something else.
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../_support/db.ts";
import { standInOnly } from "../_support/stack.ts";
import { startNetWorker } from "../../local/net_worker.ts";

/** Resolves after `ms`, or early when `signal` aborts. */
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

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Real pg_net 0.20 takes a round's requests with DELETE ... RETURNING and inserts every response of the
// round inside that one transaction, started before any request is sent (supabase/pg_net src/worker.c,
// pg_net_worker(): StartTransactionCommand(); consume_request_queue(...); ... insert_curl_responses(...);
// CommitTransactionCommand()). `created` defaults to now(), the transaction's start, so it is when the
// worker took the request, never when the reply came back. The processor reads it as the arrival time
// (20261125140100_plugin_delivery_processor.sql: duration_ms from `o.created - o.sent_at`, delivered_at =
// `o.created`), which the stand-in makes look right locally.
Deno.test({
  ...standInOnly,
  name: "net._http_response.created is when the worker took the request, not when the slow reply arrived",
  async fn() {
    const replyDelayMs = 1500;
    let arrivedAt: number | undefined;
    const closing = new AbortController();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      await req.arrayBuffer();
      arrivedAt = Date.now();
      await delay(replyDelayMs, closing.signal);
      return new Response("slow ok");
    });
    const db = await createTestDatabase();
    const worker = await startNetWorker({ databaseUrl: db.url, log: () => {} });
    try {
      const url = `http://127.0.0.1:${server.addr.port}/slow`;
      const [{ id }] = await db.sql<{ id: number }[]>`
        select net.http_post(${url}, '{"n": 1}'::jsonb, timeout_milliseconds := 5000)::int as id`;
      const row = await waitFor("the response", async () => {
        const [r] = await db.sql<{ status_code: number | null; created_ms: number }[]>`
          select status_code, (extract(epoch from created) * 1000)::float8 as created_ms
          from net._http_response where id = ${id}`;
        return r;
      }, 8000);
      assert.equal(row.status_code, 200);
      assert.ok(arrivedAt !== undefined, "the receiver saw the request");
      // Same host, same clock. Real pg_net: created <= arrival (the round's transaction began before
      // the request was sent). 300 ms of slack for clock reads; the reply took 1500 ms.
      const lateBy = Math.round(row.created_ms - arrivedAt);
      assert.ok(
        lateBy <= 300,
        `created is ${lateBy} ms after the receiver got the request: it records the reply's arrival, ` +
          `while real pg_net records the start of the worker's round (before the request was sent)`,
      );
    } finally {
      await worker.stop();
      closing.abort();
      await server.shutdown();
      await db.close();
    }
  },
});
