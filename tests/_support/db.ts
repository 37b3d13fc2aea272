/**
 * Throwaway databases for tests, cloned from the migrated template that the test runner
 * (`deno task test`) builds. Cloning takes tens of milliseconds, so every test can have its own.
 */
import postgres from "postgres";

export interface TestDatabase {
  /** Connection URL for the superuser `postgres` on this database. */
  url: string;
  name: string;
  /** A superuser connection pool on this database. */
  sql: postgres.Sql;
  /** Closes `sql` and drops the database. */
  close(): Promise<void>;
}

function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests with \`deno task test\`, which starts a local cluster and sets it`,
    );
  }
  return value;
}

let counter = 0;

/** Creates a fresh database from the migrated template; call `close()` when done. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = requireEnv("LOCAL_PG_ADMIN_URL");
  const template = requireEnv("LOCAL_PG_TEMPLATE");
  const name = `t_${Deno.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    // file_copy copies the template's files at once; the default (wal_log) writes every block
    // through the WAL and takes about half as long again.
    await admin.unsafe(`create database "${name}" template "${template}" strategy file_copy`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 4, onnotice: () => {} });
  return {
    url: url.toString(),
    name,
    sql,
    async close() {
      await sql.end({ timeout: 5 });
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
