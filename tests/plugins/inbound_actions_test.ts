/**
 * Inbound webhooks end to end on the stack: a partner's signed request to ingest-webhook applies an
 * allowlisted action inside its installation's tenant; unknown actions and bad arguments are refused
 * with their own codes; tenant admins read the log through the SDK.
 */
import assert from "node:assert/strict";
import { startTestStack } from "../_support/stack.ts";
import { insertWorkOrder, pluginTenant, postInbound, workOrder } from "./inbound_fixture.ts";

Deno.test("inbound: signed, allowlisted actions are applied in the installation's tenant", async (t) => {
  const stack = await startTestStack({ netWorker: false });
  try {
    const tenant = await pluginTenant(stack, { label: "a" });
    const workOrderId = await insertWorkOrder(stack.sql, tenant.tenantId);

    await t.step("set_status through ingest-webhook changes the work order", async () => {
      const res = await postInbound(stack, tenant.installationId, tenant.secret, {
        action: "work_order.set_status",
        args: { work_order_id: workOrderId, status: "in_progress" },
        deliveryId: "partner-1",
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, {
        delivery_id: "partner-1",
        action: "work_order.set_status",
        duplicate: false,
        result: { work_order_id: workOrderId, status: "in_progress", previous_status: "open", changed: true },
      });
      assert.equal((await workOrder(stack.sql, workOrderId)).status, "in_progress");
    });

    await t.step("set_external_ref and add_comment are applied too", async () => {
      const ref = await postInbound(stack, tenant.installationId, tenant.secret, {
        action: "work_order.set_external_ref",
        args: { work_order_id: workOrderId, external_ref: "SAP-4711" },
      });
      assert.equal(ref.status, 200);
      assert.equal((await workOrder(stack.sql, workOrderId)).external_ref, "SAP-4711");
      const comment = await postInbound(stack, tenant.installationId, tenant.secret, {
        action: "work_order.add_comment",
        args: { work_order_id: workOrderId, body: "Technician dispatched" },
      });
      assert.equal(comment.status, 200);
      const rows = await stack.sql`
        select body, installation_id, tenant_id from public.work_order_comments where work_order_id = ${workOrderId}`;
      assert.deepEqual([...rows], [{
        body: "Technician dispatched",
        installation_id: tenant.installationId,
        tenant_id: tenant.tenantId,
      }]);
    });

    await t.step(
      "an unknown action is refused with 422 unknown_action, not as a signature error",
      async () => {
        const res = await postInbound(stack, tenant.installationId, tenant.secret, {
          action: "work_order.delete",
          args: { work_order_id: workOrderId },
        });
        assert.equal(res.status, 422);
        assert.equal(res.body.error, "unknown_action");
        assert.match(String(res.body.message), /allowed actions are work_order\.add_comment/);
      },
    );

    await t.step("bad arguments are refused with 422 invalid_args and change nothing", async () => {
      const res = await postInbound(stack, tenant.installationId, tenant.secret, {
        action: "work_order.set_status",
        args: { work_order_id: workOrderId, status: "finished" },
      });
      assert.equal(res.status, 422);
      assert.equal(res.body.error, "invalid_args");
      assert.equal((await workOrder(stack.sql, workOrderId)).status, "in_progress");
    });

    await t.step("the tenant admin reads every request in the inbound log", async () => {
      const log = await tenant.client.plugins.listInboundWebhooks();
      assert.deepEqual(log.map((entry) => [entry.outcome, entry.code]), [
        ["rejected", "invalid_args"],
        ["rejected", "unknown_action"],
        ["applied", "applied"],
        ["applied", "applied"],
        ["applied", "applied"],
      ]);
      assert.ok(log.every((entry) => entry.installation_id === tenant.installationId));
    });
  } finally {
    await stack.close();
  }
});
