/**
 * Two processors at once (pg_cron overlapping an on-demand run, or two schedulers) never send one
 * delivery twice: claims use `for update skip locked`.
 */
import assert from "node:assert/strict";
import { startTestStack } from "../_support/stack.ts";
import { installReceiver, type ProcessCounts, processUntil, startReceiver, waitFor } from "./_receiver.ts";

const SECRET = "whsec-concurrency-0123456789";

Deno.test("a processor skips the deliveries another processor has claimed but not yet committed", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const installation = await installReceiver(sql, receiver);
    await sql`
      insert into public.work_orders (tenant_id, title)
      select ${installation.tenantId}, 'Order ' || n from generate_series(1, 50) as n`;

    // The first processor claims 30 and holds its transaction open; the second runs meanwhile.
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    let claimed!: () => void;
    const firstClaimed = new Promise<void>((resolve) => claimed = resolve);
    const first = sql.begin(async (tx) => {
      const [{ counts }] = await tx<{ counts: ProcessCounts }[]>`
        select public.rpc_process_plugin_deliveries(30) as counts`;
      claimed();
      await held;
      return counts;
    });
    await firstClaimed;
    const second = await sql.reserve();
    try {
      const [{ counts }] = await second<{ counts: ProcessCounts }[]>`
        select public.rpc_process_plugin_deliveries(500) as counts`;
      assert.equal(counts.sent, 20, "the second processor takes only the 20 unclaimed deliveries");
    } finally {
      second.release();
    }
    release();
    assert.equal((await first).sent, 30);

    const [{ requests, in_flight, max_attempts }] = await sql<
      { requests: number; in_flight: number; max_attempts: number }[]
    >`
      select (select count(*)::int from net.http_request_queue) as requests,
        count(*) filter (where status = 'in_flight')::int as in_flight,
        max(attempts)::int as max_attempts
      from int.plugin_deliveries where installation_id = ${installation.installationId}`;
    assert.deepEqual({ requests, in_flight, max_attempts }, { requests: 50, in_flight: 50, max_attempts: 1 });
  } finally {
    await receiver.close();
    await stack.close();
  }
});

Deno.test("two processors running concurrently deliver every delivery exactly once", async () => {
  const stack = await startTestStack();
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const installation = await installReceiver(sql, receiver);
    const total = 600;
    await sql`
      insert into public.work_orders (tenant_id, title)
      select ${installation.tenantId}, 'Order ' || n from generate_series(1, ${total}::int) as n`;

    // Two loops, each on its own connection, both claiming small batches as fast as they can.
    const run = () =>
      processUntil(sql, "every delivery delivered", () => receiver.received.length >= total, {
        limit: 70,
        timeoutMs: 30_000,
      });
    const [a, b] = await Promise.all([run(), run()]);
    assert.equal(a.sent + b.sent, total, "together they sent each delivery once");
    assert.ok(a.sent > 0 && b.sent > 0, `both processors sent (${a.sent} and ${b.sent})`);

    await processUntil(sql, "all reconciled", async () => {
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from int.plugin_deliveries
        where installation_id = ${installation.installationId} and status = 'delivered'`;
      return n === total;
    }, { timeoutMs: 10_000 });
    assert.deepEqual(receiver.rejected, []);
    const counts = receiver.countById();
    assert.equal(counts.size, total);
    assert.ok([...counts.values()].every((n) => n === 1), "no delivery arrived twice");
    await waitFor("nothing left in flight", async () => {
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from int.plugin_deliveries where attempts <> 1`;
      return n === 0 ? true : undefined;
    });
  } finally {
    await receiver.close();
    await stack.close();
  }
});
