/**
 * Records provisioning outcomes through `public.rpc_record_user_provisioning` with the secret key.
 */
import { type AdminClientSource, resolveAdminClient } from "../_shared/lazy_admin_client.ts";
import type { StatusRecorder } from "./app.ts";

/** A {@link StatusRecorder} that calls the RPC; it throws when the RPC fails. */
export function rpcStatusRecorder(client: AdminClientSource): StatusRecorder {
  return async (userId, status, error) => {
    const { error: rpcError } = await (await resolveAdminClient(client)).rpc("rpc_record_user_provisioning", {
      p_user_id: userId,
      p_status: status,
      ...(error !== undefined ? { p_error: error } : {}),
    });
    if (rpcError) {
      throw new Error(`rpc_record_user_provisioning failed: ${rpcError.code} ${rpcError.message}`);
    }
  };
}
