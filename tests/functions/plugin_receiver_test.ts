/**
 * plugin-receiver's app through app.request(): both signature schemes on the raw bytes, every
 * refusal, deduplication, the fast acknowledgement with the work done afterwards, and the callback
 * it sends to ingest-webhook.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { createApp } from "../../supabase/functions/plugin-receiver/app.ts";
import { createBackground } from "../../supabase/functions/plugin-receiver/background.ts";
import {
  callbackActionFor,
  CallbackError,
  type CallbackResult,
  createIngestCallback,
} from "../../supabase/functions/plugin-receiver/callback.ts";
import { RecentDeliveries } from "../../supabase/functions/plugin-receiver/recent_deliveries.ts";
import type { PluginDelivery } from "../../supabase/functions/plugin-receiver/schemas.ts";
import { signHmacHex, verifyStandardWebhook } from "../../supabase/functions/_shared/webhook_signature.ts";

const SECRET = "receiver-secret-0123456789";

function delivery(overrides: Partial<PluginDelivery> = {}): PluginDelivery {
  return {
    id: crypto.randomUUID(),
    type: "work_orders.insert",
    tenant_id: "aaaaaaaa-aaaa-4000-8000-000000000000",
    installation_id: "aaaaaaaa-aaaa-4000-8000-0000000000f1",
    audit_id: 42,
    occurred_at: "2026-11-25T12:00:00.123456+00:00",
    data: {
      table_schema: "public",
      table_name: "work_orders",
      op: "INSERT",
      record_id: "aaaaaaaa-aaaa-4000-8000-00000000a001",
      changed_fields: [],
    },
    ...overrides,
  };
}

/** Headers as rpc_process_plugin_deliveries sends them: both schemes. */
async function signedByDatabase(
  payload: PluginDelivery,
  options: { secret?: string; timestamp?: number } = {},
) {
  const body = JSON.stringify(payload);
  const secret = options.secret ?? SECRET;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const webhook = new Webhook(btoa(secret));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-plugin-delivery-id": payload.id,
    "x-plugin-event-type": payload.type,
    "x-plugin-signature": await signHmacHex(secret, body),
    "webhook-id": payload.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": webhook.sign(payload.id, new Date(timestamp * 1000), body),
  };
  return { body, headers };
}

function harness(
  handle: (d: PluginDelivery) => Promise<CallbackResult> = () => Promise.resolve({ action: null }),
) {
  const handled: PluginDelivery[] = [];
  const logs: string[] = [];
  const background = createBackground();
  const app = createApp({
    secret: SECRET,
    handleDelivery: (d) => {
      handled.push(d);
      return handle(d);
    },
    waitUntil: background.waitUntil,
    log: (line) => logs.push(line),
  });
  const post = (body: string, headers: Record<string, string>) =>
    app.request("/plugin-receiver", { method: "POST", headers, body });
  return { app, handled, logs, background, post };
}

async function errorCode(res: Response): Promise<string> {
  const json = await res.json();
  assert.deepEqual(Object.keys(json).sort(), ["error", "message"]);
  return json.error;
}

Deno.test("plugin-receiver verifies the database's signatures, acknowledges and processes once", async () => {
  const { handled, background, post } = harness();
  const payload = delivery();
  const { body, headers } = await signedByDatabase(payload);
  const res = await post(body, headers);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, delivery_id: payload.id, duplicate: false });
  await background.idle();
  assert.deepEqual(handled, [payload]);
});

Deno.test("plugin-receiver logs one line per delivery, and a second one only for its callback", async () => {
  const needsCallback = delivery();
  const { background, post, logs } = harness((d) =>
    Promise.resolve(
      d.id === needsCallback.id ? { action: "work_order.set_external_ref", status: 200 } : { action: null },
    )
  );
  const plain = delivery();
  for (const payload of [plain, needsCallback]) {
    const { body, headers } = await signedByDatabase(payload);
    assert.equal((await post(body, headers)).status, 200);
  }
  await background.idle();
  const lines = logs.map((l) => JSON.parse(l));
  // In any order: the work may end before its request's line is written.
  assert.deepEqual(
    lines.map((l) => `${l.delivery_id} ${l.event ?? "request"}`).sort(),
    [`${plain.id} request`, `${needsCallback.id} request`, `${needsCallback.id} delivery_processed`].sort(),
    "the request line names the delivery; only the callback adds a line",
  );
});

Deno.test("plugin-receiver accepts a webhook_url with a trailing slash", async () => {
  const { app, handled, background } = harness();
  const payload = delivery();
  const { body, headers } = await signedByDatabase(payload);
  const res = await app.request("/plugin-receiver/", { method: "POST", headers, body });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, delivery_id: payload.id, duplicate: false });
  await background.idle();
  assert.deepEqual(handled, [payload]);
});

