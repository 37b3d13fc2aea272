/** SQL helpers for tests: act as a role inside a rolled-back transaction, expect a SQLSTATE. */
import assert from "node:assert/strict";
import type postgres from "postgres";

/** Runs `fn` in a transaction as `role`; the transaction is always rolled back. */
export async function asRole<T>(
  sql: postgres.Sql,
  role: string,
  fn: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  const rollback = new Error("rollback");
  let result: T | undefined;
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local role ${role}`);
    result = await fn(tx);
    throw rollback;
  }).catch((e) => {
    if (e !== rollback) throw e;
  });
  return result as T;
}

/** Asserts that `promise` fails with the given SQLSTATE, and returns the error. */
export async function failsWith(promise: Promise<unknown>, code: string): Promise<postgres.PostgresError> {
  try {
    await promise;
  } catch (e) {
    const err = e as postgres.PostgresError;
    assert.equal(err.code, code, `expected SQLSTATE ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected SQLSTATE ${code}, but the statement succeeded`);
}
