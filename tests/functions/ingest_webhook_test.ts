/**
 * ingest-webhook's app through app.request(), with a fake database: every bad-input case is refused
 * with its status and JSON error before the database is asked, and the database's outcome codes map
 * to their HTTP statuses.
 */
import assert from "node:assert/strict";
import { createApp, statusFor } from "../../supabase/functions/ingest-webhook/app.ts";
import {
  type IngestRequest,
  IngestUnavailableError,
} from "../../supabase/functions/ingest-webhook/ingest_rpc.ts";
import type { IngestOutcome } from "../../supabase/functions/ingest-webhook/schemas.ts";
import { signHmacHex, standardWebhookHeaders } from "../../supabase/functions/_shared/webhook_signature.ts";

const INSTALLATION = "aaaaaaaa-aaaa-4000-8000-0000000000f1";
const SECRET = "inbound-secret-for-tests";
const BODY = JSON.stringify({
  action: "work_order.set_status",
  args: { work_order_id: "aaaaaaaa-aaaa-4000-8000-00000000a001", status: "done" },
});

function harness(outcome: IngestOutcome | Error = {
  ok: true,
  code: "applied",
  message: "work_order.set_status applied",
  duplicate: false,
  action: "work_order.set_status",
  result: { status: "done" },
}) {
  const calls: IngestRequest[] = [];
  const logs: string[] = [];
  const app = createApp({
    ingest: (request) => {
      calls.push(request);
      return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome);
    },
    maxBodyBytes: 1024,
    log: (line) => logs.push(line),
  });
  return { app, calls, logs };
}

async function signed(body = BODY, extra: Record<string, string> = {}, id = "dlv-1"): Promise<RequestInit> {
  const headers = await standardWebhookHeaders(SECRET, { id, timestamp: new Date(), body }, "raw");
  return { method: "POST", headers: { "content-type": "application/json", ...headers, ...extra }, body };
}

async function errorOf(res: Response): Promise<{ error: string; message: string }> {
  const json = await res.json();
  assert.deepEqual(Object.keys(json).sort(), ["error", "message"]);
  return json;
}

Deno.test("ingest-webhook hands the raw body and the signature headers to the database", async () => {
  const { app, calls } = harness();
  const init = await signed();
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, init);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    delivery_id: "dlv-1",
    action: "work_order.set_status",
    duplicate: false,
    result: { status: "done" },
  });
  const headers = init.headers as Record<string, string>;
  assert.deepEqual(calls, [{
    installationId: INSTALLATION,
    deliveryId: "dlv-1",
    timestamp: Number(headers["webhook-timestamp"]),
    signature: headers["webhook-signature"],
    body: BODY,
  }]);
});

Deno.test("ingest-webhook passes bytes on exactly, whitespace and unicode included", async () => {
  const { app, calls } = harness();
  const body =
    `{ "action" : "work_order.add_comment",\n  "args": {"work_order_id": "x", "body": "Ölpumpe 💧"} }`;
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed(body));
  assert.equal(res.status, 200);
  assert.equal(calls[0].body, body);
});

Deno.test("ingest-webhook refuses a body with a byte order mark as invalid JSON instead of passing it on changed", async () => {
  const { app, calls } = harness();
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed(`\uFEFF${BODY}`));
  assert.equal(res.status, 400);
  assert.equal((await errorOf(res)).error, "invalid_json");
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook takes the installation from X-Plugin-Installation-Id too", async () => {
  const { app, calls } = harness();
  const res = await app.request(
    "/ingest-webhook",
    await signed(BODY, { "x-plugin-installation-id": INSTALLATION.toUpperCase() }),
  );
  assert.equal(res.status, 200);
  assert.equal(calls[0].installationId, INSTALLATION);
});

Deno.test("ingest-webhook accepts a trailing slash after the installation id or the function name", async () => {
  const { app, calls } = harness();
  const byPath = await app.request(`/ingest-webhook/${INSTALLATION}/`, await signed());
  assert.equal(byPath.status, 200);
  const byHeader = await app.request(
    "/ingest-webhook/",
    await signed(BODY, { "x-plugin-installation-id": INSTALLATION }, "dlv-2"),
  );
  assert.equal(byHeader.status, 200);
  assert.deepEqual(calls.map((c) => c.installationId), [INSTALLATION, INSTALLATION]);
});

Deno.test("ingest-webhook accepts the X-Plugin-* headers with a hex signature", async () => {
  const { app, calls } = harness();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = await signHmacHex(SECRET, `dlv-hex.${timestamp}.${BODY}`);
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, {
    method: "POST",
    headers: {
      "content-type": "application/json; charset=utf-8",
      "x-plugin-delivery-id": "dlv-hex",
      "x-plugin-timestamp": timestamp,
      "x-plugin-signature": signature,
    },
    body: BODY,
  });
  assert.equal(res.status, 200);
  assert.deepEqual(calls[0], {
    installationId: INSTALLATION,
    deliveryId: "dlv-hex",
    timestamp: Number(timestamp),
    signature,
    body: BODY,
  });
});

