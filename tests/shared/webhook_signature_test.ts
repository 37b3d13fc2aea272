/**
 * supabase/functions/_shared/webhook_signature.ts: hex HMAC and Standard Webhooks, checked against
 * known vectors and against the `standardwebhooks` npm package in both directions.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import {
  decodeWebhookSecret,
  secretEquals,
  signHmacHex,
  signStandardWebhook,
  standardWebhookHeaders,
  timingSafeEqual,
  verifyHmacHex,
  verifyStandardWebhook,
  WebhookVerificationError,
} from "../../supabase/functions/_shared/webhook_signature.ts";

const KEY_BYTES = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const WHSEC = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;
const AUTH_HOOK_SECRET = `v1,${WHSEC}`;
const NOW_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const NOW_S = NOW_MS / 1000;
const now = () => NOW_MS;

async function rejects(promise: Promise<unknown>, code: string): Promise<WebhookVerificationError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof WebhookVerificationError, `expected a WebhookVerificationError, got ${error}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected a failure with code ${code}`);
}

Deno.test("signHmacHex() matches node:crypto's HMAC-SHA256 hex of the same bytes", async () => {
  const body = '{"event":"work_order.created","id":"ü"}';
  const expected = createHmac("sha256", "raw-secret").update(body, "utf8").digest("hex");
  assert.equal(await signHmacHex("raw-secret", body), expected);
  assert.equal(await signHmacHex("raw-secret", new TextEncoder().encode(body)), expected);
});

Deno.test("verifyHmacHex() accepts the right signature in any case and with a sha256= prefix", async () => {
  const sig = await signHmacHex("k", "body");
  assert.equal(await verifyHmacHex("k", "body", sig), true);
  assert.equal(await verifyHmacHex("k", "body", sig.toUpperCase()), true);
  assert.equal(await verifyHmacHex("k", "body", `sha256=${sig}`), true);
});

Deno.test("verifyHmacHex() rejects a wrong key, a changed body and malformed signatures", async () => {
  const sig = await signHmacHex("k", "body");
  assert.equal(await verifyHmacHex("other", "body", sig), false);
  assert.equal(await verifyHmacHex("k", "body ", sig), false);
  for (const bad of [null, undefined, "", "zz", sig.slice(0, -1), `${sig}00`, "not hex at all"]) {
    assert.equal(await verifyHmacHex("k", "body", bad), false, `signature ${bad}`);
  }
});

Deno.test("decodeWebhookSecret() reads whsec_, v1,whsec_ and raw secrets", () => {
  assert.deepEqual(decodeWebhookSecret(WHSEC), KEY_BYTES);
  assert.deepEqual(decodeWebhookSecret(AUTH_HOOK_SECRET), KEY_BYTES);
  assert.deepEqual(decodeWebhookSecret("plain-secret"), new TextEncoder().encode("plain-secret"));
  assert.deepEqual(decodeWebhookSecret(WHSEC, "raw"), new TextEncoder().encode(WHSEC));
  assert.deepEqual(decodeWebhookSecret(btoa("xyz"), "base64"), new TextEncoder().encode("xyz"));
  assert.deepEqual(decodeWebhookSecret(KEY_BYTES), KEY_BYTES);
});

Deno.test("decodeWebhookSecret() refuses empty and non-base64 secrets without echoing them", () => {
  assert.throws(() => decodeWebhookSecret(""), /must not be empty/);
  assert.throws(() => decodeWebhookSecret("whsec_"), /not valid base64|must not be empty/);
  try {
    decodeWebhookSecret("whsec_!!not-base64-SECRETVALUE!!");
    assert.fail("expected an error");
  } catch (error) {
    assert.match((error as Error).message, /not valid base64/);
    assert.doesNotMatch((error as Error).message, /SECRETVALUE/);
  }
});

Deno.test("signStandardWebhook() produces what the standardwebhooks package produces", async () => {
  const body = '{"type":"contact.unsubscribed","data":{"email":"a@example.com"}}';
  const date = new Date(NOW_MS);
  const theirs = new Webhook(WHSEC).sign("msg_1", date, body);
  assert.equal(await signStandardWebhook(WHSEC, { id: "msg_1", timestamp: date, body }), theirs);
  assert.equal(await signStandardWebhook(AUTH_HOOK_SECRET, { id: "msg_1", timestamp: NOW_S, body }), theirs);
  const rawTheirs = new Webhook("raw secret", { format: "raw" }).sign("msg_1", date, body);
  assert.equal(await signStandardWebhook("raw secret", { id: "msg_1", timestamp: NOW_S, body }), rawTheirs);
});

Deno.test("the standardwebhooks package verifies what standardWebhookHeaders() signs", async () => {
  const body = JSON.stringify({ metadata: { name: "before-user-created" }, user: { id: "u" } });
  const headers = await standardWebhookHeaders(AUTH_HOOK_SECRET, {
    id: "msg_2",
    timestamp: new Date(),
    body,
  });
  // Supabase's own docs strip "v1,whsec_" before handing the base64 part to the package.
  const parsed = new Webhook(AUTH_HOOK_SECRET.replace("v1,whsec_", "")).verify(body, { ...headers });
  assert.deepEqual(parsed, JSON.parse(body));
});

Deno.test("verifyStandardWebhook() accepts what the standardwebhooks package signs", async () => {
  const body = '{"hello":"wörld"}';
  const signature = new Webhook(WHSEC).sign("msg_3", new Date(NOW_MS), body);
  const headers = new Headers({
    "webhook-id": "msg_3",
    "webhook-timestamp": String(NOW_S),
    "webhook-signature": signature,
  });
  assert.deepEqual(await verifyStandardWebhook(WHSEC, body, headers, { now }), {
    id: "msg_3",
    timestamp: NOW_S,
  });
  assert.deepEqual(
    await verifyStandardWebhook(AUTH_HOOK_SECRET, new TextEncoder().encode(body), headers, { now }),
    {
      id: "msg_3",
      timestamp: NOW_S,
    },
  );
});

Deno.test("verifyStandardWebhook() finds the matching one of several listed signatures", async () => {
  const body = "{}";
  const good = await signStandardWebhook(WHSEC, { id: "m", timestamp: NOW_S, body });
  const other = await signStandardWebhook(`whsec_${btoa("another key")}`, {
    id: "m",
    timestamp: NOW_S,
    body,
  });
  const headers = {
    "Webhook-Id": "m",
    "Webhook-Timestamp": String(NOW_S),
    "Webhook-Signature": `v2,abc ${other} v1,not-base64!! ${good}`,
  };
  assert.equal((await verifyStandardWebhook(WHSEC, body, headers, { now })).id, "m");
});

Deno.test("verifyStandardWebhook() rejects missing headers", async () => {
  const error = await rejects(verifyStandardWebhook(WHSEC, "{}", new Headers(), { now }), "missing_headers");
  assert.match(error.message, /webhook-id/);
  await rejects(
    verifyStandardWebhook(WHSEC, "{}", { "webhook-id": "m", "webhook-timestamp": String(NOW_S) }, { now }),
    "missing_headers",
  );
});

Deno.test("verifyStandardWebhook() rejects a timestamp older than five minutes", async () => {
  const old = NOW_S - 301;
  const signature = await signStandardWebhook(WHSEC, { id: "m", timestamp: old, body: "{}" });
  const headers = { "webhook-id": "m", "webhook-timestamp": String(old), "webhook-signature": signature };
  await rejects(verifyStandardWebhook(WHSEC, "{}", headers, { now }), "timestamp_too_old");
  // Exactly five minutes is still inside the window.
  const edge = NOW_S - 300;
  const edgeSig = await signStandardWebhook(WHSEC, { id: "m", timestamp: edge, body: "{}" });
  await verifyStandardWebhook(WHSEC, "{}", {
    "webhook-id": "m",
    "webhook-timestamp": String(edge),
    "webhook-signature": edgeSig,
  }, { now });
});

Deno.test("verifyStandardWebhook() rejects a timestamp more than five minutes ahead", async () => {
  const ahead = NOW_S + 301;
  const signature = await signStandardWebhook(WHSEC, { id: "m", timestamp: ahead, body: "{}" });
  const headers = { "webhook-id": "m", "webhook-timestamp": String(ahead), "webhook-signature": signature };
  await rejects(verifyStandardWebhook(WHSEC, "{}", headers, { now }), "timestamp_too_new");
});

Deno.test("verifyStandardWebhook() rejects a timestamp that is not unix seconds", async () => {
  for (const bad of ["12abc", "-5", "1.5", "2026-01-01T00:00:00Z"]) {
    await rejects(
      verifyStandardWebhook(WHSEC, "{}", {
        "webhook-id": "m",
        "webhook-timestamp": bad,
        "webhook-signature": "v1,x",
      }, {
        now,
      }),
      "invalid_timestamp",
    );
  }
});

Deno.test("verifyStandardWebhook() rejects a changed body, another id, another key and a re-encoded body", async () => {
  const body = '{"a": 1}';
  const headers = await standardWebhookHeaders(WHSEC, { id: "m", timestamp: NOW_S, body });
  const error = await rejects(
    verifyStandardWebhook(WHSEC, '{"a": 2}', headers, { now }),
    "no_matching_signature",
  );
  assert.match(error.message, /raw body/);
  assert.doesNotMatch(error.message, new RegExp(headers["webhook-signature"].slice(3, 20)));
  await rejects(verifyStandardWebhook(WHSEC, '{"a":1}', headers, { now }), "no_matching_signature");
  await rejects(
    verifyStandardWebhook(WHSEC, body, { ...headers, "webhook-id": "other" }, { now }),
    "no_matching_signature",
  );
  await rejects(
    verifyStandardWebhook(`whsec_${btoa("wrong")}`, body, headers, { now }),
    "no_matching_signature",
  );
});

Deno.test("timingSafeEqual() and secretEquals() compare exactly", async () => {
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
  assert.equal(await secretEquals("s3cret", "s3cret"), true);
  assert.equal(await secretEquals("s3cret", "s3cre"), false);
  assert.equal(await secretEquals("", ""), false, "an empty expected secret never matches");
});

Deno.test("the HMAC key is imported once per secret and then reused", async () => {
  const subtle = crypto.subtle as SubtleCrypto & { importKey: SubtleCrypto["importKey"] };
  const original = subtle.importKey;
  let imports = 0;
  subtle.importKey = ((...args: Parameters<SubtleCrypto["importKey"]>) => {
    imports++;
    return original.apply(subtle, args);
  }) as SubtleCrypto["importKey"];
  try {
    const secret = `cache-test-${crypto.randomUUID()}`;
    await signHmacHex(secret, "a");
    await signHmacHex(secret, "b");
    await verifyHmacHex(secret, "a", await signHmacHex(secret, "a"));
    assert.equal(imports, 1, "one import for one secret");
    await signHmacHex(`${secret}-other`, "a");
    assert.equal(imports, 2, "another secret gets its own key");
  } finally {
    subtle.importKey = original;
  }
});

Deno.test("verifyStandardWebhook() accepts any of several secrets during a rotation", async () => {
  const body = "{}";
  const oldSecret = `whsec_${btoa("the old key")}`;
  const newSecret = `whsec_${btoa("the new key")}`;
  const signedWithOld = await standardWebhookHeaders(oldSecret, { id: "m", timestamp: NOW_S, body });
  assert.equal((await verifyStandardWebhook([newSecret, oldSecret], body, signedWithOld, { now })).id, "m");
  await rejects(verifyStandardWebhook([newSecret], body, signedWithOld, { now }), "no_matching_signature");
});
