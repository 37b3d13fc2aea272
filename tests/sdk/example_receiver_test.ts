/**
 * plugins/example/receiver.ts, the receiver partners copy: it verifies before it acknowledges, answers
 * before it does the work, and survives work that fails.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { createExampleReceiver, type ReceivedDelivery } from "../../plugins/example/receiver.ts";

const SECRET = "example-receiver-secret";

function signedRequest(secret = SECRET, id: string = crypto.randomUUID()): Request {
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

Deno.test("the example receiver processes a redelivery of a delivery whose work failed", async () => {
  let calls = 0;
  const receiver = createExampleReceiver(SECRET, () => {
    calls++;
    if (calls === 1) throw new Error("backend down");
  });
  const id = crypto.randomUUID();
  const { lines } = await capturingErrors(async () => {
    assert.deepEqual(await (await receiver.handler(signedRequest(SECRET, id))).json(), {
      received: true,
      verified: true,
      duplicate: false,
    });
    await tick();
  });
  assert.equal(lines.length, 1, "the failure is logged");
  const again = await receiver.handler(signedRequest(SECRET, id));
  assert.equal((await again.json()).duplicate, false, "the failed delivery was forgotten");
  await tick();
  assert.equal(calls, 2);
  const third = await receiver.handler(signedRequest(SECRET, id));
  assert.equal((await third.json()).duplicate, true, "once the work succeeded, a redelivery is a duplicate");
  await tick();
  assert.equal(calls, 2);
});

Deno.test("the example receiver remembers a bounded number of delivery ids, forgetting the oldest first", async () => {
  const receiver = createExampleReceiver(SECRET, undefined, { maxSeen: 2 });
  const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
  const duplicate = async (id: string) =>
    (await (await receiver.handler(signedRequest(SECRET, id))).json()).duplicate;
  assert.equal(await duplicate(a), false);
  assert.equal(await duplicate(b), false);
  assert.equal(await duplicate(a), true);
  assert.equal(await duplicate(c), false); // a, the oldest, is forgotten
  assert.equal(await duplicate(b), true);
  assert.equal(await duplicate(c), true);
  assert.equal(await duplicate(a), false);
});

Deno.test("the example receiver refuses an oversized body with 413 before reading it all or verifying", async () => {
  let calls = 0;
  const receiver = createExampleReceiver(SECRET, () => void calls++, { maxBodyBytes: 1024 });
  const declared = await receiver.handler(
    new Request("http://127.0.0.1/hooks/example", {
      method: "POST",
      body: "x".repeat(2048),
      headers: { "content-type": "application/json", "content-length": "2048" },
    }),
  );
  assert.equal(declared.status, 413);
  assert.equal((await declared.json()).error, "payload_too_large");

  // No Content-Length: a stream that would go on for a megabyte is cut off at the limit.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 512;
      if (pulled > 1024 * 1024) controller.close();
      else controller.enqueue(new Uint8Array(512).fill(120));
    },
  });
  const streamed = await receiver.handler(
    new Request("http://127.0.0.1/hooks/example", { method: "POST", body: endless }),
  );
  assert.equal(streamed.status, 413);
  assert.equal((await streamed.json()).error, "payload_too_large");
  assert.ok(pulled <= 4 * 1024, `read ${pulled} bytes`);
  await tick();
  assert.equal(calls, 0);
  assert.equal(receiver.refused, 2);
  assert.equal((await receiver.handler(signedRequest())).status, 200, "a delivery within the limit passes");
});

Deno.test("the example receiver keeps only the most recent accepted deliveries, so a long run does not grow without bound", async () => {
  const receiver = createExampleReceiver(SECRET);
  const ids: string[] = [];
  for (let i = 0; i < 150; i++) {
    const id = crypto.randomUUID();
    ids.push(id);
    assert.equal((await receiver.handler(signedRequest(SECRET, id))).status, 200);
  }
  assert.equal(receiver.received.length, 100);
  assert.deepEqual(receiver.received.map((r) => r.id), ids.slice(-100), "the newest, in arrival order");
});
