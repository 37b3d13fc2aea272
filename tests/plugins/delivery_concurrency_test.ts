/**
 * Two processors at once (pg_cron overlapping an on-demand run, or two schedulers) never send one
 * delivery twice, nor write a queued delivery twice: both the claims and the writing of queued
 * deliveries (int.plugin_delivery_batches) use `for update skip locked`. A processor that meets an
 * uninstall in progress waits for it instead of failing its run, and neither an uninstall nor a
 * subscription delete deadlocks with a run that settles their deliveries.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { heldTransaction, waitUntilBlocked } from "../_support/held_transaction.ts";
import { startTestStack } from "../_support/stack.ts";
import {
  installReceiver,
  type ProcessCounts,
  processUntil,
  type Receiver,
  startReceiver,
  waitFor,
} from "./_receiver.ts";

const SECRET = "whsec-concurrency-0123456789";

/** The processor in a held transaction: its claims and batch locks stay until `release`. */
function heldProcessor(sql: postgres.Sql, limit: number) {
  const held = heldTransaction(sql, async (tx) => {
    const [{ counts }] = await tx<{ counts: ProcessCounts }[]>`
      select public.rpc_process_plugin_deliveries(${limit}::int) as counts`;
    return counts;
  });
  return { counts: held.result, release: held.release, done: held.done };
}

/**
 * Runs the processor once on a connection of its own, beside a held transaction. The run may wait
 * 5 s for a lock at most: a processor that waited for the held one instead of skipping its rows
 * fails with lock_not_available (55P03) rather than hanging the test.
 */
async function processOnOwnConnection(sql: postgres.Sql, limit: number): Promise<ProcessCounts> {
  const connection = await sql.reserve();
  try {
    await connection`set lock_timeout = '5s'`;
    const [{ counts }] = await connection<{ counts: ProcessCounts }[]>`
      select public.rpc_process_plugin_deliveries(${limit}::int) as counts`;
    return counts;
  } finally {
    await connection`reset lock_timeout`;
    connection.release();
  }
}

Deno.test("a processor skips the deliveries another processor has claimed but not yet committed", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const installation = await installReceiver(sql, receiver);
    await sql`
      insert into public.work_orders (tenant_id, title)
      select ${installation.tenantId}, 'Order ' || n from generate_series(1, 50) as n`;
    // The 50 deliveries are written as rows (an earlier run's step), so both processors compete
    // for the same due rows.
    const [{ written }] = await sql<{ written: number }[]>`
      select private.expand_plugin_delivery_batches(100000) as written`;
    assert.equal(written, 50);

    // The first processor claims 30 and holds its transaction open; the second runs meanwhile.
    const first = heldProcessor(sql, 30);
    try {
      const firstCounts = await first.counts;
      assert.deepEqual([firstCounts.queued, firstCounts.sent], [0, 30]);
      const second = await processOnOwnConnection(sql, 500);
      assert.equal(second.sent, 20, "the second processor takes only the 20 unclaimed deliveries");
    } finally {
      first.release();
      await first.done;
    }

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

Deno.test("a processor skips the queued deliveries another processor is writing, so none is written twice", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const installation = await installReceiver(sql, receiver);
    await sql`
      insert into public.work_orders (tenant_id, title)
      select ${installation.tenantId}, 'Order ' || n from generate_series(1, 50) as n`;

    // The first processor writes and claims 30 of the statement's 50 deliveries and holds its
    // transaction open: the statement's batch stays locked until it commits.
    const first = heldProcessor(sql, 30);
    try {
      const firstCounts = await first.counts;
      assert.deepEqual([firstCounts.queued, firstCounts.sent], [30, 30]);
      const second = await processOnOwnConnection(sql, 500);
      assert.deepEqual(
        [second.queued, second.sent],
        [0, 0],
        "the second processor neither writes the locked batch again nor sees its uncommitted rows",
      );
    } finally {
      first.release();
      await first.done;
    }
    const third = await processOnOwnConnection(sql, 500);
    assert.deepEqual([third.queued, third.sent], [20, 20], "the next run writes and sends the other 20");

    const [stats] = await sql`
      select (select count(*)::int from net.http_request_queue) as requests,
        (select count(*)::int from int.plugin_delivery_batches) as batches,
        (select count(*)::int from int.plugin_queued_deliveries) as still_queued,
        count(*)::int as deliveries,
        count(distinct audit_id)::int as changes,
        count(*) filter (where status = 'in_flight' and attempts = 1)::int as sent_once
      from int.plugin_deliveries where installation_id = ${installation.installationId}`;
    assert.deepEqual(stats, {
      requests: 50,
      batches: 0,
      still_queued: 0,
      deliveries: 50,
      changes: 50,
      sent_once: 50,
    });
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

Deno.test("a processor that meets an uninstall in progress waits for it, then drops its queued deliveries", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const installation = await installReceiver(sql, receiver);
    await sql`insert into public.work_orders (tenant_id, title) values (${installation.tenantId}, 'Uninstalled')`;

    // The uninstall has deleted the installation but not committed yet.
    const uninstall = heldTransaction(
      sql,
      (tx) => tx`select public.rpc_uninstall_plugin(${installation.installationId})`,
    );
    const connection = await sql.reserve();
    let processing: Promise<ProcessCounts>;
    try {
      await uninstall.result;
      const [{ pid }] = await connection<{ pid: number }[]>`select pg_backend_pid() as pid`;
      processing = connection<{ counts: ProcessCounts }[]>`
        select public.rpc_process_plugin_deliveries(100) as counts`.then(([{ counts }]) => counts);
      await waitUntilBlocked(sql, pid, "the processor to wait for the uninstall to end");
    } finally {
      uninstall.release();
      await uninstall.done;
    }

    const counts = await processing.finally(() => connection.release());
    assert.deepEqual(
      [counts.queued, counts.sent],
      [0, 0],
      "nothing is written or sent for the removed installation",
    );
    const [left] = await sql`
      select (select count(*)::int from int.plugin_delivery_batches) as batches,
        (select count(*)::int from int.plugin_deliveries) as deliveries,
        (select count(*)::int from net.http_request_queue) as requests`;
    assert.deepEqual(left, { batches: 0, deliveries: 0, requests: 0 });
  } finally {
    await receiver.close();
    await stack.close();
  }
});

