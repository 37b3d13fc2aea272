/**
 * The database end of ingest-webhook: `rpc_plugin_ingest_webhook`, called with the service role. The
 * RPC verifies the signature with the installation's Vault secret, so the function never holds it.
 */
import { type AdminClientSource, resolveAdminClient } from "../_shared/lazy_admin_client.ts";
import { IngestOutcome } from "./schemas.ts";

export interface IngestRequest {
  installationId: string;
  deliveryId: string;
  /** Unix seconds, as sent by the partner. */
  timestamp: number;
  /** The signature header's value, passed on unchanged (`v1,<base64> ...` or hex). */
  signature: string;
  /** The raw body exactly as received. */
  body: string;
}

/** Hands one verified-shape request to the database and returns its outcome. */
export type Ingest = (request: IngestRequest) => Promise<IngestOutcome>;

/** The database could not be asked (network, PostgREST or SQL error); `code` is PostgREST's. */
export class IngestUnavailableError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "IngestUnavailableError";
  }
}

/**
 * An {@link Ingest} over `rpc_plugin_ingest_webhook`. `client` may be a function that creates the
 * client on first use, so that loading supabase-js does not slow the function's start (index.ts).
 */
export function rpcIngest(client: AdminClientSource): Ingest {
  return async (request) => {
    const db = await resolveAdminClient(client);
    const { data, error } = await db.rpc("rpc_plugin_ingest_webhook", {
      p_installation_id: request.installationId,
      p_delivery_id: request.deliveryId,
      p_timestamp: request.timestamp,
      p_signature: request.signature,
      p_body: request.body,
    });
    if (error) throw new IngestUnavailableError(error.code ?? "unknown", error.message);
    const outcome = IngestOutcome.safeParse(data);
    if (!outcome.success) {
      throw new IngestUnavailableError(
        "unexpected_result",
        "rpc_plugin_ingest_webhook returned an unexpected shape",
      );
    }
    return outcome.data;
  };
}
