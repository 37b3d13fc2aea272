/**
 * plugins/example/receiver.ts, the receiver partners copy: it verifies before it acknowledges, answers
 * before it does the work, and survives work that fails.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { createExampleReceiver, type ReceivedDelivery } from "../../plugins/example/receiver.ts";

const SECRET = "example-receiver-secret";

function signedRequest(secret = SECRET): Request {
  const id = crypto.randomUUID();
  const body = JSON.stringify({ id, type: "work_orders.insert", data: { op: "INSERT" } });
  const now = new Date();
  return new Request("http://127.0.0.1/hooks/example", {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(btoa(secret)).sign(id, now, body),
    },
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

/** Runs `fn` with console.error captured. */
async function capturingErrors<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    return { result: await fn(), lines };
  } finally {
    console.error = original;
  }
}

Deno.test("the example receiver answers before it runs the delivery's work", async () => {
  const worked: ReceivedDelivery[] = [];
  const receiver = createExampleReceiver(SECRET, (delivery) => void worked.push(delivery));
  const res = await receiver.handler(signedRequest());
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, verified: true, duplicate: false });
  assert.equal(worked.length, 0, "the work must not run before the answer is returned");
  await tick();
  assert.equal(worked.length, 1);
});

Deno.test("the example receiver keeps serving when the work throws or rejects", async () => {
  let calls = 0;
  const receiver = createExampleReceiver(SECRET, (delivery) => {
    calls++;
    if (calls === 1) throw new Error(`backend down for ${delivery.id}`);
    return Promise.reject(new Error("backend still down"));
  });
  const { lines } = await capturingErrors(async () => {
    for (let i = 0; i < 2; i++) assert.equal((await receiver.handler(signedRequest())).status, 200);
    await tick();
  });
  assert.equal(calls, 2);
  assert.equal(lines.length, 2);
  for (const line of lines) {
    const logged = JSON.parse(line);
    assert.equal(logged.event, "delivery_work_failed");
    assert.match(logged.delivery_id, /^[0-9a-f-]{36}$/);
    assert.ok(!line.includes(SECRET));
  }
});

Deno.test("the example receiver refuses a wrong secret with 401 and runs no work", async () => {
  let calls = 0;
  const receiver = createExampleReceiver(SECRET, () => void calls++);
  const res = await receiver.handler(signedRequest("not-the-secret"));
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, "invalid_signature");
  await tick();
  assert.equal(calls, 0);
  assert.equal(receiver.refused, 1);
  assert.deepEqual(receiver.received, []);
});
