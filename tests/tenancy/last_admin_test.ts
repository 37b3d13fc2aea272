/**
 * A tenant never loses its last admin, not even when two admins demote each other at the same moment:
 * rpc_add_tenant_member makes one tenant's membership changes take turns (a row lock on the tenant) and
 * checks the caller's role again once it is its turn, so the second change sees the first: its author is
 * no longer an admin, and it is refused. An admin demoted while their own change waits therefore cannot
 * complete it either, for example to make themselves admin again.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { createTestDatabase } from "../_support/db.ts";
import { heldTransaction, waitUntilBlocked } from "../_support/held_transaction.ts";

const ADMIN_A = "00000000-0000-4000-8000-00000000aa01";
const ADMIN_B = "00000000-0000-4000-8000-00000000bb02";

/** Gives `target` the tenant role `role` in `tx`, acting as the tenant admin `actor`. */
function setRole(
  tx: postgres.TransactionSql,
  tenantId: string,
  actor: string,
  target: string,
  role: "tenant.admin" | "tenant.member",
) {
  return tx`
    select set_config('request.jwt.claims', ${JSON.stringify({ sub: actor, role: "authenticated" })}, true),
      set_config('role', 'authenticated', true),
      public.rpc_add_tenant_member(${tenantId}::uuid, ${target}::uuid, ${role})`;
}

/** Demotes `target` to tenant.member in `tx`, acting as the tenant admin `actor`. */
function demote(tx: postgres.TransactionSql, tenantId: string, actor: string, target: string) {
  return setRole(tx, tenantId, actor, target, "tenant.member");
}

/** A tenant whose admins are ADMIN_A and ADMIN_B; returns its id. */
async function tenantWithTwoAdmins(sql: postgres.Sql): Promise<string> {
  await sql`insert into auth.users (id, email) values (${ADMIN_A}, 'a@example.com'), (${ADMIN_B}, 'b@example.com')`;
  const [{ tenantId }] = await sql<{ tenantId: string }[]>`
    select public.rpc_create_tenant('Two admins', ${ADMIN_A}::uuid)::text as "tenantId"`;
  await sql`select public.rpc_add_tenant_member(${tenantId}::uuid, ${ADMIN_B}::uuid, 'tenant.admin')`;
  return tenantId;
}

/**
 * A demotes B and stays uncommitted while B's own `change` starts and waits for its turn (the tenant
 * lock); then A commits. Returns B's change, which settles afterwards (wrapped: an async function
 * returning it would wait for it).
 */
async function whileADemotesB(
  sql: postgres.Sql,
  tenantId: string,
  change: (tx: postgres.TransactionSql) => Promise<unknown>,
): Promise<{ change: Promise<unknown> }> {
  const first = heldTransaction(sql, (tx) => demote(tx, tenantId, ADMIN_A, ADMIN_B));
  try {
    await first.result;
    const { promise: pid, resolve: gotPid } = Promise.withResolvers<number>();
    const second = sql.begin(async (tx) => {
      const [{ pid }] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
      gotPid(pid);
      return await change(tx);
    });
    second.catch(() => {}); // awaited by the caller
    await waitUntilBlocked(sql, await pid, "B's change to wait for A's");
    return { change: second };
  } finally {
    first.release();
    await first.done;
  }
}

Deno.test("two admins demoting each other at once leave the tenant with one admin", async () => {
  const db = await createTestDatabase();
  try {
    const { sql } = db;
    const tenantId = await tenantWithTwoAdmins(sql);

    // A demotes B and has not committed yet; B, still an admin in what it can see, demotes A.
    const { change: second } = await whileADemotesB(
      sql,
      tenantId,
      (tx) => demote(tx, tenantId, ADMIN_B, ADMIN_A),
    );

    await assert.rejects(second, (error: postgres.PostgresError) => {
      assert.deepEqual(
        [error.code, error.message],
        ["42501", `permission denied: you need the tenant.admin role in tenant ${tenantId}`],
      );
      return true;
    });
    const admins = await sql`
      select user_id::text from public.tenant_memberships where tenant_id = ${tenantId} and role = 'tenant.admin'`;
    assert.deepEqual(admins.map((row) => row.user_id), [ADMIN_A]);
  } finally {
    await db.close();
  }
});

Deno.test("an admin demoted while their own change waits for its turn cannot complete it", async () => {
  const db = await createTestDatabase();
  try {
    const { sql } = db;
    const tenantId = await tenantWithTwoAdmins(sql);

    // A demotes B and has not committed yet; B, still an admin in what it can see, makes itself admin
    // again.
    const { change: second } = await whileADemotesB(
      sql,
      tenantId,
      (tx) => setRole(tx, tenantId, ADMIN_B, ADMIN_B, "tenant.admin"),
    );

    await assert.rejects(second, (error: postgres.PostgresError) => {
      assert.equal(error.code, "42501");
      return true;
    });
    const roles = await sql`
      select user_id::text, role from public.tenant_memberships where tenant_id = ${tenantId} order by role`;
    assert.deepEqual(roles.map((row) => [row.user_id, row.role]), [
      [ADMIN_A, "tenant.admin"],
      [ADMIN_B, "tenant.member"],
    ]);
  } finally {
    await db.close();
  }
});
