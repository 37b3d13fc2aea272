/** A transaction held open from a test, to run something else against its locks. */
import type postgres from "postgres";

/**
 * Runs `work` in a transaction that stays open (its locks held) until `release` is called. `result`
 * settles once `work` has run; `done` when the transaction has ended.
 */
export function heldTransaction<T>(sql: postgres.Sql, work: (tx: postgres.TransactionSql) => Promise<T>) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let ran!: (value: T) => void;
  const result = new Promise<T>((resolve) => ran = resolve);
  const done = sql.begin(async (tx) => {
    ran(await work(tx));
    await held;
  });
  // If `work` fails, `result` never settles: surface the failure instead of waiting forever.
  return { result: Promise.race([result, done.then(() => result)]), release, done };
}

/** Whether the backend `pid` waits for a lock that another transaction holds. */
export async function blockedOnLock(sql: postgres.Sql, pid: number): Promise<boolean> {
  const [{ blocked }] = await sql<{ blocked: boolean }[]>`
    select exists (select 1 from pg_stat_activity where pid = ${pid} and wait_event_type = 'Lock') as blocked`;
  return blocked;
}