/** Runs `query` on a connection of its own; the promise settles with its rows or its error. */
async function onOwnConnection(sql: postgres.Sql, query: (connection: postgres.Sql) => Promise<unknown>) {
  const connection = await sql.reserve();
  const [{ pid }] = await connection<{ pid: number }[]>`select pg_backend_pid() as pid`;
  let ended = false;
  const outcome = query(connection).then(
    () => ({ ok: true }),
    (e: postgres.PostgresError) => ({ ok: false, code: e.code, message: e.message }),
  ).finally(() => {
    ended = true;
    connection.release();
  });
  return { pid, outcome, ended: () => ended };
}

/**
 * An installation with one delivery sent and answered 2xx (the net worker is off: the response is
 * written here) and one change queued after it, so that the next run settles the first and writes the
 * second.
 */
async function oneToSettleOneQueued(sql: postgres.Sql, receiver: Receiver) {
  const installation = await installReceiver(sql, receiver);
  const [{ id: subscriptionId }] = await sql<{ id: string }[]>`
    select id from int.plugin_subscriptions where installation_id = ${installation.installationId}`;
  await sql`insert into public.work_orders (tenant_id, title) values (${installation.tenantId}, 'Sent')`;
  assert.equal((await processOnOwnConnection(sql, 100)).sent, 1);
  await sql`
    insert into net._http_response (id, status_code, content)
    select net_request_id, 200, 'ok' from int.plugin_deliveries where status = 'in_flight'`;
  await sql`insert into public.work_orders (tenant_id, title) values (${installation.tenantId}, 'Queued')`;
  return { installation, subscriptionId };
}

Deno.test("a processor settling a subscription's deliveries and a delete of that subscription do not deadlock", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const { installation, subscriptionId } = await oneToSettleOneQueued(sql, receiver);

    // Someone holds the installation row, so the run stops where it takes its locks on the
    // installation and subscription of the queued change.
    const holder = heldTransaction(
      sql,
      (tx) => tx`select 1 from int.plugin_installations where id = ${installation.installationId} for update`,
    );
    await holder.result;
    const processor = await onOwnConnection(sql, (c) => c`select public.rpc_process_plugin_deliveries(100)`);
    const deletion = await onOwnConnection(
      sql,
      (c) => c`delete from int.plugin_subscriptions where id = ${subscriptionId}`,
    );
    try {
      await waitUntilBlocked(sql, processor.pid, "the processor to wait for the installation");
      // The delete sets the subscription's deliveries' subscription_id to null: it may wait for the
      // processor, or end at once.
      await waitUntilBlocked(sql, deletion.pid, "the delete to wait or end", { orEnded: deletion.ended });
    } finally {
      holder.release();
      await holder.done;
    }

    assert.deepEqual(
      [await processor.outcome, await deletion.outcome],
      [{ ok: true }, { ok: true }],
      "both succeed: neither is aborted as a deadlock",
    );
    const rows = await sql`
      select status, subscription_id from int.plugin_deliveries order by created_at, status`;
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [{ status: "delivered", subscription_id: null }, { status: "in_flight", subscription_id: null }],
      "the sent delivery is settled and the queued one written and sent, both without the deleted subscription",
    );
  } finally {
    await receiver.close();
    await stack.close();
  }
});

Deno.test("a processor settling an installation's deliveries and an uninstall of it do not deadlock", async () => {
  const stack = await startTestStack({ netWorker: false });
  const receiver = await startReceiver(SECRET);
  try {
    const { sql } = stack;
    const { installation, subscriptionId } = await oneToSettleOneQueued(sql, receiver);

    // Someone holds the subscription, so the uninstall stops after it has taken the installation,
    // before it reaches the installation's deliveries.
    const holder = heldTransaction(
      sql,
      (tx) => tx`select 1 from int.plugin_subscriptions where id = ${subscriptionId} for update`,
    );
    await holder.result;
    const uninstall = await onOwnConnection(
      sql,
      (c) => c`delete from int.plugin_installations where id = ${installation.installationId}`,
    );
    let processor: Awaited<ReturnType<typeof onOwnConnection>>;
    try {
      await waitUntilBlocked(sql, uninstall.pid, "the uninstall to wait for the subscription");
      processor = await onOwnConnection(sql, (c) => c`select public.rpc_process_plugin_deliveries(100)`);
      await waitUntilBlocked(sql, processor.pid, "the processor to wait for the uninstall");
    } finally {
      holder.release();
      await holder.done;
    }

    assert.deepEqual(
      [await uninstall.outcome, await processor!.outcome],
      [{ ok: true }, { ok: true }],
      "both succeed: neither is aborted as a deadlock",
    );
    const [left] = await sql`
      select (select count(*)::int from int.plugin_delivery_batches) as batches,
        (select count(*)::int from int.plugin_deliveries) as deliveries`;
    assert.deepEqual(left, { batches: 0, deliveries: 0 }, "the uninstall took the installation's deliveries");
  } finally {
    await receiver.close();
    await stack.close();
  }
});