Deno.test("plugin-receiver accepts every uuid PostgreSQL can hold, not only RFC 4122 variants", async () => {
  const { handled, background, post } = harness();
  const payload = delivery({
    tenant_id: "11111111-1111-1111-1111-111111111111",
    installation_id: "00000000-0000-0000-0000-0000000000f1",
  });
  const { body, headers } = await signedByDatabase(payload);
  const res = await post(body, headers);
  assert.equal(res.status, 200);
  await background.idle();
  assert.deepEqual(handled, [payload]);
});

Deno.test("plugin-receiver refuses X-Plugin-Signature alone: it has no timestamp, so it could be replayed", async () => {
  const { handled, background, post } = harness();
  const payload = delivery();
  // A captured delivery, replayed a day later without its webhook-* headers.
  const { body, headers } = await signedByDatabase(payload, {
    timestamp: Math.floor(Date.now() / 1000) - 86_400,
  });
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) delete headers[name];
  const res = await post(body, headers);
  assert.equal(res.status, 401);
  assert.equal(await errorCode(res), "missing_signature");
  await background.idle();
  assert.equal(handled.length, 0);
});

Deno.test("plugin-receiver refuses a wrong signature with 401 and does nothing", async () => {
  const { handled, background, post } = harness();
  const payload = delivery();
  const wrongKey = await signedByDatabase(payload, { secret: "another-secret" });
  assert.equal(await errorCode(await post(wrongKey.body, wrongKey.headers)), "invalid_signature");

  // The signature covers the exact bytes: re-serialising the JSON breaks it.
  const good = await signedByDatabase(payload);
  const reformatted = JSON.stringify(JSON.parse(good.body), null, 2);
  assert.equal(await errorCode(await post(reformatted, good.headers)), "invalid_signature");
  await background.idle();
  assert.equal(handled.length, 0);
});

Deno.test("plugin-receiver refuses a request without signature headers with 401", async () => {
  const { post } = harness();
  const res = await post(JSON.stringify(delivery()), { "content-type": "application/json" });
  assert.equal(res.status, 401);
  assert.equal(await errorCode(res), "missing_signature");

  // webhook-signature without webhook-id and webhook-timestamp is not enough either.
  const partial = await signedByDatabase(delivery());
  delete partial.headers["webhook-id"];
  delete partial.headers["webhook-timestamp"];
  const noId = await post(partial.body, partial.headers);
  assert.equal(noId.status, 401);
  assert.equal(await errorCode(noId), "missing_signature");
});

Deno.test("plugin-receiver refuses stale and future timestamps with 401", async () => {
  const { handled, background, post } = harness();
  const old = Math.floor(Date.now() / 1000) - 301;
  const standard = await signedByDatabase(delivery(), { timestamp: old });
  const res = await post(standard.body, standard.headers);
  assert.equal(res.status, 401);
  assert.equal(await errorCode(res), "stale_timestamp");

  const future = await signedByDatabase(delivery(), { timestamp: Math.floor(Date.now() / 1000) + 400 });
  assert.equal(await errorCode(await post(future.body, future.headers)), "stale_timestamp");

  await background.idle();
  assert.equal(handled.length, 0);
});

Deno.test("plugin-receiver acknowledges a redelivery as a duplicate without processing it again", async () => {
  const { handled, background, post } = harness();
  const payload = delivery();
  const first = await signedByDatabase(payload);
  assert.equal((await (await post(first.body, first.headers)).json()).duplicate, false);
  // A retry is signed again with a new timestamp but keeps its delivery id.
  const again = await signedByDatabase(payload, { timestamp: Math.floor(Date.now() / 1000) - 5 });
  const res = await post(again.body, again.headers);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, delivery_id: payload.id, duplicate: true });
  await background.idle();
  assert.equal(handled.length, 1);
});

Deno.test("plugin-receiver forgets a delivery whose work failed, so a redelivery is processed", async () => {
  let fail = true;
  const { handled, background, post, logs } = harness(() =>
    fail
      ? Promise.reject(new Error("ingest is down"))
      : Promise.resolve({ action: "work_order.set_external_ref" })
  );
  const payload = delivery();
  const first = await signedByDatabase(payload);
  assert.equal((await post(first.body, first.headers)).status, 200);
  await background.idle();
  assert.ok(logs.some((l) => l.includes('"event":"delivery_failed"') && l.includes("ingest is down")));
  fail = false;
  const again = await signedByDatabase(payload);
  assert.equal((await (await post(again.body, again.headers)).json()).duplicate, false);
  await background.idle();
  assert.equal(handled.length, 2);
});

