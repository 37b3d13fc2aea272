/**
 * A 10,000-row insert: every delivery reaches the receiver and is acknowledged, none is lost, and
 * each arrives exactly once (no retry is forced here).
 */
import assert from "node:assert/strict";
import { startTestStack } from "../_support/stack.ts";
import { installReceiver, processUntil, startReceiver, waitFor } from "./_receiver.ts";

const ROWS = 10_000;

Deno.test("every delivery of a 10,000-row insert arrives exactly once and ends delivered", async () => {
  const started = performance.now();
  const stack = await startTestStack();
  const receiver = await startReceiver("whsec-load-0123456789");
  try {
    const { sql } = stack;
    // pg_net sends batch_size requests per round with a pause between rounds; raise it (a setting
    // Supabase users tune too) so 10,000 requests go out in a few rounds, and restart the worker so
    // that its new sessions read it.
    const [{ current_database: database }] = await sql`select current_database()`;
    await sql.unsafe(`alter database "${database}" set pg_net.batch_size = 2500`);
    await sql`select net.worker_restart()`;
    const installation = await installReceiver(sql, receiver, { timeoutMs: 20_000 });

    await sql`
      insert into public.work_orders (tenant_id, title)
      select ${installation.tenantId}, 'Order ' || n from generate_series(1, ${ROWS}::int) as n`;
    // Queued by the insert's commit, written as delivery rows by the processor.
    const [{ n: queued, ids }] = await sql<{ n: number; ids: number }[]>`
      select count(*)::int as n, count(distinct id)::int as ids
      from int.plugin_queued_deliveries where installation_id = ${installation.installationId}`;
    assert.deepEqual({ queued, ids }, { queued: ROWS, ids: ROWS }, "one delivery per inserted row");

    const sent = await processUntil(sql, "all deliveries sent", (t) => t.sent >= ROWS, {
      limit: ROWS,
      timeoutMs: 20_000,
    });
    assert.deepEqual([sent.queued, sent.sent], [ROWS, ROWS]);
    await waitFor(
      `${ROWS} deliveries at the receiver`,
      () => receiver.received.length >= ROWS || undefined,
      40_000,
    );
    const done = await processUntil(sql, "all delivered", (t) => t.delivered >= ROWS, {
      limit: ROWS,
      timeoutMs: 20_000,
    });
    assert.equal(done.delivered, ROWS);
    assert.equal(done.retried + done.dead + done.expired_leases, 0, "nothing had to be retried");

    const [{ rows, delivered, attempts }] = await sql<
      { rows: number; delivered: number; attempts: number }[]
    >`
      select count(*)::int as rows, count(*) filter (where status = 'delivered')::int as delivered,
        sum(attempts)::int as attempts
      from int.plugin_deliveries where installation_id = ${installation.installationId}`;
    assert.deepEqual({ rows, delivered, attempts }, { rows: ROWS, delivered: ROWS, attempts: ROWS });
    assert.deepEqual(receiver.rejected, []);
    const counts = receiver.countById();
    assert.equal(counts.size, ROWS, "every delivery arrived");
    assert.ok([...counts.values()].every((n) => n === 1), "none arrived twice");
    console.log(`10,000 deliveries end to end in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await receiver.close();
    await stack.close();
  }
});
