// sendry-unsub's entry point: reads the environment and serves the app (see app.ts).
//
// Environment: SENDRY_WEBHOOK_SECRET (the webhook's signing secret, `whsec_...`); SUPABASE_URL and
// the secret key are set by Supabase.
import { loadEnv, webhookSecretFromEnv } from "../_shared/env.ts";
import { lazyAdminClient } from "../_shared/lazy_admin_client.ts";
import { createApp } from "./app.ts";
import { rpcUnsubscribeRecorder } from "./recorder.ts";

const env = loadEnv({ required: ["SENDRY_WEBHOOK_SECRET"], supabase: true });

const app = createApp({
  webhookSecret: webhookSecretFromEnv("SENDRY_WEBHOOK_SECRET", env.SENDRY_WEBHOOK_SECRET),
  recordUnsubscribe: rpcUnsubscribeRecorder(lazyAdminClient(env.supabase, { clientInfo: "sendry-unsub" })),
});

Deno.serve(app.fetch);
