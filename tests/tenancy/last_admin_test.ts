/**
 * A tenant never loses its last admin, not even when two admins demote each other at the same moment:
 * rpc_add_tenant_member makes one tenant's membership changes take turns (a row lock on the tenant), so
 * the second change sees the first and is refused.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { createTestDatabase } from "../_support/db.ts";
import { heldTransaction } from "../_support/held_transaction.ts";

const ADMIN_A = "00000000-0000-4000-8000-00000000aa01";
const ADMIN_B = "00000000-0000-4000-8000-00000000bb02";

/** Demotes `target` to tenant.member in `tx`, acting as the tenant admin `actor`. */
function demote(tx: postgres.TransactionSql, tenantId: string, actor: string, target: string) {
  return tx`
    select set_config('request.jwt.claims', ${JSON.stringify({ sub: actor, role: "authenticated" })}, true),
      set_config('role', 'authenticated', true),
      public.rpc_add_tenant_member(${tenantId}::uuid, ${target}::uuid, 'tenant.member')`;
}

Deno.test("two admins demoting each other at once leave the tenant with one admin", async () => {
  const db = await createTestDatabase();
  try {
    const { sql } = db;
    await sql`insert into auth.users (id, email) values (${ADMIN_A}, 'a@example.com'), (${ADMIN_B}, 'b@example.com')`;
    const [{ tenantId }] = await sql<{ tenantId: string }[]>`
      select public.rpc_create_tenant('Two admins', ${ADMIN_A}::uuid)::text as "tenantId"`;
    await sql`select public.rpc_add_tenant_member(${tenantId}::uuid, ${ADMIN_B}::uuid, 'tenant.admin')`;

    // A demotes B and has not committed yet.
    const first = heldTransaction(sql, (tx) => demote(tx, tenantId, ADMIN_A, ADMIN_B));
    let second: Promise<unknown>;
    try {
      await first.result;
      let settled = false;
      // B, still an admin in what it can see, demotes A.
      second = sql.begin((tx) => demote(tx, tenantId, ADMIN_B, ADMIN_A)).finally(() => settled = true);
      second.catch(() => {}); // awaited below
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(settled, false, "the second change waits for the first");
    } finally {
      first.release();
      await first.done;
    }

    await assert.rejects(second, (error: postgres.PostgresError) => {
      assert.deepEqual([error.code, error.message], ["22023", "a tenant needs at least one tenant.admin"]);
      return true;
    });
    const admins = await sql`
      select user_id::text from public.tenant_memberships where tenant_id = ${tenantId} and role = 'tenant.admin'`;
    assert.deepEqual(admins.map((row) => row.user_id), [ADMIN_A]);
  } finally {
    await db.close();
  }
});
