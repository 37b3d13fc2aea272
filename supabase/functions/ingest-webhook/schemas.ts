/**
 * Shapes of ingest-webhook's input: the signed body a partner sends and the outcome the database
 * returns for it.
 */
import { z } from "zod";

/** `work_order.set_status`-style names; the database's allowlist decides which ones exist. */
export const ACTION_NAME = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;

/**
 * The body of an inbound webhook: one action with its arguments, nothing else.
 *
 * @example
 * ```json
 * {"action": "work_order.set_status", "args": {"work_order_id": "…", "status": "done"}}
 * ```
 */
export const InboundWebhookBody = z.strictObject({
  action: z.string().max(100).regex(ACTION_NAME, { message: "must be a name like work_order.set_status" }),
  args: z.record(z.string(), z.unknown()).optional(),
});

export type InboundWebhookBody = z.infer<typeof InboundWebhookBody>;

/** What rpc_plugin_ingest_webhook returns: `ok` with `code` applied, or the reason it refused. */
export const IngestOutcome = z.object({
  ok: z.boolean(),
  code: z.string(),
  message: z.string(),
  duplicate: z.boolean().optional(),
  action: z.string().optional(),
  result: z.record(z.string(), z.unknown()).optional(),
});

export type IngestOutcome = z.infer<typeof IngestOutcome>;