Deno.test("ingest-webhook refuses a body over the limit with 413, by header or by size", async () => {
  const { app, calls } = harness();
  const big = JSON.stringify({ action: "work_order.add_comment", args: { body: "x".repeat(2000) } });
  const declared = await signed(big);
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, declared);
  assert.equal(res.status, 413);
  assert.equal((await errorOf(res)).error, "payload_too_large");

  // A streamed body without Content-Length is measured as it is read.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(big));
      controller.close();
    },
  });
  const streamed = await app.request(`/ingest-webhook/${INSTALLATION}`, { ...declared, body: stream });
  assert.equal(streamed.status, 413);
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook refuses other content types with 415", async () => {
  const { app, calls } = harness();
  for (const type of ["text/plain", "application/x-www-form-urlencoded", ""]) {
    const init = await signed();
    const headers = { ...(init.headers as Record<string, string>), "content-type": type };
    const res = await app.request(`/ingest-webhook/${INSTALLATION}`, { ...init, headers });
    assert.equal(res.status, 415, `content type ${JSON.stringify(type)}`);
    assert.equal((await errorOf(res)).error, "unsupported_media_type");
  }
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook refuses a request without complete signature headers with 401", async () => {
  const { app, calls } = harness();
  const complete = (await signed()).headers as Record<string, string>;
  for (const missing of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
    const headers = { ...complete };
    delete headers[missing];
    const res = await app.request(`/ingest-webhook/${INSTALLATION}`, { method: "POST", headers, body: BODY });
    assert.equal(res.status, 401, `without ${missing}`);
    const error = await errorOf(res);
    assert.equal(error.error, "missing_signature");
    assert.match(error.message, /webhook-signature/);
  }
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook refuses a missing or malformed installation id with 400", async () => {
  const { app, calls } = harness();
  const none = await app.request("/ingest-webhook", await signed());
  assert.equal(none.status, 400);
  assert.equal((await errorOf(none)).error, "missing_installation_id");
  const bad = await app.request("/ingest-webhook/not-a-uuid", await signed());
  assert.equal(bad.status, 400);
  assert.equal((await errorOf(bad)).error, "invalid_installation_id");
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook refuses malformed delivery ids and timestamps with 400", async () => {
  const { app, calls } = harness();
  const spaced = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed(BODY, {}, "has space"));
  assert.equal(spaced.status, 400);
  assert.equal((await errorOf(spaced)).error, "invalid_delivery_id");
  const stale = await app.request(
    `/ingest-webhook/${INSTALLATION}`,
    await signed(BODY, { "webhook-timestamp": "yesterday" }),
  );
  assert.equal(stale.status, 400);
  assert.equal((await errorOf(stale)).error, "invalid_timestamp");
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook refuses malformed JSON and unknown shapes with 400", async () => {
  const { app, calls } = harness();
  const cases: Array<[string, string]> = [
    ["{not json", "invalid_json"],
    ["[1, 2]", "invalid_payload"],
    ['{"args": {}}', "invalid_payload"],
    ['{"action": "DROP TABLE", "args": {}}', "invalid_payload"],
    ['{"action": "work_order.set_status", "args": []}', "invalid_payload"],
    ['{"action": "work_order.set_status", "args": {}, "extra": true}', "invalid_payload"],
  ];
  for (const [body, code] of cases) {
    const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed(body));
    assert.equal(res.status, 400, body);
    assert.equal((await errorOf(res)).error, code, body);
  }
  assert.equal(calls.length, 0);
});

Deno.test("ingest-webhook answers the database's refusals with distinct statuses and codes", async () => {
  const cases: Array<[string, number]> = [
    ["invalid_signature", 401],
    ["stale_timestamp", 401],
    ["unknown_action", 422],
    ["invalid_args", 422],
    ["work_order_not_found", 404],
    ["unknown_installation", 404],
    ["installation_inactive", 403],
    ["action_failed", 500],
  ];
  for (const [code, status] of cases) {
    const { app } = harness({ ok: false, code, message: `database says ${code}` });
    const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed());
    assert.equal(res.status, status, code);
    assert.deepEqual(await res.json(), { error: code, message: `database says ${code}` });
    assert.equal(statusFor(code), status);
  }
});

Deno.test("ingest-webhook returns a duplicate's first result with duplicate: true", async () => {
  const { app } = harness({
    ok: true,
    code: "applied",
    message: "work_order.set_status applied",
    duplicate: true,
    action: "work_order.set_status",
    result: { status: "done" },
  });
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed());
  assert.equal(res.status, 200);
  assert.equal((await res.json()).duplicate, true);
});

Deno.test("ingest-webhook answers 503 when the database cannot be reached, without its error text", async () => {
  const { app, logs } = harness(new IngestUnavailableError("PGRST000", "connection refused to 10.0.0.5"));
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, await signed());
  assert.equal(res.status, 503);
  const error = await errorOf(res);
  assert.equal(error.error, "ingest_unavailable");
  assert.doesNotMatch(error.message, /10\.0\.0\.5/);
  assert.match(logs.at(-1)!, /"rpc_error":"PGRST000"/);
});

Deno.test("ingest-webhook logs one line per request without body, signature or secret", async () => {
  const { app, logs } = harness();
  const init = await signed();
  await app.request(`/ingest-webhook/${INSTALLATION}`, init);
  const line = JSON.parse(logs.at(-1)!);
  assert.equal(line.fn, "ingest-webhook");
  assert.equal(line.delivery_id, "dlv-1");
  assert.equal(line.code, "applied");
  const text = logs.join("\n");
  assert.ok(!text.includes((init.headers as Record<string, string>)["webhook-signature"].slice(3)));
  assert.ok(!text.includes("aaaaaaaa-aaaa-4000-8000-00000000a001"), "no body content");
});

Deno.test("ingest-webhook serves only POST on its routes", async () => {
  const { app } = harness();
  const res = await app.request(`/ingest-webhook/${INSTALLATION}`, { method: "GET" });
  assert.equal(res.status, 404);
  assert.equal((await errorOf(res)).error, "not_found");
});
