/**
 * verifyWebhook() and signInboundWebhook(): the SDK's webhook helpers, checked against the
 * `standardwebhooks` package and against headers as the database's processor builds them.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import {
  type PluginDeliveryPayload,
  signInboundWebhook,
  verifyWebhook,
  WebhookError,
} from "../../sdk/mod.ts";
import { signHmacHex } from "../../supabase/functions/_shared/webhook_signature.ts";

const SECRET = "my_integration-hmac-plaintext";

function payload(id = crypto.randomUUID()): PluginDeliveryPayload {
  return {
    id,
    type: "work_orders.insert",
    tenant_id: crypto.randomUUID(),
    installation_id: crypto.randomUUID(),
    audit_id: 7,
    occurred_at: "2026-11-25T12:00:00+00:00",
    data: {
      table_schema: "public",
      table_name: "work_orders",
      op: "INSERT",
      record_id: crypto.randomUUID(),
      changed_fields: [],
    },
  };
}

/** The headers rpc_process_plugin_deliveries sends, built with the standardwebhooks package. */
async function databaseHeaders(body: string, id: string, secret = SECRET, at = new Date()) {
  return {
    "Content-Type": "application/json",
    "X-Plugin-Delivery-Id": id,
    "X-Plugin-Event-Type": "work_orders.insert",
    "X-Plugin-Signature": await signHmacHex(secret, body),
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(btoa(secret)).sign(id, at, body),
  };
}

