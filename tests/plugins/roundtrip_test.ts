/**
 * The whole round trip on the local stack: a new work order -> audit -> delivery queue -> the
 * processor -> pg_net -> plugin-receiver (verifies, acknowledges) -> its callback through
 * ingest-webhook -> rpc_plugin_ingest_webhook -> the work order's external_ref. The callback's own
 * UPDATE sends nothing back (the subscription's changed_fields_allowlist), and the same delivery
 * arriving again changes nothing, in the receiver and, durably, in the database.
 */
import assert from "node:assert/strict";
import { runSmoke } from "../../plugins/example/smoke.ts";
import { createIngestCallback } from "../../supabase/functions/plugin-receiver/callback.ts";
import type { PluginDelivery as DeliveryPayload } from "../../supabase/functions/plugin-receiver/schemas.ts";
import { isRemote, startTestStack, type TestStack } from "../_support/stack.ts";
import {
  allowPrivateWebhookUrls,
  insertWorkOrder,
  pluginTenant,
  supabaseClient,
  waitFor,
  workOrder,
} from "./inbound_fixture.ts";

const SECRET = `receiver-secret-${crypto.randomUUID()}`;

/** Runs the processor (as pg_cron would) until `check` holds. */
async function processUntil<T>(stack: TestStack, what: string, check: () => Promise<T | undefined | false>) {
  const service = supabaseClient(stack, stack.serviceRoleKey);
  return await waitFor(what, async () => {
    const { error } = await service.rpc("rpc_process_plugin_deliveries", { p_limit: 100 });
    if (error) throw error;
    return await check();
  }, 30_000);
}

async function deliveriesOf(stack: TestStack, workOrderId: string) {
  return await stack.sql<{ id: string; event_type: string; status: string; payload: DeliveryPayload }[]>`
    select d.id, d.event_type, d.status, d.payload
    from int.plugin_deliveries d
    where d.payload -> 'data' ->> 'record_id' = ${workOrderId}
    order by d.created_at, d.audit_id`;
}

