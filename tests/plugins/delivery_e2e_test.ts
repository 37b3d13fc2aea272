/**
 * Outbound plugin deliveries end to end on the local stack: work order inserts -> deliveries ->
 * rpc_process_plugin_deliveries -> the pg_net worker -> a loopback receiver that verifies both
 * signatures on the raw bytes -> the processor again -> delivered. Plus the faults a receiver or
 * pg_net can cause: errors, timeouts, a receiver that is down, and lost responses.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import type postgres from "postgres";
import { startTestStack } from "../_support/stack.ts";
import {
  type Installation,
  installReceiver,
  processDeliveries,
  processUntil,
  type Receiver,
  startReceiver,
  waitFor,
} from "./_receiver.ts";

const SECRET = "whsec-e2e-0123456789abcdef";

interface DeliveryRow {
  id: string;
  status: string;
  attempts: number;
  event_type: string;
  payload: Record<string, unknown>;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

function deliveries(sql: postgres.Sql, installation: Installation): Promise<DeliveryRow[]> {
  return sql<DeliveryRow[]>`
    select id, status, attempts, event_type, payload, last_status_code, last_error, delivered_at
    from int.plugin_deliveries
    where installation_id = ${installation.installationId}
    order by created_at, id`;
}

interface AttemptRow {
  attempt: number;
  status_code: number | null;
  error: string | null;
  timed_out: boolean;
  duration_ms: number | null;
  response_excerpt: string | null;
}

function attempts(sql: postgres.Sql, deliveryId: string): Promise<AttemptRow[]> {
  return sql<AttemptRow[]>`
    select attempt, status_code, error, timed_out, duration_ms, response_excerpt
    from int.plugin_delivery_attempts where delivery_id = ${deliveryId} order by id`;
}

function insertWorkOrders(sql: postgres.Sql, installation: Installation, titles: string[]) {
  return sql`
    insert into public.work_orders (tenant_id, title)
    select ${installation.tenantId}, t from unnest(${titles}::text[]) as t`;
}

/** Waits until pg_net recorded a response for every in-flight delivery of the installation. */
function responsesRecorded(sql: postgres.Sql, installation: Installation, count: number) {
  return waitFor(`${count} pg_net responses`, async () => {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from int.plugin_deliveries d
      join net._http_response r on r.id = d.net_request_id
      where d.installation_id = ${installation.installationId} and d.status = 'in_flight'`;
    return n >= count ? n : undefined;
  });
}

/** Makes failed deliveries due now instead of sleeping through their backoff. */
function makeDue(sql: postgres.Sql, installation: Installation) {
  return sql`
    update int.plugin_deliveries set next_attempt_at = now()
    where installation_id = ${installation.installationId} and status = 'failed'`;
}

async function withDeliveryStack(
  fn: (
    sql: postgres.Sql,
    receiver: Receiver,
    stack: Awaited<ReturnType<typeof startTestStack>>,
  ) => Promise<void>,
) {
  const stack = await startTestStack();
  const receiver = await startReceiver(SECRET);
  try {
    await fn(stack.sql, receiver, stack);
  } finally {
    await receiver.close();
    await stack.close();
  }
}

Deno.test("work order inserts reach the receiver signed, verified on the raw bytes, and end delivered", async () => {
  await withDeliveryStack(async (sql, receiver, stack) => {
    const installation = await installReceiver(sql, receiver, {
      headers: { "X-Partner": "acme" },
      includePayload: true,
    });
    // Non-ASCII text makes the byte-exactness of the signature matter.
    await insertWorkOrders(sql, installation, ["Pump 7 leaks", "Kühlraum zu warm – 8 °C", "Valve 💧 drips"]);
    // Queued with the change: listed as pending with their final ids and bodies before any processor ran.
    const service = createClient(stack.apiUrl, stack.serviceRoleKey, { auth: { persistSession: false } });
    const listed = await service.rpc("rpc_list_recent_deliveries", {
      p_tenant_id: installation.tenantId,
      p_installation_id: installation.installationId,
    });
    assert.equal(listed.error, null);
    const pending: Pick<DeliveryRow, "id" | "status" | "attempts" | "payload">[] = listed.data;
    assert.deepEqual(pending.map((d) => [d.status, d.attempts]), [["pending", 0], ["pending", 0], [
      "pending",
      0,
    ]]);

    // The service role runs the processor through the API, as a backend or pg_cron would.
    const { data: counts, error } = await service.rpc("rpc_process_plugin_deliveries", { p_limit: 100 });
    assert.equal(error, null);
    assert.deepEqual([counts.queued, counts.sent], [3, 3]);

    await waitFor("three deliveries at the receiver", () => receiver.received.length >= 3 || undefined);
    await processUntil(sql, "three delivered", (t) => t.delivered >= 3);

    const rows = await deliveries(sql, installation);
    assert.deepEqual(rows.map((d) => [d.status, d.attempts]), [["delivered", 1], ["delivered", 1], [
      "delivered",
      1,
    ]]);
    assert.ok(rows.every((d) => d.delivered_at instanceof Date));
    assert.deepEqual(
      new Map(rows.map((d) => [d.id, d.payload])),
      new Map(pending.map((d) => [d.id, d.payload])),
      "the deliveries sent are the ones listed while queued: same ids, same bodies",
    );
    assert.deepEqual(receiver.rejected, [], "every request verified");
    assert.deepEqual([...receiver.countById().values()], [1, 1, 1], "each delivery arrived once");
    for (const row of rows) {
      const got = receiver.received.find((r) => r.id === row.id);
      assert.ok(got, `delivery ${row.id} arrived`);
      assert.deepEqual(got.payload, row.payload, "the body is the stored payload");
      assert.equal(got.eventType, row.event_type);
      assert.equal(got.headers["content-type"], "application/json");
      assert.equal(got.headers["x-partner"], "acme", "the installation's own headers are sent");
      const [attempt] = await attempts(sql, row.id);
      assert.equal(attempt.status_code, 200);
      assert.equal(attempt.response_excerpt, "ok");
      assert.ok(attempt.duration_ms !== null && attempt.duration_ms >= 0);
    }
    const titles = receiver.received.map((r) => JSON.stringify(r.payload));
    assert.ok(titles.some((t) => t.includes("Kühlraum zu warm – 8 °C")), "non-ASCII text arrives intact");

    // Nobody else may run the processor.
    const anon = createClient(stack.apiUrl, stack.anonKey, { auth: { persistSession: false } });
    const denied = await anon.rpc("rpc_process_plugin_deliveries", { p_limit: 1 });
    assert.equal(denied.error?.code, "42501");
  });
});

Deno.test("a delivery answered 500 is retried after its backoff and then delivered", async () => {
  await withDeliveryStack(async (sql, receiver) => {
    const installation = await installReceiver(sql, receiver);
    receiver.respond = (d) => d.seen === 1 ? { status: 500, body: "database is down" } : { status: 200 };
    await insertWorkOrders(sql, installation, ["Retry me"]);

    assert.equal((await processDeliveries(sql)).sent, 1);
    await responsesRecorded(sql, installation, 1);
    const first = await processDeliveries(sql);
    assert.equal(first.retried, 1);
    const [failed] = await deliveries(sql, installation);
    assert.equal(failed.status, "failed");
    assert.equal(failed.last_status_code, 500);
    assert.equal(failed.last_error, "HTTP 500");

    // Not resent before its backoff; then made due instead of sleeping through it.
    assert.equal((await processDeliveries(sql)).sent, 0);
    await makeDue(sql, installation);
    assert.equal((await processDeliveries(sql)).sent, 1);
    await waitFor("the retry at the receiver", () => receiver.received.length >= 2 || undefined);
    await processUntil(sql, "the retry delivered", (t) => t.delivered >= 1);

    const [delivered] = await deliveries(sql, installation);
    assert.equal(delivered.status, "delivered");
    assert.equal(delivered.attempts, 2);
    assert.deepEqual(
      (await attempts(sql, delivered.id)).map((a) => [a.attempt, a.status_code, a.response_excerpt]),
      [[1, 500, "database is down"], [2, 200, "ok"]],
    );
    assert.equal(receiver.countById().get(delivered.id), 2, "the forced retry is the only repeat");
    assert.deepEqual(receiver.rejected, []);
  });
});

Deno.test("a receiver slower than the installation's timeout_ms fails the attempt as timed out", async () => {
  await withDeliveryStack(async (sql, receiver) => {
    const installation = await installReceiver(sql, receiver, { timeoutMs: 500 });
    receiver.respond = () => ({ status: 200, delayMs: 3_000 });
    await insertWorkOrders(sql, installation, ["Too slow"]);

    assert.equal((await processDeliveries(sql)).sent, 1);
    await responsesRecorded(sql, installation, 1);
    assert.equal((await processDeliveries(sql)).retried, 1);

    const [row] = await deliveries(sql, installation);
    assert.equal(row.status, "failed");
    assert.equal(row.last_status_code, null);
    assert.match(row.last_error ?? "", /^Timeout of 500 ms reached/);
    const [attempt] = await attempts(sql, row.id);
    assert.equal(attempt.timed_out, true);
    assert.equal(attempt.status_code, null);
    assert.match(attempt.error ?? "", /^Timeout of 500 ms reached/);
  });
});

Deno.test("a receiver that is down fails the attempt with the connection error", async () => {
  await withDeliveryStack(async (sql, receiver) => {
    // A port that was just free and is closed again.
    const closed = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => new Response());
    const url = `http://127.0.0.1:${closed.addr.port}/hooks`;
    await closed.shutdown();
    const installation = await installReceiver(sql, receiver, { url });
    await insertWorkOrders(sql, installation, ["Nobody home"]);

    assert.equal((await processDeliveries(sql)).sent, 1);
    await responsesRecorded(sql, installation, 1);
    assert.equal((await processDeliveries(sql)).retried, 1);

    const [row] = await deliveries(sql, installation);
    assert.equal(row.status, "failed");
    assert.equal(row.last_error, "Couldn't connect to server");
    const [attempt] = await attempts(sql, row.id);
    assert.deepEqual([attempt.status_code, attempt.error, attempt.timed_out], [
      null,
      "Couldn't connect to server",
      false,
    ]);
    assert.equal(receiver.received.length, 0);
  });
});

