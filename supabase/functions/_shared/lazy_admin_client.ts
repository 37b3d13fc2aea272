/**
 * The admin client, created on first use. supabase-js is most of a function's module graph:
 * importing it at start puts a function's cold start over 100 ms, and requests refused up front
 * (bad signature, bad shape) never need it. Type-only imports keep this module free of it.
 *
 * @example
 * ```ts
 * const adminClient = lazyAdminClient(env.supabase, { clientInfo: "sendry-unsub" });
 * const app = createApp({ recordUnsubscribe: rpcUnsubscribeRecorder(adminClient) });
 * ```
 */
import type { SupabaseEnv } from "./env.ts";
import type { AdminClient, AdminClientOptions } from "./supabase_client.ts";

/** A client, or a function that gives one (see {@link lazyAdminClient}). */
export type AdminClientSource = AdminClient | (() => Promise<AdminClient>);

/** A function that loads supabase-js and creates the client on its first call, then reuses it. */
export function lazyAdminClient(env: SupabaseEnv, options?: AdminClientOptions): () => Promise<AdminClient> {
  let client: Promise<AdminClient> | undefined;
  return () =>
    client ??= import("./supabase_client.ts")
      .then(({ createAdminClient }) => createAdminClient(env, options))
      .catch((error) => {
        client = undefined; // try again on the next call
        throw error;
      });
}

/** The client behind `source`. */
export function resolveAdminClient(source: AdminClientSource): Promise<AdminClient> {
  return typeof source === "function" ? source() : Promise.resolve(source);
}
