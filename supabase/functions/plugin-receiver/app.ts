/**
 * plugin-receiver: the example of what a partner runs to receive outbound plugin deliveries.
 * `POST /plugin-receiver` with the delivery JSON and the database's signature headers.
 *
 * In order: JSON content type (415), the Standard Webhooks signature header (401 `missing_signature`),
 * the raw body (413 beyond the limit), then the signature on those exact bytes with the shared secret:
 * `webhook-id`, `webhook-timestamp` and `webhook-signature` sign id and timestamp too, so a timestamp
 * more than 5 minutes off is 401 `stale_timestamp` and a mismatch 401 `invalid_signature`.
 * `X-Plugin-Signature` alone is refused: it signs only the body, so a captured delivery stripped of its
 * webhook-* headers would verify forever (the database sends both with every delivery).
 * Then the body's shape (400) and that its `id` is the signed delivery id (400). A delivery id seen
 * before is acknowledged with `duplicate: true` and not processed again. A new one is acknowledged at
 * once (200) and its work (`handleDelivery`, by default the callback through the inbound path) runs
 * after the response with `EdgeRuntime.waitUntil`, or the plain-Deno fallback. If that work fails, the
 * id is forgotten, so a redelivery gets processed.
 */
import {
  addLogFields,
  type AppContext,
  createHttpApp,
  HttpError,
  parseJson,
  readBody,
} from "../_shared/http_app.ts";
import {
  DEFAULT_TOLERANCE_SECONDS,
  verifyStandardWebhook,
  WebhookVerificationError,
} from "../_shared/webhook_signature.ts";
import type { WaitUntil } from "./background.ts";
import type { DeliveryHandler } from "./callback.ts";
import { RecentDeliveries } from "./recent_deliveries.ts";
import { PluginDelivery } from "./schemas.ts";

export const FUNCTION_NAME = "plugin-receiver";

/** Deliveries are well under 64 KB (pg_net's limit); anything bigger is not from the database. */
export const DEFAULT_MAX_BODY_BYTES = 128 * 1024;

export interface PluginReceiverDeps {
  /** The installation's shared secret (the plaintext of its Vault secret), as raw key bytes' text. */
  secret: string;
  /** The work for an accepted delivery; runs after the response. */
  handleDelivery: DeliveryHandler;
  /** Keeps background work alive (EdgeRuntime.waitUntil or the fallback from background.ts). */
  waitUntil: WaitUntil;
  recent?: RecentDeliveries;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  toleranceSeconds?: number;
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

function verificationFailure(error: WebhookVerificationError): HttpError {
  switch (error.code) {
    case "missing_headers":
      return new HttpError(401, "missing_signature", error.message);
    case "invalid_timestamp":
      return new HttpError(401, "invalid_timestamp", error.message);
    case "timestamp_too_old":
    case "timestamp_too_new":
      return new HttpError(401, "stale_timestamp", error.message);
    default:
      return new HttpError(401, "invalid_signature", error.message);
  }
}

export function createApp(deps: PluginReceiverDeps) {
  const now = deps.now ?? Date.now;
  const tolerance = deps.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const recent = deps.recent ?? new RecentDeliveries();
  const log = deps.log ?? ((line: string) => console.log(line));
  const app = createHttpApp({ functionName: FUNCTION_NAME, log: deps.log });

  /** Verifies the raw body with the Standard Webhooks headers; returns the signed delivery id. */
  async function verify(c: AppContext, body: string): Promise<string> {
    try {
      const { id } = await verifyStandardWebhook(deps.secret, body, c.req.raw.headers, {
        format: "raw",
        toleranceSeconds: tolerance,
        now,
      });
      const pluginId = c.req.header("x-plugin-delivery-id");
      if (pluginId && pluginId !== id) {
        throw new HttpError(400, "delivery_id_mismatch", "X-Plugin-Delivery-Id differs from webhook-id");
      }
      return id;
    } catch (error) {
      throw error instanceof WebhookVerificationError ? verificationFailure(error) : error;
    }
  }

  async function process(delivery: PluginDelivery): Promise<void> {
    const started = performance.now();
    try {
      const result = await deps.handleDelivery(delivery);
      // A delivery that needed no callback is in its request's log line already (delivery_id,
      // event_type); a second line per delivery would double the log volume for nothing.
      if (result.action === null) return;
      log(JSON.stringify({
        level: "info",
        fn: FUNCTION_NAME,
        event: "delivery_processed",
        delivery_id: delivery.id,
        event_type: delivery.type,
        callback: result.action,
        callback_status: result.status ?? null,
        callback_duplicate: result.duplicate ?? false,
        duration_ms: Math.round(performance.now() - started),
      }));
    } catch (error) {
      // Forget it, so that a redelivery is processed again.
      recent.delete(delivery.id);
      log(JSON.stringify({
        level: "error",
        fn: FUNCTION_NAME,
        event: "delivery_failed",
        delivery_id: delivery.id,
        event_type: delivery.type,
        error: `${(error as Error)?.name ?? "Error"}: ${
          String((error as Error)?.message ?? error).slice(0, 300)
        }`,
        duration_ms: Math.round(performance.now() - started),
      }));
    }
  }

  app.post("/", async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      throw new HttpError(
        415,
        "unsupported_media_type",
        "Deliveries are sent as Content-Type: application/json",
      );
    }
    if (!c.req.header("webhook-signature")) {
      throw new HttpError(
        401,
        "missing_signature",
        "Send webhook-id, webhook-timestamp and webhook-signature (X-Plugin-Signature alone has no timestamp " +
          "and is refused)",
      );
    }
    const body = await readBody(c, maxBodyBytes);
    const deliveryId = await verify(c, body);
    addLogFields(c, { delivery_id: deliveryId });
    const delivery = parseJson(body, PluginDelivery);
    if (delivery.id !== deliveryId) {
      throw new HttpError(400, "delivery_id_mismatch", "The body's id is not the signed delivery id");
    }
    addLogFields(c, { event_type: delivery.type });

    if (!recent.add(deliveryId)) {
      addLogFields(c, { duplicate: true });
      return c.json({ received: true, delivery_id: deliveryId, duplicate: true }, 200);
    }
    deps.waitUntil(process(delivery));
    return c.json({ received: true, delivery_id: deliveryId, duplicate: false }, 200);
  });

  return app;
}
