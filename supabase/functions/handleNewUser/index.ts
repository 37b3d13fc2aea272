// handleNewUser's entry point: reads the environment and serves the app (see app.ts).
//
// Environment: API_URL, BACKEND_SECRET, HANDLE_NEW_USER_SECRET (required); AUTH_HOOK_SECRET
// (`v1,whsec_...`, to accept the before_user_created Auth hook) and BACKEND_TIMEOUT_MS (optional);
// SUPABASE_URL and the secret key are set by Supabase.
import { intFromEnv, loadEnv, urlFromEnv, webhookSecretFromEnv } from "../_shared/env.ts";
import { lazyAdminClient } from "../_shared/lazy_admin_client.ts";
import { createApp } from "./app.ts";
import { rpcStatusRecorder } from "./status.ts";

const env = loadEnv({
  required: ["API_URL", "BACKEND_SECRET", "HANDLE_NEW_USER_SECRET"],
  optional: ["AUTH_HOOK_SECRET", "BACKEND_TIMEOUT_MS"],
  supabase: true,
});

const app = createApp({
  apiUrl: urlFromEnv("API_URL", env.API_URL),
  backendSecret: env.BACKEND_SECRET,
  webhookSecret: env.HANDLE_NEW_USER_SECRET,
  authHookSecret: webhookSecretFromEnv("AUTH_HOOK_SECRET", env.AUTH_HOOK_SECRET, { list: true }),
  backendTimeoutMs: intFromEnv("BACKEND_TIMEOUT_MS", env.BACKEND_TIMEOUT_MS, 5000, { min: 100, max: 9000 }),
  recordStatus: rpcStatusRecorder(lazyAdminClient(env.supabase, { clientInfo: "handleNewUser" })),
});

Deno.serve(app.fetch);