Deno.test("a receiver that redirects to an internal address does not show tenants that address's answer", async () => {
  await withDeliveryStack(async (sql, receiver) => {
    // An internal service that answers anyone with something worth stealing, as a cloud metadata
    // service does, and a receiver that sends the delivery on to it. pg_net follows redirects.
    const internal = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response('{"AccessKeyId": "ASIA-internal", "SecretAccessKey": "s3cr3t"}'),
    );
    const redirector = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => Response.redirect(`http://127.0.0.1:${internal.addr.port}/latest/meta-data/`, 302),
    );
    try {
      const installation = await installReceiver(sql, receiver, {
        url: `http://127.0.0.1:${redirector.addr.port}/hooks`,
      });
      await insertWorkOrders(sql, installation, ["Redirected"]);
      await processUntil(sql, "the redirected delivery settled", (t) => t.delivered >= 1);

      const [row] = await deliveries(sql, installation);
      const [attempt] = await attempts(sql, row.id);
      assert.deepEqual(
        [attempt.status_code, attempt.response_excerpt?.includes("s3cr3t")],
        [200, true],
        "the request followed the redirect, as pg_net does, and the log kept the answer",
      );
      const [shown] = await sql.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
        await tx`set local role service_role`;
        return await tx`
          select status_code, response_excerpt from public.v_plugin_delivery_attempts
          where delivery_id = ${row.id}`;
      });
      assert.deepEqual({ ...shown }, { status_code: 200, response_excerpt: null }, "the view leaves it out");
    } finally {
      await redirector.shutdown();
      await internal.shutdown();
    }
  });
});

