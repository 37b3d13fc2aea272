/**
 * Inbound webhooks end to end: a bad signature is refused with nothing written but its log line, and
 * no installation can reach another tenant's work orders.
 */
import assert from "node:assert/strict";
import { signInboundWebhook } from "../../sdk/mod.ts";
import { startTestStack } from "../_support/stack.ts";
import { insertWorkOrder, pluginTenant, postInbound, workOrder } from "./inbound_fixture.ts";

Deno.test("inbound: bad signatures and other tenants' rows are refused", async (t) => {
  const stack = await startTestStack({ netWorker: false });
  try {
    const a = await pluginTenant(stack, { label: "a" });
    const b = await pluginTenant(stack, { label: "b" });
    const orderA = await insertWorkOrder(stack.sql, a.tenantId, "A's work order");
    const orderB = await insertWorkOrder(stack.sql, b.tenantId, "B's work order");
    const counts = async () => {
      const [row] = await stack.sql`
        select (select count(*)::int from int.inbound_webhook_receipts) as receipts,
          (select count(*)::int from public.work_order_comments) as comments,
          (select count(*)::int from audit.entity_changes where op = 'UPDATE') as updates`;
      return row;
    };

    await t.step("a bad signature is refused with 401 invalid_signature and writes nothing", async () => {
      const before = await counts();
      for (const secret of ["not-the-secret", b.secret]) {
        const res = await postInbound(stack, a.installationId, secret, {
          action: "work_order.add_comment",
          args: { work_order_id: orderA, body: "forged" },
          deliveryId: "forged-1",
        });
        assert.equal(res.status, 401);
        assert.equal(res.body.error, "invalid_signature");
      }
      // The right signature over other bytes than those sent.
      const signed = await signInboundWebhook({
        action: "work_order.set_status",
        args: { work_order_id: orderA, status: "done" },
        deliveryId: "forged-2",
      }, a.secret);
      const tampered = signed.body.replace('"done"', '"cancelled"');
      const res = await fetch(`${stack.apiUrl}/functions/v1/ingest-webhook/${a.installationId}`, {
        method: "POST",
        headers: signed.headers,
        body: tampered,
      });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error, "invalid_signature");

      assert.deepEqual(await counts(), before, "no receipt, comment or change");
      assert.equal((await workOrder(stack.sql, orderA)).status, "open");
      const log = await a.client.plugins.listInboundWebhooks({ outcome: "rejected" });
      assert.deepEqual(log.map((entry) => entry.code), [
        "invalid_signature",
        "invalid_signature",
        "invalid_signature",
      ]);
    });

    await t.step("the genuine delivery with a refused id still goes through", async () => {
      const res = await postInbound(stack, a.installationId, a.secret, {
        action: "work_order.add_comment",
        args: { work_order_id: orderA, body: "genuine" },
        deliveryId: "forged-1",
      });
      assert.equal(res.status, 200);
    });

    await t.step("tenant A's installation cannot touch tenant B's work order", async () => {
      for (
        const [action, args] of [
          ["work_order.set_status", { work_order_id: orderB, status: "cancelled" }],
          ["work_order.set_external_ref", { work_order_id: orderB, external_ref: "hijacked" }],
          ["work_order.add_comment", { work_order_id: orderB, body: "hi from A" }],
        ] as const
      ) {
        const res = await postInbound(stack, a.installationId, a.secret, { action, args });
        assert.equal(res.status, 404, action);
        assert.equal(res.body.error, "work_order_not_found");
      }
      assert.deepEqual(await workOrder(stack.sql, orderB), { status: "open", external_ref: null });
      const [{ n }] = await stack.sql`
        select count(*)::int as n from public.work_order_comments where work_order_id = ${orderB}`;
      assert.equal(n, 0);
      assert.deepEqual(await b.client.plugins.listInboundWebhooks(), [], "nothing lands in B's log either");
    });

    await t.step("an unknown installation is 404 and an uninstalled one stops working", async () => {
      const unknown = await postInbound(stack, crypto.randomUUID(), a.secret, {
        action: "work_order.set_status",
        args: { work_order_id: orderA, status: "done" },
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, "unknown_installation");

      await a.client.plugins.update({ installationId: a.installationId, isActive: false });
      const inactive = await postInbound(stack, a.installationId, a.secret, {
        action: "work_order.set_status",
        args: { work_order_id: orderA, status: "done" },
      });
      assert.equal(inactive.status, 403);
      assert.equal(inactive.body.error, "installation_inactive");
      assert.equal((await workOrder(stack.sql, orderA)).status, "open");
    });
  } finally {
    await stack.close();
  }
});
