/**
 * sendry-unsub's app through app.request(), with a fake recorder that dedupes like the RPC.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { createApp, type UnsubscribeResult } from "../../supabase/functions/sendry-unsub/app.ts";
import { standardWebhookHeaders } from "../../supabase/functions/_shared/webhook_signature.ts";

const SECRET = `whsec_${btoa("sendry-webhook-key-for-tests-123")}`;

function harness(options: { recorderFails?: boolean } = {}) {
  const processed = new Map<string, UnsubscribeResult>();
  const calls: Array<{ webhookId: string; email: string; occurredAt?: string }> = [];
  const logs: string[] = [];
  const app = createApp({
    webhookSecret: SECRET,
    recordUnsubscribe: (input) => {
      calls.push(input);
      if (options.recorderFails) return Promise.reject(new Error("database is down"));
      const earlier = processed.get(input.webhookId);
      if (earlier) return Promise.resolve({ ...earlier, duplicate: true });
      const result = { duplicate: false, matched_users: input.email.endsWith("@known.test") ? 1 : 0 };
      processed.set(input.webhookId, result);
      return Promise.resolve(result);
    },
    log: (line) => logs.push(line),
  });
  return { app, calls, logs };
}

function unsubscribed(email = "ada@known.test") {
  return {
    type: "contact.unsubscribed",
    created_at: "2026-11-25T10:00:00.000Z",
    data: { email, audience_id: "aud_123", contact_id: "con_1" },
  };
}

async function signed(
  body: unknown,
  id = `msg_${crypto.randomUUID()}`,
  secret = SECRET,
): Promise<RequestInit> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const headers = await standardWebhookHeaders(secret, { id, timestamp: new Date(), body: text });
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: text };
}

Deno.test("a valid contact.unsubscribed is recorded and acknowledged", async () => {
  const { app, calls } = harness();
  const res = await app.request("/sendry-unsub", await signed(unsubscribed(), "msg_1"));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, duplicate: false, matched_users: 1 });
  assert.deepEqual(calls, [{
    webhookId: "msg_1",
    email: "ada@known.test",
    occurredAt: "2026-11-25T10:00:00.000Z",
  }]);
});

Deno.test("a webhook URL saved with a trailing slash reaches the function", async () => {
  const { app, calls } = harness();
  const res = await app.request("/sendry-unsub/", await signed(unsubscribed(), "msg_slash"));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, duplicate: false, matched_users: 1 });
  assert.equal(calls.length, 1);
});

Deno.test("a webhook signed by the standardwebhooks package is accepted", async () => {
  const { app } = harness();
  const body = JSON.stringify(unsubscribed());
  const now = new Date();
  const headers = {
    "webhook-id": "msg_pkg",
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(SECRET).sign("msg_pkg", now, body),
  };
  const res = await app.request("/sendry-unsub", { method: "POST", headers, body });
  assert.equal(res.status, 200);
});

Deno.test("an unknown email is not an error", async () => {
  const { app } = harness();
  const res = await app.request("/sendry-unsub", await signed(unsubscribed("nobody@elsewhere.test")));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, duplicate: false, matched_users: 0 });
});

Deno.test("a replay (same webhook-id) is acknowledged as a duplicate without processing again", async () => {
  const { app } = harness();
  const first = await app.request("/sendry-unsub", await signed(unsubscribed(), "msg_replayed"));
  assert.equal((await first.json()).duplicate, false);
  const again = await app.request("/sendry-unsub", await signed(unsubscribed(), "msg_replayed"));
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { received: true, duplicate: true, matched_users: 1 });
});

Deno.test("unknown event types are acknowledged and ignored", async () => {
  const { app, calls } = harness();
  const res = await app.request(
    "/sendry-unsub",
    await signed({ type: "contact.created", data: { email: "a@known.test" } }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, ignored: true });
  assert.equal(calls.length, 0);
});

Deno.test("a bad signature, a wrong key, a stale timestamp or missing headers give 401", async () => {
  const { app, calls } = harness();
  const tampered = await signed(unsubscribed());
  tampered.body = JSON.stringify(unsubscribed("mallory@known.test"));
  const wrongKey = await signed(unsubscribed(), "msg_x", `whsec_${btoa("not the sendry key")}`);
  const staleBody = JSON.stringify(unsubscribed());
  const stale: RequestInit = {
    method: "POST",
    headers: await standardWebhookHeaders(SECRET, {
      id: "msg_old",
      timestamp: new Date(Date.now() - 6 * 60_000),
      body: staleBody,
    }),
    body: staleBody,
  };
  const unsigned: RequestInit = { method: "POST", body: JSON.stringify(unsubscribed()) };
  for (const init of [tampered, wrongKey, stale, unsigned]) {
    const res = await app.request("/sendry-unsub", init);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "invalid_signature");
  }
  assert.equal(calls.length, 0);
});

Deno.test("null ids or a null created_at do not lose a verified unsubscribe", async () => {
  const { app, calls } = harness();
  const bodies = [
    { ...unsubscribed(), created_at: null },
    { ...unsubscribed(), data: { email: "ada@known.test", audience_id: null, contact_id: null } },
    { type: "contact.unsubscribed", data: { email: "ada@known.test" } },
  ];
  for (const [i, body] of bodies.entries()) {
    const res = await app.request("/sendry-unsub", await signed(body, `msg_null_${i}`));
    assert.equal(res.status, 200, JSON.stringify(body));
  }
  assert.deepEqual(calls.map((c) => c.email), ["ada@known.test", "ada@known.test", "ada@known.test"]);
  assert.equal(calls[0].occurredAt, undefined, "a null created_at means now (the RPC's default)");
  assert.equal(calls[1].occurredAt, "2026-11-25T10:00:00.000Z");
});

Deno.test("a created_at that is not an ISO date-time with an offset is ignored, not refused", async () => {
  const { app, calls } = harness();
  for (const createdAt of ["yesterday", "2026-11-25T10:00:00", 1764064800]) {
    const res = await app.request(
      "/sendry-unsub",
      await signed({ ...unsubscribed(), created_at: createdAt }),
    );
    assert.equal(res.status, 200, String(createdAt));
  }
  assert.deepEqual(calls.map((c) => c.occurredAt), [undefined, undefined, undefined]);
});

Deno.test("internationalised addresses are recorded; the address is passed on trimmed", async () => {
  const { app, calls } = harness();
  const emails = ["zoë@exämple.de", "用户@例子.广告", "José.Pérez@Known.Test", "o'brien+news@known.test"];
  for (const email of emails) {
    const res = await app.request("/sendry-unsub", await signed(unsubscribed(email)));
    assert.equal(res.status, 200, email);
  }
  const padded = await app.request("/sendry-unsub", await signed(unsubscribed("  ada@known.test ")));
  assert.equal(padded.status, 200);
  assert.deepEqual(calls.map((c) => c.email), [...emails, "ada@known.test"]);
});

Deno.test("malformed bodies give 400 and record nothing", async () => {
  const { app, calls } = harness();
  const event = (data: unknown) => ({ type: "contact.unsubscribed", data });
  const cases: Array<[unknown, string]> = [
    ["{not json", "invalid_json"],
    [[], "invalid_payload"],
    [{ data: {} }, "invalid_payload"],
    [{ type: "contact.unsubscribed" }, "invalid_payload"],
    [event(null), "invalid_payload"],
    [event({ email: null }), "invalid_payload"],
    [event({ email: 42 }), "invalid_payload"],
    [event({ email: "not-an-email" }), "invalid_payload"],
    [event({ email: "@known.test" }), "invalid_payload"],
    [event({ email: "ada@" }), "invalid_payload"],
    [event({ email: "ada lovelace@known.test" }), "invalid_payload"],
    [event({ email: `${"a".repeat(310)}@known.test` }), "invalid_payload"],
  ];
  for (const [body, code] of cases) {
    const res = await app.request("/sendry-unsub", await signed(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal((await res.json()).error, code);
  }
  assert.equal(calls.length, 0);
});

Deno.test("a failing RPC answers 500 so Sendry retries, without the internal error text", async () => {
  const { app, logs } = harness({ recorderFails: true });
  const res = await app.request("/sendry-unsub", await signed(unsubscribed()));
  assert.equal(res.status, 500);
  const body = await res.json();
  assert.equal(body.error, "internal_error");
  assert.doesNotMatch(body.message, /database is down/);
  assert.doesNotMatch(logs.join("\n"), /ada@known\.test/);
});
