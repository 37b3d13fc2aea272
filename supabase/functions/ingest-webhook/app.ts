/**
 * ingest-webhook: partners call back into the database. `POST /ingest-webhook/<installation id>`
 * (or `POST /ingest-webhook` with `X-Plugin-Installation-Id`), a JSON body
 * `{"action": "work_order.set_status", "args": {...}}`, signed with the installation's secret:
 *
 * - Standard Webhooks headers `webhook-id`, `webhook-timestamp` (unix seconds) and
 *   `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, or
 * - `X-Plugin-Delivery-Id`, `X-Plugin-Timestamp` and `X-Plugin-Signature: <hex HMAC-SHA256 of
 *   "id.timestamp.body">` (the same HMAC, hex-encoded).
 *
 * The function checks everything it can without the secret, cheapest first, each with a JSON error:
 * content type (415), installation id (400), signature headers (401), body size (413), JSON and shape
 * (400). Then it hands the raw body and the header values to `rpc_plugin_ingest_webhook` with the
 * service role. The database verifies the signature with the installation's Vault secret, refuses
 * timestamps outside 5 minutes, applies each delivery id once and only allowlisted actions, and logs
 * every request; its outcome code becomes the HTTP status here (see {@link statusFor}).
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import {
  addLogFields,
  type AppContext,
  createHttpApp,
  HttpError,
  parseJson,
  readBody,
} from "../_shared/http_app.ts";
import { type Ingest, IngestUnavailableError } from "./ingest_rpc.ts";
import { InboundWebhookBody } from "./schemas.ts";

export const FUNCTION_NAME = "ingest-webhook";

/** Bodies above this are refused before they reach the database (which allows 256 KB). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export interface IngestWebhookDeps {
  /** In production `rpcIngest(adminClient)`; tests pass a fake. */
  ingest: Ingest;
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;
const TIMESTAMP = /^\d{1,12}$/;
const MAX_SIGNATURE_CHARS = 1024;

/** The HTTP status of each outcome code of rpc_plugin_ingest_webhook. */
const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  applied: 200,
  unknown_installation: 404,
  invalid_delivery_id: 400,
  payload_too_large: 413,
  secret_unavailable: 403,
  invalid_signature: 401,
  stale_timestamp: 401,
  installation_inactive: 403,
  plugin_inactive: 403,
  invalid_json: 400,
  invalid_payload: 400,
  unknown_action: 422,
  invalid_args: 422,
  work_order_not_found: 404,
  action_failed: 500,
};

/** The HTTP status for a database outcome code (422 for codes this function does not know yet). */
export function statusFor(code: string): ContentfulStatusCode {
  return STATUS_BY_CODE[code] ?? 422;
}

interface SignatureHeaders {
  scheme: "standard-webhooks" | "x-plugin";
  deliveryId: string;
  timestamp: string;
  signature: string;
}

/** The signature headers of one scheme, complete; undefined when neither scheme is complete. */
function signatureHeaders(c: AppContext): SignatureHeaders | undefined {
  const standard = [
    c.req.header("webhook-id"),
    c.req.header("webhook-timestamp"),
    c.req.header("webhook-signature"),
  ];
  if (standard.every((v) => v)) {
    const [deliveryId, timestamp, signature] = standard as string[];
    return { scheme: "standard-webhooks", deliveryId, timestamp, signature };
  }
  const plugin = [
    c.req.header("x-plugin-delivery-id"),
    c.req.header("x-plugin-timestamp"),
    c.req.header("x-plugin-signature"),
  ];
  if (plugin.every((v) => v)) {
    const [deliveryId, timestamp, signature] = plugin as string[];
    return { scheme: "x-plugin", deliveryId, timestamp, signature };
  }
  return undefined;
}

function requireJsonContentType(c: AppContext): void {
  const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "Send the body as Content-Type: application/json");
  }
}

function installationIdOf(c: AppContext): string {
  const id = c.req.param("installationId") ?? c.req.header("x-plugin-installation-id");
  if (!id) {
    throw new HttpError(
      400,
      "missing_installation_id",
      "Name the installation: POST /ingest-webhook/<installation id> or send X-Plugin-Installation-Id",
    );
  }
  if (!UUID.test(id)) {
    throw new HttpError(400, "invalid_installation_id", "The installation id must be a uuid");
  }
  return id.toLowerCase();
}

export function createApp(deps: IngestWebhookDeps) {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = createHttpApp({ functionName: FUNCTION_NAME, log: deps.log });

  const ingest = async (c: AppContext) => {
    requireJsonContentType(c);
    const installationId = installationIdOf(c);
    addLogFields(c, { installation_id: installationId });

    const headers = signatureHeaders(c);
    if (!headers) {
      throw new HttpError(
        401,
        "missing_signature",
        "Sign the request: send webhook-id, webhook-timestamp and webhook-signature " +
          "(or X-Plugin-Delivery-Id, X-Plugin-Timestamp and X-Plugin-Signature)",
      );
    }
    if (!DELIVERY_ID.test(headers.deliveryId)) {
      throw new HttpError(
        400,
        "invalid_delivery_id",
        "The delivery id must be 1 to 200 printable ASCII characters without spaces",
      );
    }
    addLogFields(c, { delivery_id: headers.deliveryId, scheme: headers.scheme });
    if (!TIMESTAMP.test(headers.timestamp.trim())) {
      throw new HttpError(400, "invalid_timestamp", "The timestamp must be unix seconds");
    }
    if (headers.signature.length > MAX_SIGNATURE_CHARS) {
      throw new HttpError(400, "invalid_signature_header", "The signature header is too long");
    }

    const body = await readBody(c, maxBodyBytes);
    const parsed = parseJson(body, InboundWebhookBody);
    addLogFields(c, { action: parsed.action });

    let outcome;
    try {
      outcome = await deps.ingest({
        installationId,
        deliveryId: headers.deliveryId,
        timestamp: Number(headers.timestamp.trim()),
        signature: headers.signature,
        body,
      });
    } catch (error) {
      if (!(error instanceof IngestUnavailableError)) throw error;
      addLogFields(c, { rpc_error: error.code });
      throw new HttpError(
        503,
        "ingest_unavailable",
        "The database could not take the webhook right now; retry it later with the same delivery id",
      );
    }
    addLogFields(c, { code: outcome.code, duplicate: outcome.duplicate ?? false });
    if (!outcome.ok) throw new HttpError(statusFor(outcome.code), outcome.code, outcome.message);
    return c.json({
      delivery_id: headers.deliveryId,
      action: outcome.action ?? parsed.action,
      duplicate: outcome.duplicate ?? false,
      result: outcome.result ?? {},
    }, 200);
  };

  app.post("/", ingest);
  app.post("/:installationId", ingest);
  return app;
}
