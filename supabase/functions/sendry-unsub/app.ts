/**
 * sendry-unsub: Sendry's webhook for unsubscribes. `POST /sendry-unsub`, signed per Standard Webhooks
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with SENDRY_WEBHOOK_SECRET.
 *
 * Checks, in order: the signature on the raw body (401 `invalid_signature`), JSON (400
 * `invalid_json`), the event shape (400 `invalid_payload`: no `type`, or a `contact.unsubscribed`
 * without a `data.email` that has an `@`; fields the function does not use are not checked).
 * `contact.unsubscribed` marks the profiles of the users with that address unsubscribed through
 * `rpc_sendry_record_unsubscribe`, once per `webhook-id`: a replay is acknowledged with
 * `duplicate: true` and changes nothing. Other event types are acknowledged and ignored (Sendry stops
 * retrying on any 2xx). An address that matches no user is acknowledged too (`matched_users: 0`).
 */
import { z } from "zod";
import { addLogFields, createHttpApp, HttpError, parseJson, readBody } from "../_shared/http_app.ts";
import { verifyStandardWebhook, WebhookVerificationError } from "../_shared/webhook_signature.ts";

export const FUNCTION_NAME = "sendry-unsub";

export interface UnsubscribeResult {
  duplicate: boolean;
  matched_users: number;
}

/** Records one unsubscribe (in production: the `rpc_sendry_record_unsubscribe` RPC). */
export type UnsubscribeRecorder = (input: {
  webhookId: string;
  email: string;
  occurredAt?: string;
}) => Promise<UnsubscribeResult>;

export interface SendryUnsubDeps {
  /** SENDRY_WEBHOOK_SECRET: `whsec_<base64>` as Sendry shows it (a raw secret works too). */
  webhookSecret: string;
  recordUnsubscribe: UnsubscribeRecorder;
  /** Clock in ms for the timestamp check (default Date.now). */
  now?: () => number;
  log?: (line: string) => void;
}

const MAX_BODY_BYTES = 64 * 1024;

/** Any Sendry event: only its type is needed to decide. */
export const SendryEvent = z.object({ type: z.string().min(1).max(100) });

/**
 * An address as far as matching it needs: the database compares it case-insensitively with users'
 * emails, so anything with a local part, an `@` and a domain will do. Internationalised addresses
 * (`zoë@exämple.de`, `用户@例子.广告`) are addresses too, which `z.email()` refuses.
 */
export const EmailAddress = z.string().trim().max(320).regex(/^\S+@[^\s@]+$/, "Expected an email address");

/**
 * A verified unsubscribe must not be lost over a field this function does not need: only `type` and
 * `data.email` are required. `created_at` becomes the unsubscribe time when it is an ISO date-time with
 * an offset; null, absent or anything else means "now". Other fields (`data.audience_id`,
 * `data.contact_id`, ...) are not used, so they are not checked: any value, null included, is accepted.
 */
export const ContactUnsubscribed = z.object({
  type: z.literal("contact.unsubscribed"),
  created_at: z.iso.datetime({ offset: true }).nullish().catch(undefined),
  data: z.object({ email: EmailAddress }),
});

export function createApp(deps: SendryUnsubDeps) {
  const app = createHttpApp({ functionName: FUNCTION_NAME, log: deps.log });

  app.post("/", async (c) => {
    const body = await readBody(c, MAX_BODY_BYTES);
    let webhookId: string;
    try {
      ({ id: webhookId } = await verifyStandardWebhook(deps.webhookSecret, body, c.req.raw.headers, {
        now: deps.now,
      }));
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        addLogFields(c, { verification: error.code });
        throw new HttpError(401, "invalid_signature", error.message);
      }
      throw error;
    }
    if (webhookId.length > 200) throw new HttpError(400, "invalid_payload", "webhook-id is too long");
    addLogFields(c, { webhook_id: webhookId });

    const event = parseJson(body, SendryEvent);
    addLogFields(c, { event: event.type });
    if (event.type !== "contact.unsubscribed") {
      return c.json({ received: true, ignored: true });
    }
    const unsubscribed = parseJson(body, ContactUnsubscribed);
    const result = await deps.recordUnsubscribe({
      webhookId,
      email: unsubscribed.data.email,
      occurredAt: unsubscribed.created_at ?? undefined,
    });
    addLogFields(c, { duplicate: result.duplicate, matched_users: result.matched_users });
    return c.json({ received: true, duplicate: result.duplicate, matched_users: result.matched_users });
  });

  return app;
}
