/**
 * The receiver's callback: what a partner does after accepting a delivery, here through the inbound
 * path so the round trip database -> function -> database is real. For a new work order
 * (`work_orders.insert`) it sends `work_order.set_external_ref` to ingest-webhook, signed with the
 * same secret (Standard Webhooks headers, raw key). The callback's delivery id is the outbound
 * delivery id, so the database applies it once however often the delivery arrives: that is the
 * receiver's durable deduplication.
 *
 * Network errors, timeouts, 429 and 5xx are retried with a short backoff; other answers are final. A
 * 2xx whose body is not a JSON object is not ingest-webhook's answer: it fails at once as
 * `unexpected_answer`. Each try is bounded by `timeoutMs`: a callback that hangs would keep its delivery
 * id in the receiver's memory, and every redelivery would be acknowledged as a duplicate and dropped.
 */
import { standardWebhookHeaders } from "../_shared/webhook_signature.ts";
import type { PluginDelivery } from "./schemas.ts";

export interface InboundAction {
  action: string;
  args: Record<string, unknown>;
}

export interface CallbackResult {
  /** The action sent, or null when the delivery needs no callback. */
  action: string | null;
  status?: number;
  /** True when the database had applied this delivery id before. */
  duplicate?: boolean;
}

/** Does the work for one accepted delivery. */
export type DeliveryHandler = (delivery: PluginDelivery) => Promise<CallbackResult>;

/** The failure of a callback, with the HTTP status and error code ingest-webhook answered. */
export class CallbackError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = "CallbackError";
  }
}

export interface IngestCallbackOptions {
  /** ingest-webhook's URL without the installation id, e.g. `${SUPABASE_URL}/functions/v1/ingest-webhook`. */
  ingestUrl: string;
  /** The installation's shared secret (the Vault secret's plaintext). */
  secret: string;
  fetch?: typeof fetch;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Tries per callback (default 3). */
  attempts?: number;
  /** Pause before try n+1 in ms (default 200 ms, then 1 s). */
  backoffMs?: (attempt: number) => number;
  /** How long one try may take, answer body included, in ms (default 10 s). */
  timeoutMs?: number;
}

export const DEFAULT_CALLBACK_TIMEOUT_MS = 10_000;

/** The external reference this example receiver gives a new work order. */
export function externalRefFor(delivery: PluginDelivery): string {
  return `rcv-${delivery.audit_id}`;
}

/** The inbound action a delivery leads to, or undefined when there is nothing to do. */
export function callbackActionFor(delivery: PluginDelivery): InboundAction | undefined {
  const { table_schema, table_name, op, record_id } = delivery.data;
  if (table_schema === "public" && table_name === "work_orders" && op === "INSERT") {
    return {
      action: "work_order.set_external_ref",
      args: { work_order_id: record_id, external_ref: externalRefFor(delivery) },
    };
  }
  return undefined;
}

/** The answer's body when it is a JSON object; undefined for anything else (null, arrays, text). */
async function jsonObjectOf(response: Response): Promise<Record<string, unknown> | undefined> {
  const answer: unknown = await response.json().catch(() => undefined);
  return typeof answer === "object" && answer !== null && !Array.isArray(answer)
    ? answer as Record<string, unknown>
    : undefined;
}

export function createIngestCallback(options: IngestCallbackOptions): DeliveryHandler {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const attempts = options.attempts ?? 3;
  const backoffMs = options.backoffMs ?? ((attempt: number) => (attempt === 1 ? 200 : 1000));
  const timeoutMs = options.timeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS;
  const base = options.ingestUrl.replace(/\/+$/, "");

  return async (delivery) => {
    const call = callbackActionFor(delivery);
    if (!call) return { action: null };
    const body = JSON.stringify(call);
    const url = `${base}/${delivery.installation_id}`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt - 1)));
      const headers = await standardWebhookHeaders(
        options.secret,
        { id: delivery.id, timestamp: Math.floor(now() / 1000), body },
        "raw",
      );
      // A timer of our own (not AbortSignal.timeout) so that it is cleared as soon as the try ends.
      const abort = new AbortController();
      const timer = setTimeout(
        () => abort.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")),
        timeoutMs,
      );
      let response: Response;
      let answer: Record<string, unknown> | undefined;
      try {
        response = await doFetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body,
          signal: abort.signal,
        });
        answer = await jsonObjectOf(response);
        // A body cut off by the timeout is no answer either (retrying is safe: same delivery id).
        if (abort.signal.aborted) throw abort.signal.reason;
      } catch (error) {
        lastError = error;
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (response.ok) {
        if (answer === undefined) {
          // ingest-webhook always answers an object, so something else answered: a final failure.
          throw new CallbackError(
            response.status,
            "unexpected_answer",
            `ingest-webhook answered ${response.status} without a JSON object (check INGEST_WEBHOOK_URL)`,
          );
        }
        return { action: call.action, status: response.status, duplicate: answer.duplicate === true };
      }
      const failure = new CallbackError(
        response.status,
        typeof answer?.error === "string" ? answer.error : `http_${response.status}`,
        typeof answer?.message === "string" ? answer.message : `ingest-webhook answered ${response.status}`,
      );
      if (response.status !== 429 && response.status < 500) throw failure;
      lastError = failure;
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  };
}
