/**
 * Webhook helpers for plugin backends written in TypeScript:
 *
 * - {@link verifyWebhook} checks an outbound delivery from the database on its raw body: the Standard
 *   Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`, which sign id and
 *   timestamp too; stale timestamps are refused), which the database sends with every delivery.
 *   `X-Plugin-Signature` alone (hex HMAC-SHA256 of the body, which has no timestamp: an old delivery
 *   replays forever) is accepted only with `allowXPluginSignature`. Comparisons are constant-time.
 * - {@link signInboundWebhook} signs a request to the `ingest-webhook` function (inbound actions).
 *
 * The secret is the plaintext of the installation's Vault secret (a raw key, not `whsec_` base64).
 *
 * @example A receiver (any framework that gives you the raw body)
 * ```ts
 * const rawBody = await req.text();
 * try {
 *   const delivery = await verifyWebhook(rawBody, req.headers, Deno.env.get("WEBHOOK_SECRET")!);
 *   if (await alreadyProcessed(delivery.id)) return new Response("ok");
 *   queue(delivery.payload);
 *   return new Response("ok");
 * } catch (error) {
 *   if (error instanceof WebhookError) return new Response(error.code, { status: 401 });
 *   throw error;
 * }
 * ```
 */
import {
  DEFAULT_TOLERANCE_SECONDS,
  standardWebhookHeaders,
  verifyHmacHex,
  verifyStandardWebhook,
  type WebhookSecret,
  WebhookVerificationError,
} from "../supabase/functions/_shared/webhook_signature.ts";

/** The body of an outbound delivery, fixed by the database when the change happened. */
export interface PluginDeliveryPayload {
  /** The delivery id, also sent as `X-Plugin-Delivery-Id` and `webhook-id`: dedupe on it. */
  id: string;
  /** `<table>.<insert|update|delete>`, e.g. `work_orders.insert` (also `X-Plugin-Event-Type`). */
  type: string;
  tenant_id: string;
  installation_id: string;
  /** The audit.entity_changes row; the same change always has the same audit_id. */
  audit_id: number;
  occurred_at: string;
  data: {
    table_schema: string;
    table_name: string;
    op: "INSERT" | "UPDATE" | "DELETE";
    record_id: string;
    changed_fields: string[];
    /** Only with include_payload. */
    old_data?: Record<string, unknown> | null;
    new_data?: Record<string, unknown> | null;
    payload_truncated?: boolean;
  };
}

export type WebhookErrorCode =
  | "missing_headers"
  | "invalid_timestamp"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "invalid_signature"
  | "invalid_body"
  | "delivery_id_mismatch";

/** Why a delivery was refused; `code` is stable, the message explains it (never with a secret). */
export class WebhookError extends Error {
  constructor(readonly code: WebhookErrorCode, message: string) {
    super(message);
    this.name = "WebhookError";
  }
}

/** Request headers as fetch (`Headers`), Node (`IncomingHttpHeaders`) or a plain object give them. */
export type HeadersLike = Headers | Record<string, string | string[] | null | undefined>;

export interface VerifyWebhookOptions {
  /** Accepted clock difference in seconds, either way (default 300). */
  toleranceSeconds?: number;
  /** Clock in ms (default Date.now), for tests. */
  now?: () => number;
  /**
   * Also accept `X-Plugin-Signature` alone, without the Standard Webhooks headers (default false).
   * It signs only the body, which carries no time, so a captured delivery verifies forever: enable it
   * only behind a durable dedupe on the delivery id. The database sends both with every delivery.
   */
  allowXPluginSignature?: boolean;
}

export interface VerifiedDelivery {
  /** The signed delivery id. */
  id: string;
  /** The event type, e.g. `work_orders.insert`. */
  type: string;
  /** Unix seconds from the signed `webhook-timestamp`, when the Standard Webhooks headers were used. */
  timestamp?: number;
  scheme: "standard-webhooks" | "x-plugin-signature";
  payload: PluginDeliveryPayload;
}

/** A Headers object of another class (a fetch polyfill, another realm): it passes the type check. */
function isForeignHeaders(headers: HeadersLike): headers is Headers {
  return typeof (headers as Headers).forEach === "function" && typeof (headers as Headers).get === "function";
}

