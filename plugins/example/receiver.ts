/**
 * A minimal plugin receiver, as a partner would write it outside Supabase: verify the signature on
 * the raw body with the shared secret (refusing oversized bodies first), dedupe on the delivery id
 * (a bounded memory), answer 2xx, then do the work (forgetting the id if it fails).
 *
 *   WEBHOOK_SECRET=... PORT=8787 deno run -A plugins/example/receiver.ts
 *
 * The database must reach it over https on a public host (a tunnel during development); on the local
 * stack the smoke script runs it on 127.0.0.1 instead (see smoke.ts).
 */
import { type PluginDeliveryPayload, verifyWebhook, WebhookError } from "../../sdk/mod.ts";

export interface ReceivedDelivery {
  id: string;
  type: string;
  scheme: string;
  payload: PluginDeliveryPayload;
}

export interface ExampleReceiver {
  handler: (req: Request) => Promise<Response>;
  /**
   * The most recent deliveries accepted for work, oldest first (a redelivery after failed work appears
   * again). Bounded by `maxReceived`, so that a receiver that runs for months keeps a fixed memory.
   */
  received: ReceivedDelivery[];
  /** How many requests were refused (bad signature, stale, too large, ...). */
  refused: number;
}

export interface ExampleReceiverOptions {
  /** How many delivery ids to remember for deduplication, oldest forgotten first (default 10,000). */
  maxSeen?: number;
  /** Larger bodies are refused with 413 before verifying (default 128 KB; deliveries are far smaller). */
  maxBodyBytes?: number;
  /** How many accepted deliveries `received` keeps, oldest dropped first (default 100). */
  maxReceived?: number;
}

/** Logs a failed piece of background work: the delivery id and the error, never the payload. */
function logWorkFailure(delivery: ReceivedDelivery, error: unknown): void {
  console.error(JSON.stringify({
    event: "delivery_work_failed",
    delivery_id: delivery.id,
    error: error instanceof Error ? error.message : String(error),
  }));
}

class BodyTooLarge extends Error {}

/**
 * The raw body, at most `maxBytes`: a larger Content-Length is refused before reading, and a body
 * without one (or with a wrong one) stops being read at the limit.
 */
async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  if (Number(req.headers.get("content-length") ?? "0") > maxBytes) throw new BodyTooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new BodyTooLarge();
      }
      chunks.push(value);
    }
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/**
 * The receiver's request handler. `onDelivery` is the work for a new delivery: it runs after the
 * answer (a timer, not a microtask, so the response goes out first), and an error it throws or
 * rejects with is logged instead of stopping the server. A delivery whose work failed is forgotten,
 * so its redelivery is processed again.
 */
export function createExampleReceiver(
  secret: string,
  onDelivery?: (delivery: ReceivedDelivery) => void | Promise<void>,
  options: ExampleReceiverOptions = {},
): ExampleReceiver {
  const maxSeen = options.maxSeen ?? 10_000;
  const maxBodyBytes = options.maxBodyBytes ?? 128 * 1024;
  const maxReceived = options.maxReceived ?? 100;
  // Delivery ids in arrival order (a Set iterates oldest first), so the oldest is dropped when full.
  const seen = new Set<string>();
  const state: ExampleReceiver = {
    received: [],
    refused: 0,
    handler: async (req) => {
      if (req.method !== "POST") return Response.json({ error: "method_not_allowed" }, { status: 405 });
      let rawBody: Uint8Array; // the exact bytes: verify before parsing
      try {
        rawBody = await readBody(req, maxBodyBytes);
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        state.refused++;
        return Response.json(
          { error: "payload_too_large", message: `The body must be at most ${maxBodyBytes} bytes` },
          { status: 413 },
        );
      }
      try {
        const delivery = await verifyWebhook(rawBody, req.headers, secret);
        const duplicate = seen.has(delivery.id);
        if (!duplicate) {
          if (seen.size >= maxSeen) seen.delete(seen.values().next().value!);
          seen.add(delivery.id);
          const received = {
            id: delivery.id,
            type: delivery.type,
            scheme: delivery.scheme,
            payload: delivery.payload,
          };
          // Each entry holds a whole payload: keep only the newest few.
          if (state.received.length >= maxReceived) state.received.shift();
          state.received.push(received);
          // Real work (calling an external system) runs after the answer; a failure must not stop
          // the server (an uncaught error would end the process), and forgets the id so that the
          // redelivery is processed.
          if (onDelivery) {
            setTimeout(() => {
              Promise.resolve()
                .then(() => onDelivery(received))
                .catch((error) => {
                  seen.delete(received.id);
                  logWorkFailure(received, error);
                });
            }, 0);
          }
        }
        return Response.json({ received: true, verified: true, duplicate });
      } catch (error) {
        if (!(error instanceof WebhookError)) throw error;
        state.refused++;
        return Response.json({ error: error.code, message: error.message }, { status: 401 });
      }
    },
  };
  return state;
}

if (import.meta.main) {
  const secret = Deno.env.get("WEBHOOK_SECRET");
  if (!secret) {
    console.error("Set WEBHOOK_SECRET to the plaintext of the installation's Vault secret");
    Deno.exit(2);
  }
  const port = Number(Deno.env.get("PORT") ?? "8787");
  const receiver = createExampleReceiver(secret, (d) => console.log(`verified ${d.type} delivery ${d.id}`));
  Deno.serve({ port }, receiver.handler);
}
