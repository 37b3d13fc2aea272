// plugin-receiver's entry point: reads the environment and serves the app (see app.ts).
//
// Environment: PLUGIN_RECEIVER_SECRET, the installation's shared secret (the plaintext of the Vault
// secret its secret_ref names). The callback goes to INGEST_WEBHOOK_URL, by default
// ${SUPABASE_URL}/functions/v1/ingest-webhook (SUPABASE_URL is set by Supabase).
import { EnvError, loadEnv } from "../_shared/env.ts";
import { createApp } from "./app.ts";
import { createBackground } from "./background.ts";
import { createIngestCallback } from "./callback.ts";

const env = loadEnv({
  required: ["PLUGIN_RECEIVER_SECRET"],
  optional: ["INGEST_WEBHOOK_URL", "SUPABASE_URL"],
});
const ingestUrl = env.INGEST_WEBHOOK_URL ??
  (env.SUPABASE_URL ? `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/ingest-webhook` : undefined);
if (!ingestUrl) {
  throw new EnvError("Set INGEST_WEBHOOK_URL (or SUPABASE_URL) so the receiver can call back", [
    "INGEST_WEBHOOK_URL",
  ]);
}

const background = createBackground();
const app = createApp({
  secret: env.PLUGIN_RECEIVER_SECRET,
  handleDelivery: createIngestCallback({ ingestUrl, secret: env.PLUGIN_RECEIVER_SECRET }),
  waitUntil: background.waitUntil,
});

Deno.serve(app.fetch);