Deno.test("deliveries whose pg_net responses were lost are retried after the lease expires, then delivered", async () => {
  await withDeliveryStack(async (sql, receiver) => {
    const installation = await installReceiver(sql, receiver);
    await insertWorkOrders(sql, installation, ["Lost 1", "Lost 2"]);

    assert.equal((await processDeliveries(sql)).sent, 2);
    await responsesRecorded(sql, installation, 2);
    // pg_net's tables are unlogged and its responses expire: simulate losing them.
    await sql`
      delete from net._http_response r using int.plugin_deliveries d
      where d.net_request_id = r.id and d.installation_id = ${installation.installationId}`;
    assert.equal((await processDeliveries(sql)).reconciled, 0, "nothing to reconcile while the lease runs");
    await sql`
      update int.plugin_deliveries set lease_expires_at = now() - interval '1 second'
      where installation_id = ${installation.installationId}`;
    const expired = await processDeliveries(sql);
    assert.equal(expired.expired_leases, 2);
    assert.equal(expired.retried, 2);

    await makeDue(sql, installation);
    assert.equal((await processDeliveries(sql)).sent, 2);
    await waitFor("the retries at the receiver", () => receiver.received.length >= 4 || undefined);
    await processUntil(sql, "both delivered", (t) => t.delivered >= 2);

    const rows = await deliveries(sql, installation);
    assert.deepEqual(rows.map((d) => [d.status, d.attempts]), [["delivered", 2], ["delivered", 2]]);
    for (const row of rows) {
      assert.deepEqual(
        (await attempts(sql, row.id)).map((a) => [a.status_code, a.error]),
        [[null, "lease expired without a response"], [200, null]],
      );
      assert.equal(
        receiver.countById().get(row.id),
        2,
        "sent twice: the retry was forced by the lost response",
      );
    }
  });
});
