/**
 * Inbound webhooks end to end: a replayed delivery id is acknowledged as a duplicate and changes
 * nothing; a stale timestamp is refused even with a valid signature.
 */
import assert from "node:assert/strict";
import { startTestStack } from "../_support/stack.ts";
import { insertWorkOrder, pluginTenant, postInbound, workOrder } from "./inbound_fixture.ts";

Deno.test("inbound: replays are ignored and stale timestamps refused", async (t) => {
  const stack = await startTestStack({ netWorker: false });
  try {
    const tenant = await pluginTenant(stack, { label: "replay" });
    const workOrderId = await insertWorkOrder(stack.sql, tenant.tenantId);
    const message = {
      action: "work_order.set_status",
      args: { work_order_id: workOrderId, status: "done" },
      deliveryId: "partner-42",
    };

    await t.step("the first delivery is applied", async () => {
      const res = await postInbound(stack, tenant.installationId, tenant.secret, message);
      assert.equal(res.status, 200);
      assert.equal(res.body.duplicate, false);
    });

    await t.step(
      "the same delivery id again is acknowledged as a duplicate and changes nothing",
      async () => {
        await stack.sql`update public.work_orders set status = 'open' where id = ${workOrderId}`;
        // Signed again with a later timestamp, as a partner's retry would be.
        const res = await postInbound(stack, tenant.installationId, tenant.secret, {
          ...message,
          timestamp: new Date(Date.now() + 2000),
        });
        assert.equal(res.status, 200);
        assert.equal(res.body.duplicate, true);
        assert.deepEqual(res.body.result, {
          work_order_id: workOrderId,
          status: "done",
          previous_status: "open",
          changed: true,
        });
        assert.equal((await workOrder(stack.sql, workOrderId)).status, "open", "not applied twice");
        const [{ n }] = await stack.sql`
        select count(*)::int as n from int.inbound_webhook_receipts where delivery_id = 'partner-42'`;
        assert.equal(n, 1);
      },
    );

    await t.step("a timestamp older than 5 minutes is refused with 401 stale_timestamp", async () => {
      const res = await postInbound(stack, tenant.installationId, tenant.secret, {
        action: "work_order.set_status",
        args: { work_order_id: workOrderId, status: "cancelled" },
        deliveryId: "partner-old",
        timestamp: new Date(Date.now() - 6 * 60_000),
      });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, "stale_timestamp");
      assert.equal((await workOrder(stack.sql, workOrderId)).status, "open");
      const [{ n }] = await stack.sql`
        select count(*)::int as n from int.inbound_webhook_receipts where delivery_id = 'partner-old'`;
      assert.equal(n, 0, "a refused delivery is not recorded as received");
    });
  } finally {
    await stack.close();
  }
});