function toHeaders(headers: HeadersLike): Headers {
  if (headers instanceof Headers) return headers;
  const out = new Headers();
  if (isForeignHeaders(headers)) {
    headers.forEach((value, name) => out.set(name, value));
    return out;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value === null || value === undefined) continue;
    out.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return out;
}

/**
 * Verifies an outbound plugin delivery on its raw body and returns it parsed. Throws a
 * {@link WebhookError} when it must be refused (answer 4xx, typically 401).
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array,
  headers: HeadersLike,
  secret: WebhookSecret,
  options: VerifyWebhookOptions = {},
): Promise<VerifiedDelivery> {
  const h = toHeaders(headers);
  const now = options.now ?? Date.now;
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  let id: string;
  let timestamp: number | undefined;
  let scheme: VerifiedDelivery["scheme"];
  // Any Standard Webhooks header selects that scheme, so blanking or dropping one of them cannot
  // downgrade a request to the untimed X-Plugin-Signature.
  if (h.has("webhook-signature") || h.has("webhook-id") || h.has("webhook-timestamp")) {
    try {
      ({ id, timestamp } = await verifyStandardWebhook(secret, rawBody, h, {
        format: "raw",
        toleranceSeconds: tolerance,
        now,
      }));
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      const code = error.code === "no_matching_signature" ? "invalid_signature" : error.code;
      throw new WebhookError(code, error.message);
    }
    scheme = "standard-webhooks";
  } else if (h.get("x-plugin-signature") && options.allowXPluginSignature) {
    const deliveryId = h.get("x-plugin-delivery-id");
    if (!deliveryId) {
      throw new WebhookError("missing_headers", "X-Plugin-Signature needs X-Plugin-Delivery-Id");
    }
    if (!(await verifyHmacHex(secret, rawBody, h.get("x-plugin-signature")))) {
      throw new WebhookError(
        "invalid_signature",
        "X-Plugin-Signature does not match: check the secret, and verify the raw body bytes before parsing them",
      );
    }
    id = deliveryId;
    scheme = "x-plugin-signature";
  } else {
    throw new WebhookError(
      "missing_headers",
      options.allowXPluginSignature
        ? "No signature: expected webhook-id, webhook-timestamp and webhook-signature, or X-Plugin-Signature"
        : "No signature: expected webhook-id, webhook-timestamp and webhook-signature (X-Plugin-Signature " +
          "alone has no timestamp and is refused unless allowXPluginSignature is set)",
    );
  }

  let payload: PluginDeliveryPayload;
  try {
    payload = JSON.parse(typeof rawBody === "string" ? rawBody : new TextDecoder().decode(rawBody));
  } catch {
    throw new WebhookError("invalid_body", "The body is not JSON");
  }
  if (typeof payload !== "object" || payload === null || typeof payload.id !== "string") {
    throw new WebhookError("invalid_body", "The body is not a plugin delivery (no id)");
  }
  const pluginId = h.get("x-plugin-delivery-id");
  if (payload.id !== id || (pluginId !== null && pluginId !== id)) {
    throw new WebhookError(
      "delivery_id_mismatch",
      "The body's id, the signed id and X-Plugin-Delivery-Id differ",
    );
  }
  return { id, type: payload.type, timestamp, scheme, payload };
}

export interface InboundWebhook {
  /** The action, e.g. `work_order.set_status`. */
  action: string;
  args: Record<string, unknown>;
  /** Unique per message and the same on retries (the database applies each id once). Default: random. */
  deliveryId?: string;
  /** Unix seconds or a Date (default now). */
  timestamp?: number | Date;
}

/**
 * The body and headers of a signed request to `ingest-webhook`:
 * `fetch(`${SUPABASE_URL}/functions/v1/ingest-webhook/${installationId}`, { method: "POST", ...signed })`.
 */
export async function signInboundWebhook(
  message: InboundWebhook,
  secret: WebhookSecret,
): Promise<{ body: string; headers: Record<string, string> }> {
  const body = JSON.stringify({ action: message.action, args: message.args });
  const headers = await standardWebhookHeaders(secret, {
    id: message.deliveryId ?? `in_${crypto.randomUUID()}`,
    timestamp: message.timestamp ?? new Date(),
    body,
  }, "raw");
  return { body, headers: { "content-type": "application/json", ...headers } };
}
