/** A transaction held open from a test, to run something else against its locks. */
import type postgres from "postgres";
import { waitFor } from "./wait.ts";

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

/**
 * Waits until the backend `pid` waits for a lock that another transaction holds, or, with `orEnded`,
 * until its work has ended instead; throws, naming `what`, after `timeoutMs`.
 */
export async function waitUntilBlocked(
  sql: postgres.Sql,
  pid: number,
  what: string,
  { orEnded = () => false, timeoutMs = 5_000 }: { orEnded?: () => boolean; timeoutMs?: number } = {},
): Promise<void> {
  await waitFor(
    what,
    async () => {
      if (orEnded()) return true;
      const [{ blocked }] = await sql<{ blocked: boolean }[]>`
      select exists (select 1 from pg_stat_activity where pid = ${pid} and wait_event_type = 'Lock') as blocked`;
      return blocked;
    },
    timeoutMs,
    10,
  );
}