async function rejects(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof WebhookError, `expected a WebhookError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  });
}

Deno.test("verifyWebhook accepts a delivery signed like the database signs it and returns it parsed", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const verified = await verifyWebhook(body, await databaseHeaders(body, delivery.id), SECRET);
  assert.equal(verified.id, delivery.id);
  assert.equal(verified.type, "work_orders.insert");
  assert.equal(verified.scheme, "standard-webhooks");
  assert.deepEqual(verified.payload, delivery);
});

Deno.test("verifyWebhook takes fetch Headers, Node-style header objects and raw bytes", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const headers = await databaseHeaders(body, delivery.id);
  const node = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
  assert.equal((await verifyWebhook(body, new Headers(headers), SECRET)).id, delivery.id);
  assert.equal((await verifyWebhook(new TextEncoder().encode(body), node, SECRET)).id, delivery.id);
});

Deno.test("verifyWebhook takes a Headers object that is not this runtime's own Headers class", async () => {
  // A fetch polyfill's Headers (or one from another realm) satisfies the Headers type but is no
  // `instanceof Headers`; its values live behind get()/forEach(), not in own properties.
  class PolyfillHeaders {
    readonly #map = new Map<string, string>();
    constructor(init: Record<string, string>) {
      for (const [name, value] of Object.entries(init)) this.#map.set(name.toLowerCase(), value);
    }
    get(name: string) {
      return this.#map.get(name.toLowerCase()) ?? null;
    }
    has(name: string) {
      return this.#map.has(name.toLowerCase());
    }
    forEach(callback: (value: string, name: string) => void) {
      this.#map.forEach((value, name) => callback(value, name));
    }
  }
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const headers = new PolyfillHeaders(await databaseHeaders(body, delivery.id)) as unknown as Headers;
  assert.equal((await verifyWebhook(body, headers, SECRET)).id, delivery.id);
});

Deno.test("verifyWebhook accepts X-Plugin-Signature alone only when allowXPluginSignature is set", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const headers: Record<string, string> = await databaseHeaders(body, delivery.id);
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) delete headers[name];
  const verified = await verifyWebhook(body, headers, SECRET, { allowXPluginSignature: true });
  assert.equal(verified.scheme, "x-plugin-signature");
  assert.equal(verified.timestamp, undefined);
});

Deno.test("verifyWebhook refuses a stale delivery replayed without its Standard Webhooks headers", async () => {
  // X-Plugin-Signature signs only the body, which has no time in it: a delivery captured a day ago
  // still carries a valid one. Dropping (or blanking) the webhook-* headers must not skip the
  // timestamp check.
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const dayOld = await databaseHeaders(body, delivery.id, SECRET, new Date(Date.now() - 86_400_000));
  await rejects(verifyWebhook(body, dayOld, SECRET), "timestamp_too_old");
  const stripped: Record<string, string> = { ...dayOld };
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) delete stripped[name];
  await rejects(verifyWebhook(body, stripped, SECRET), "missing_headers");
  await rejects(verifyWebhook(body, { ...dayOld, "webhook-signature": "" }, SECRET), "missing_headers");
  await rejects(
    verifyWebhook(body, { ...dayOld, "webhook-signature": "" }, SECRET, { allowXPluginSignature: true }),
    "missing_headers",
  );
});

Deno.test("verifyWebhook accepts any one matching signature of a space-separated list", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const headers = await databaseHeaders(body, delivery.id);
  const other = (await databaseHeaders(body, delivery.id, "rotated-out"))["webhook-signature"];
  const good = headers["webhook-signature"];
  for (const list of [`${other} ${good}`, `${good} ${other}`, `v2,${good.slice(3)} ${good}`]) {
    assert.equal(
      (await verifyWebhook(body, { ...headers, "webhook-signature": list }, SECRET)).id,
      delivery.id,
    );
  }
  await rejects(
    verifyWebhook(body, { ...headers, "webhook-signature": `${other} v2,${good.slice(3)}` }, SECRET),
    "invalid_signature",
  );
});

Deno.test("verifyWebhook refuses a wrong secret, changed bytes and missing headers", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  await rejects(
    verifyWebhook(body, await databaseHeaders(body, delivery.id, "wrong"), SECRET),
    "invalid_signature",
  );
  await rejects(
    verifyWebhook(JSON.stringify(delivery, null, 1), await databaseHeaders(body, delivery.id), SECRET),
    "invalid_signature",
  );
  const hexOnly: Record<string, string> = await databaseHeaders(body, delivery.id, "wrong");
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) delete hexOnly[name];
  await rejects(verifyWebhook(body, hexOnly, SECRET, { allowXPluginSignature: true }), "invalid_signature");
  await rejects(verifyWebhook(body, { "content-type": "application/json" }, SECRET), "missing_headers");
});

Deno.test("verifyWebhook refuses timestamps more than 5 minutes off", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const old = await databaseHeaders(body, delivery.id, SECRET, new Date(Date.now() - 301_000));
  await rejects(verifyWebhook(body, old, SECRET), "timestamp_too_old");
  const future = await databaseHeaders(body, delivery.id, SECRET, new Date(Date.now() + 301_000));
  await rejects(verifyWebhook(body, future, SECRET), "timestamp_too_new");
  assert.equal((await verifyWebhook(body, old, SECRET, { toleranceSeconds: 600 })).id, delivery.id);
});

Deno.test("verifyWebhook refuses a body whose id is not the signed delivery id", async () => {
  const delivery = payload();
  const body = JSON.stringify(delivery);
  const otherId = crypto.randomUUID();
  await rejects(verifyWebhook(body, await databaseHeaders(body, otherId), SECRET), "delivery_id_mismatch");
});

Deno.test("signInboundWebhook signs what the standardwebhooks package verifies", async () => {
  const signed = await signInboundWebhook({
    action: "work_order.set_status",
    args: { work_order_id: "aaaaaaaa-aaaa-4000-8000-00000000a001", status: "done" },
    deliveryId: "partner-7",
  }, SECRET);
  assert.equal(signed.headers["content-type"], "application/json");
  assert.equal(signed.headers["webhook-id"], "partner-7");
  const verified = new Webhook(btoa(SECRET)).verify(signed.body, signed.headers);
  assert.deepEqual(verified, {
    action: "work_order.set_status",
    args: { work_order_id: "aaaaaaaa-aaaa-4000-8000-00000000a001", status: "done" },
  });
  const random = await signInboundWebhook({ action: "work_order.add_comment", args: {} }, SECRET);
  assert.match(random.headers["webhook-id"], /^in_[0-9a-f-]{36}$/);
});
