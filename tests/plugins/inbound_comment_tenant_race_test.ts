/**
 * A comment always carries its work order's tenant, even when the work order moves to another tenant
 * while the comment is being written: the comment waits for the move and then follows it, and an
 * inbound `work_order.add_comment` from the old tenant's partner is refused instead of landing in the
 * new tenant (or being left behind in the old one).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { signStandardWebhook } from "../../supabase/functions/_shared/webhook_signature.ts";
import { createTestDatabase } from "../_support/db.ts";
import { heldTransaction, waitUntilBlocked } from "../_support/held_transaction.ts";
import { standInOnly } from "../_support/stack.ts";

const TENANT_A = "aaaaaaaa-aaaa-4000-8000-000000000000";
const TENANT_B = "bbbbbbbb-bbbb-4000-8000-000000000000";
const INSTALLATION_A = "aaaaaaaa-aaaa-4000-8000-0000000000f1";
const WORK_ORDER = "aaaaaaaa-aaaa-4000-8000-00000000a001";
const SECRET_A = "inbound-secret-a-0123456789";

async function seed(sql: postgres.Sql): Promise<void> {
  await sql`insert into public.tenants (id, name) values (${TENANT_A}, 'Tenant A'), (${TENANT_B}, 'Tenant B')`;
  await sql`select vault.create_secret(${SECRET_A}, 'inbound_race_secret_a')`;
  await sql`insert into int.plugins (key, name) values ('inbound_race', 'Inbound race')`;
  await sql`
    insert into int.plugin_installations (id, tenant_id, plugin_key, config, secret_ref)
    values (${INSTALLATION_A}, ${TENANT_A}, 'inbound_race', '{"webhook_url": "https://hooks.example.com/a"}',
      'inbound_race_secret_a')`;
  await sql`insert into public.work_orders (id, tenant_id, title) values (${WORK_ORDER}, ${TENANT_A}, 'Pump 7 leaks')`;
}

/**
 * Runs `write` on its own connection while another transaction moves the work order to tenant B and
 * stays open; once `write` has either finished or is waiting for that transaction, the move commits.
 * Returns what `write` returned.
 */
async function writeDuringMove<T>(
  sql: postgres.Sql,
  write: (connection: postgres.ReservedSql) => Promise<T>,
): Promise<T> {
  const move = heldTransaction(
    sql,
    (tx) => tx`update public.work_orders set tenant_id = ${TENANT_B} where id = ${WORK_ORDER}`,
  );
  await move.result;
  const connection = await sql.reserve();
  try {
    const [{ pid }] = await connection<{ pid: number }[]>`select pg_backend_pid() as pid`;
    let settled = false;
    const written = write(connection).finally(() => settled = true);
    written.catch(() => {});
    await waitUntilBlocked(sql, pid, "the comment to be written or to wait for the move", {
      orEnded: () => settled,
      timeoutMs: 10_000,
    });
    move.release();
    await move.done;
    return await written;
  } finally {
    connection.release();
  }
}

Deno.test(
  "a comment written while its work order moves to another tenant follows the work order",
  standInOnly,
  async () => {
    const db = await createTestDatabase();
    try {
      await seed(db.sql);
      await writeDuringMove(db.sql, (connection) =>
        connection`
        insert into public.work_order_comments (work_order_id, body) values (${WORK_ORDER}, 'Part ordered')`);
      const [{ comment_tenant, order_tenant }] = await db.sql`
      select c.tenant_id as comment_tenant, w.tenant_id as order_tenant
      from public.work_order_comments c join public.work_orders w on w.id = c.work_order_id`;
      assert.equal(order_tenant, TENANT_B);
      assert.equal(comment_tenant, TENANT_B, "the comment is not left behind in the old tenant");
    } finally {
      await db.close();
    }
  },
);

Deno.test(
  "an inbound comment from the old tenant's partner does not land on a work order that moved away",
  standInOnly,
  async () => {
    const db = await createTestDatabase();
    try {
      await seed(db.sql);
      const deliveryId = "race-1";
      const timestamp = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({
        action: "work_order.add_comment",
        args: { work_order_id: WORK_ORDER, body: "Technician dispatched" },
      });
      const signature = await signStandardWebhook(SECRET_A, { id: deliveryId, timestamp, body }, "raw");
      const outcome = await writeDuringMove(db.sql, async (connection) => {
        const [{ result }] = await connection<{ result: Record<string, unknown> }[]>`
        select public.rpc_plugin_ingest_webhook(${INSTALLATION_A}, ${deliveryId}, ${timestamp}, ${signature},
          ${body}) as result`;
        return result;
      });
      assert.equal(outcome.code, "work_order_not_found", JSON.stringify(outcome));
      const comments = await db.sql`select tenant_id, installation_id from public.work_order_comments`;
      assert.deepEqual([...comments], [], "no comment of tenant A's partner in either tenant");
    } finally {
      await db.close();
    }
  },
);
