/**
 * A whole Supabase stack for one integration test.
 *
 * Under `deno task test` it is local: a fresh database cloned from the migrated template, its own
 * pg_net worker and its own gateway on a free port. With SUPABASE_URL, SUPABASE_ANON_KEY,
 * SUPABASE_SERVICE_ROLE_KEY and SUPABASE_DB_URL set (and no local cluster), the same tests run
 * against that real stack, for example one started by `supabase start`.
 */
import { join } from "node:path";
import postgres from "postgres";
import { startGateway } from "../../local/gateway/server.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../../local/keys.ts";
import { startNetWorker } from "../../local/net_worker.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { createTestDatabase } from "./db.ts";

/** True when the tests run against a real Supabase stack rather than the local stand-ins. */
export const isRemote = !Deno.env.get("LOCAL_PG_ADMIN_URL") && !!Deno.env.get("SUPABASE_URL");

/** Spread into `Deno.test` options for tests of the stand-ins themselves. */
export const standInOnly = { ignore: isRemote };

export interface TestStack {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
  dbUrl: string;
  /** Superuser connection to the stack's database. */
  sql: postgres.Sql;
  close(): Promise<void>;
}

export interface TestStackOptions {
  /** Start a pg_net worker for the database (default true). */
  netWorker?: boolean;
  functionsDir?: string;
  configPath?: string;
  /**
   * Extra environment variables for the edge functions (for example a function's own secret), instead
   * of writing supabase/functions/.env. Locally only: against a real stack set them with
   * `supabase secrets set`.
   */
  functionEnv?: Record<string, string>;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  if (isRemote) return remoteStack();
  const db = await createTestDatabase();
  const closers: Array<() => Promise<void>> = [() => db.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    if (options.netWorker ?? true) {
      const worker = await startNetWorker({ databaseUrl: db.url });
      closers.push(() => worker.stop());
    }
    const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
    const gateway = await startGateway({
      databaseUrl: db.url,
      jwtSecret: LOCAL_JWT_SECRET,
      apiKeys,
      functionsDir: options.functionsDir ?? join(PROJECT_ROOT, "supabase", "functions"),
      configPath: options.configPath ?? join(PROJECT_ROOT, "supabase", "config.toml"),
      functionEnv: options.functionEnv,
      port: 0,
    });
    closers.push(() => gateway.close());
    return {
      apiUrl: gateway.url,
      ...apiKeys,
      jwtSecret: LOCAL_JWT_SECRET,
      dbUrl: db.url,
      sql: db.sql,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function remoteStack(): TestStack {
  const env = (name: string) => {
    const value = Deno.env.get(name);
    if (!value) throw new Error(`${name} must be set to run the tests against a Supabase stack`);
    return value;
  };
  const dbUrl = env("SUPABASE_DB_URL");
  const sql = postgres(dbUrl, { max: 4, onnotice: () => {} });
  return {
    apiUrl: env("SUPABASE_URL"),
    anonKey: env("SUPABASE_ANON_KEY"),
    serviceRoleKey: env("SUPABASE_SERVICE_ROLE_KEY"),
    jwtSecret: Deno.env.get("SUPABASE_JWT_SECRET") ?? "",
    dbUrl,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}
