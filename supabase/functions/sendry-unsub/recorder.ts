/**
 * Records unsubscribes through `public.rpc_sendry_record_unsubscribe` with the secret key.
 */
import { type AdminClientSource, resolveAdminClient } from "../_shared/lazy_admin_client.ts";
import type { UnsubscribeRecorder, UnsubscribeResult } from "./app.ts";

/** An {@link UnsubscribeRecorder} that calls the RPC; it throws when the RPC fails. */
export function rpcUnsubscribeRecorder(client: AdminClientSource): UnsubscribeRecorder {
  return async ({ webhookId, email, occurredAt }) => {
    const { data, error } = await (await resolveAdminClient(client)).rpc("rpc_sendry_record_unsubscribe", {
      p_webhook_id: webhookId,
      p_email: email,
      ...(occurredAt !== undefined ? { p_occurred_at: occurredAt } : {}),
    });
    if (error) throw new Error(`rpc_sendry_record_unsubscribe failed: ${error.code} ${error.message}`);
    const result = data as Partial<UnsubscribeResult> | null;
    return { duplicate: result?.duplicate === true, matched_users: Number(result?.matched_users ?? 0) };
  };
}