Deno.test("plugin-receiver answers before the work is done", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const { background, post } = harness(async () => {
    await release;
    return { action: null };
  });
  const { body, headers } = await signedByDatabase(delivery());
  const res = await post(body, headers);
  assert.equal(res.status, 200, "acknowledged while the work still waits");
  let idle = false;
  const waiting = background.idle().then(() => (idle = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(idle, false);
  resolve();
  await waiting;
});

Deno.test("plugin-receiver refuses bad bodies: content type 415, size 413, shape 400, id mismatch 400", async () => {
  const { post, app } = harness();
  const payload = delivery();
  const { body, headers } = await signedByDatabase(payload);
  assert.equal((await post(body, { ...headers, "content-type": "text/plain" })).status, 415);

  const big = JSON.stringify({ ...payload, padding: "x".repeat(200 * 1024) });
  const large = await app.request("/plugin-receiver", { method: "POST", headers, body: big });
  assert.equal(large.status, 413);
  assert.equal(await errorCode(large), "payload_too_large");

  const notADelivery = { id: payload.id, hello: "world" } as unknown as PluginDelivery;
  const shape = await signedByDatabase(notADelivery);
  const res = await post(shape.body, shape.headers);
  assert.equal(res.status, 400);
  assert.equal(await errorCode(res), "invalid_payload");

  const other = await signedByDatabase({ ...payload, id: crypto.randomUUID() });
  const mixed = await post(other.body, { ...other.headers, "x-plugin-delivery-id": payload.id });
  assert.equal(mixed.status, 400);
  assert.equal(await errorCode(mixed), "delivery_id_mismatch");
});

Deno.test("RecentDeliveries drops the oldest ids beyond its capacity", () => {
  const recent = new RecentDeliveries(2);
  assert.equal(recent.add("a"), true);
  assert.equal(recent.add("a"), false);
  recent.add("b");
  recent.add("c");
  assert.equal(recent.has("a"), false);
  assert.equal(recent.has("c"), true);
  assert.equal(recent.size, 2);
});

Deno.test("the callback sets the external ref of a new work order through ingest-webhook, signed", async () => {
  const requests: Request[] = [];
  const handle = createIngestCallback({
    ingestUrl: "https://project.example/functions/v1/ingest-webhook/",
    secret: SECRET,
    fetch: (input, init) => {
      requests.push(new Request(input, init));
      return Promise.resolve(Response.json({ duplicate: false }, { status: 200 }));
    },
  });
  const payload = delivery();
  assert.deepEqual(await handle(payload), {
    action: "work_order.set_external_ref",
    status: 200,
    duplicate: false,
  });
  assert.equal(requests.length, 1);
  const [request] = requests;
  assert.equal(request.url, `https://project.example/functions/v1/ingest-webhook/${payload.installation_id}`);
  const body = await request.text();
  assert.deepEqual(JSON.parse(body), {
    action: "work_order.set_external_ref",
    args: { work_order_id: payload.data.record_id, external_ref: "rcv-42" },
  });
  const { id } = await verifyStandardWebhook(SECRET, body, request.headers, { format: "raw" });
  assert.equal(id, payload.id, "the callback reuses the delivery id, so the database applies it once");
});

/** A callback whose fetch gives `answer(n)` on its n-th call (from 1), with no backoff; `calls()` counts. */
function scriptedCallback(answer: (call: number) => Promise<Response>) {
  let calls = 0;
  const handle = createIngestCallback({
    ingestUrl: "https://project.example/ingest",
    secret: SECRET,
    backoffMs: () => 1,
    fetch: () => answer(++calls),
  });
  return { handle, calls: () => calls };
}

Deno.test("the callback retries 5xx and network errors, and gives up on 4xx at once", async () => {
  const flaky = scriptedCallback((call) =>
    call === 1
      ? Promise.reject(new TypeError("connection reset"))
      : call === 2
      ? Promise.resolve(Response.json({ error: "x", message: "y" }, { status: 503 }))
      : Promise.resolve(Response.json({ duplicate: true }))
  );
  assert.deepEqual(await flaky.handle(delivery()), {
    action: "work_order.set_external_ref",
    status: 200,
    duplicate: true,
  });
  assert.equal(flaky.calls(), 3);

  const refused = scriptedCallback(() =>
    Promise.resolve(Response.json({ error: "invalid_signature", message: "No match" }, { status: 401 }))
  );
  await assert.rejects(
    refused.handle(delivery()),
    (e) => e instanceof CallbackError && e.code === "invalid_signature",
  );
  assert.equal(refused.calls(), 1);
});

Deno.test("the callback fails a 2xx answer that is not a JSON object as unexpected_answer, without retrying", async () => {
  for (const answer of [Response.json(null), Response.json([1]), new Response("<html>ok</html>")]) {
    const callback = scriptedCallback(() => Promise.resolve(answer.clone()));
    await assert.rejects(
      callback.handle(delivery()),
      (e) =>
        e instanceof CallbackError && e.code === "unexpected_answer" && e.status === 200 &&
        /answered 200 without a JSON object/.test(e.message),
    );
    assert.equal(callback.calls(), 1, "a 2xx is final");
  }
});

Deno.test("the callback retries a 5xx whose body is JSON null, and gives up on such a 4xx at once", async () => {
  const flaky = scriptedCallback((call) =>
    Promise.resolve(call === 1 ? Response.json(null, { status: 503 }) : Response.json({}))
  );
  assert.deepEqual(await flaky.handle(delivery()), {
    action: "work_order.set_external_ref",
    status: 200,
    duplicate: false,
  });
  assert.equal(flaky.calls(), 2);

  const refused = scriptedCallback(() => Promise.resolve(Response.json(null, { status: 401 })));
  await assert.rejects(
    refused.handle(delivery()),
    (e) => e instanceof CallbackError && e.code === "http_401",
  );
  assert.equal(refused.calls(), 1);
});

Deno.test("plugin-receiver logs a null callback answer as a clear delivery_failed and forgets the id", async () => {
  const background = createBackground();
  const logs: string[] = [];
  const app = createApp({
    secret: SECRET,
    handleDelivery: createIngestCallback({
      ingestUrl: "https://project.example/ingest",
      secret: SECRET,
      fetch: () => Promise.resolve(Response.json(null)),
    }),
    waitUntil: background.waitUntil,
    log: (line) => logs.push(line),
  });
  const payload = delivery();
  const { body, headers } = await signedByDatabase(payload);
  const res = await app.request("/plugin-receiver", { method: "POST", headers, body });
  assert.equal(res.status, 200);
  await background.idle();
  const failed = logs.map((l) => JSON.parse(l)).find((l) => l.event === "delivery_failed");
  assert.equal(failed?.delivery_id, payload.id);
  assert.match(failed.error, /^CallbackError: ingest-webhook answered 200 without a JSON object/);
  assert.doesNotMatch(failed.error, /TypeError/);
  const again = await app.request("/plugin-receiver", { method: "POST", headers, body });
  assert.equal((await again.json()).duplicate, false, "a redelivery is processed again");
  await background.idle();
});

Deno.test("a callback that ingest-webhook never answers times out, so the delivery is forgotten and redelivered", async () => {
  const background = createBackground();
  const logs: string[] = [];
  let calls = 0;
  // A connection that never answers: the request only ends when the caller aborts it.
  const options = {
    ingestUrl: "https://project.example/ingest",
    secret: SECRET,
    backoffMs: () => 1,
    timeoutMs: 5,
    fetch: (_input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
      });
    },
  };
  const app = createApp({
    secret: SECRET,
    handleDelivery: createIngestCallback(options),
    waitUntil: background.waitUntil,
    log: (line) => logs.push(line),
  });
  const payload = delivery();
  const { body, headers } = await signedByDatabase(payload);
  assert.equal((await app.request("/plugin-receiver", { method: "POST", headers, body })).status, 200);
  await background.idle();
  assert.equal(calls, 3, "each try is given up after the timeout, then tried again");
  const failed = logs.map((l) => JSON.parse(l)).find((l) => l.event === "delivery_failed");
  assert.equal(failed?.delivery_id, payload.id);
  const again = await app.request("/plugin-receiver", { method: "POST", headers, body });
  assert.equal(
    (await again.json()).duplicate,
    false,
    "the redelivery is processed, not taken for a duplicate",
  );
  await background.idle();
  assert.equal(calls, 6);
});

