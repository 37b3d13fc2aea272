/**
 * The supabase-js client a function uses to call RPCs with the project's secret (service) key.
 * Functions serve many callers, so the client keeps no session: nothing is persisted, refreshed or
 * read from a URL. Typed with the generated {@link Database}, so `.rpc()` names and arguments are
 * checked against the migrations.
 *
 * @example
 * ```ts
 * const env = loadEnv({ required: [], supabase: true });
 * const supabase = createAdminClient(env.supabase);
 * const { data, error } = await supabase.rpc("rpc_record_user_provisioning", {
 *   p_user_id: id,
 *   p_status: "provisioned",
 * });
 * ```
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { Database } from "./database.types.ts";
import type { SupabaseEnv } from "./env.ts";

export type AdminClient = SupabaseClient<Database>;

export interface AdminClientOptions {
  /** The fetch used for every request (tests pass a fake). */
  fetch?: typeof fetch;
  /** Sent as `X-Client-Info`, so the project's logs show which function called. */
  clientInfo?: string;
}

/** A client acting with the secret key: it bypasses RLS, so use it only for deliberate RPCs. */
export function createAdminClient(
  env: Pick<SupabaseEnv, "url" | "secretKey">,
  options: AdminClientOptions = {},
): AdminClient {
  return createClient<Database>(env.url, env.secretKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      headers: { "X-Client-Info": options.clientInfo ?? "supabase-edge-function" },
    },
  });
}
