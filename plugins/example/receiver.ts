/**
 * A minimal plugin receiver, as a partner would write it outside Supabase: verify the signature on
 * the raw body with the shared secret, dedupe on the delivery id, answer 2xx, then do the work.
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
  /** Deliveries verified so far, first arrival only. */
  received: ReceivedDelivery[];
  /** How many requests were refused (bad signature, stale, ...). */
  refused: number;
}

/** Logs a failed piece of background work: the delivery id and the error, never the payload. */
function logWorkFailure(delivery: ReceivedDelivery, error: unknown): void {
  console.error(JSON.stringify({
    event: "delivery_work_failed",
    delivery_id: delivery.id,
    error: error instanceof Error ? error.message : String(error),
  }));
}

/**
 * The receiver's request handler. `onDelivery` is the work for a new delivery: it runs after the
 * answer (a timer, not a microtask, so the response goes out first), and an error it throws or
 * rejects with is logged instead of stopping the server.
 */
export function createExampleReceiver(
  secret: string,
  onDelivery?: (delivery: ReceivedDelivery) => void | Promise<void>,
): ExampleReceiver {
  const seen = new Set<string>();
  const state: ExampleReceiver = {
    received: [],
    refused: 0,
    handler: async (req) => {
      if (req.method !== "POST") return Response.json({ error: "method_not_allowed" }, { status: 405 });
      const rawBody = await req.text(); // the exact bytes: verify before parsing
      try {
        const delivery = await verifyWebhook(rawBody, req.headers, secret);
        const duplicate = seen.has(delivery.id);
        if (!duplicate) {
          seen.add(delivery.id);
          const received = {
            id: delivery.id,
            type: delivery.type,
            scheme: delivery.scheme,
            payload: delivery.payload,
          };
          state.received.push(received);
          // Real work (calling an external system) runs after the answer; a failure must not stop
          // the server (an uncaught error would end the process).
          if (onDelivery) {
            setTimeout(() => {
              Promise.resolve()
                .then(() => onDelivery(received))
                .catch((error) => logWorkFailure(received, error));
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