Deno.test("the callback retries an answer whose body stalls past the timeout", async () => {
  let calls = 0;
  const options = {
    ingestUrl: "https://project.example/ingest",
    secret: SECRET,
    backoffMs: () => 1,
    timeoutMs: 5,
    fetch: (_input: RequestInfo | URL, init?: RequestInit) => {
      if (++calls > 1) return Promise.resolve(Response.json({ duplicate: true }));
      // Headers arrive, the body never does: as fetch does, the abort ends the body's stream.
      const stalled = new ReadableStream<Uint8Array>({
        start(controller) {
          init?.signal?.addEventListener("abort", () => controller.error(init.signal!.reason));
        },
      });
      return Promise.resolve(new Response(stalled, { status: 200 }));
    },
  };
  assert.deepEqual(await createIngestCallback(options)(delivery()), {
    action: "work_order.set_external_ref",
    status: 200,
    duplicate: true,
  });
  assert.equal(calls, 2);
});

Deno.test("only new work orders lead to a callback", () => {
  assert.equal(callbackActionFor(delivery())?.action, "work_order.set_external_ref");
  const update = delivery({ type: "work_orders.update" });
  update.data = { ...update.data, op: "UPDATE", changed_fields: ["status"] };
  assert.equal(callbackActionFor(update), undefined);
});