Deno.test({
  name: "round trip: database -> plugin-receiver -> callback -> database, once, without a loop",
  // The stack must reach a receiver the test configures: local stack only.
  ignore: isRemote,
  async fn(t) {
    const stack = await startTestStack({ functionEnv: { PLUGIN_RECEIVER_SECRET: SECRET } });
    try {
      await allowPrivateWebhookUrls(stack);
      const tenant = await pluginTenant(stack, {
        label: "roundtrip",
        pluginKey: "example_receiver",
        secret: SECRET,
        webhookUrl: `${stack.apiUrl}/functions/v1/plugin-receiver`,
      });
      await tenant.client.plugins.upsertWebhookSubscription({
        installationId: tenant.installationId,
        tableName: "work_orders",
        operations: ["INSERT", "UPDATE"],
        changedFieldsAllowlist: ["status"],
      });
      const workOrderId = await insertWorkOrder(stack.sql, tenant.tenantId, "Compressor 2 overheats");
      let insert: DeliveryPayload;

      await t.step("the insert is delivered, verified, and the callback sets the external ref", async () => {
        // Queued by the insert's commit: the tenant admin sees it pending, with its final id and body.
        const [queued, ...others] = await tenant.client.plugins.listRecentDeliveries();
        assert.deepEqual(others, []);
        assert.deepEqual([queued.event_type, queued.status], ["work_orders.insert", "pending"]);
        insert = queued.payload as unknown as DeliveryPayload;
        assert.deepEqual([insert.id, insert.data.record_id], [queued.id, workOrderId]);
        await processUntil(stack, "the insert delivery to be delivered", async () => {
          const [row] = await deliveriesOf(stack, workOrderId);
          return row?.status === "delivered";
        });
        const [delivered] = await deliveriesOf(stack, workOrderId);
        assert.deepEqual(
          [delivered.id, delivered.event_type, delivered.payload],
          [insert.id, "work_orders.insert", insert],
          "delivered with the id and body it was queued with",
        );
        const externalRef = await waitFor("the callback's external_ref", async () => {
          return (await workOrder(stack.sql, workOrderId)).external_ref ?? undefined;
        });
        assert.equal(externalRef, `rcv-${insert.audit_id}`);
        const [log] = await tenant.client.plugins.listInboundWebhooks();
        assert.deepEqual([log.delivery_id, log.outcome, log.action], [
          insert.id,
          "applied",
          "work_order.set_external_ref",
        ]);
      });

      await t.step("the callback's own UPDATE does not loop into another delivery", async () => {
        const [change] = await stack.sql`
          select changed_fields from audit.entity_changes
          where record_id = ${workOrderId} and op = 'UPDATE'`;
        assert.ok(change.changed_fields.includes("external_ref"), "the callback's update was audited");
        await processUntil(stack, "a quiet queue", async () => {
          const rows = await deliveriesOf(stack, workOrderId);
          return rows.every((row) => row.status === "delivered") && rows;
        });
        assert.deepEqual((await deliveriesOf(stack, workOrderId)).map((row) => row.event_type), [
          "work_orders.insert",
        ]);
      });

      await t.step(
        "an UPDATE of an allowlisted field is still delivered (and needs no callback)",
        async () => {
          await stack.sql`update public.work_orders set status = 'in_progress' where id = ${workOrderId}`;
          await processUntil(stack, "the status update to be delivered", async () => {
            const rows = await deliveriesOf(stack, workOrderId);
            return rows.length === 2 && rows.every((row) => row.status === "delivered");
          });
          assert.deepEqual((await deliveriesOf(stack, workOrderId)).map((row) => row.event_type), [
            "work_orders.insert",
            "work_orders.update",
          ]);
        },
      );

      await t.step("the same delivery arriving again changes nothing", async () => {
        // Someone edits the reference by hand; a second processing would overwrite it.
        await stack
          .sql`update public.work_orders set external_ref = 'edited-by-hand' where id = ${workOrderId}`;
        await tenant.client.plugins.redeliver(insert.id);
        await processUntil(stack, "the redelivery to be delivered", async () => {
          const [row] = await deliveriesOf(stack, workOrderId);
          return row.status === "delivered";
        });
        const attempts = await stack.sql`
          select status_code from int.plugin_delivery_attempts where delivery_id = ${insert.id} order by attempt, id`;
        assert.deepEqual(
          attempts.map((a) => a.status_code),
          [200, 200],
          "delivered twice, acknowledged twice",
        );

        // A receiver that lost its memory (a restart) calls back again: the database dedupes durably.
        const callback = createIngestCallback({
          ingestUrl: `${stack.apiUrl}/functions/v1/ingest-webhook`,
          secret: SECRET,
        });
        assert.deepEqual(await callback(insert), {
          action: "work_order.set_external_ref",
          status: 200,
          duplicate: true,
        });
        assert.equal((await workOrder(stack.sql, workOrderId)).external_ref, "edited-by-hand");
        const [{ n }] = await stack.sql`
          select count(*)::int as n from int.inbound_webhook_log
          where delivery_id = ${insert.id} and outcome = 'applied'`;
        assert.equal(n, 1, "the callback was applied exactly once");
      });
    } finally {
      await stack.close();
    }
  },
});

Deno.test({
  name: "the example plugin's smoke script passes against the stack",
  ignore: isRemote,
  async fn() {
    const stack = await startTestStack();
    try {
      const lines: string[] = [];
      const result = await runSmoke(stack, { log: (line) => lines.push(line) });
      assert.equal(result.failure, undefined, lines.join("\n"));
      assert.equal(result.ok, true);
      assert.equal(result.delivery?.status, "delivered");
      assert.ok(
        lines.some((line) => line.includes("receiver verified work_orders.insert")),
        lines.join("\n"),
      );
      const [{ n }] = await stack.sql`select count(*)::int as n from public.tenants where id = ${result
        .tenantId!}`;
      assert.equal(n, 0, "the smoke test cleans up after itself");
    } finally {
      await stack.close();
    }
  },
});
