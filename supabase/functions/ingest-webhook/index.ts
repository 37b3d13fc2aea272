// ingest-webhook's entry point: reads the environment and serves the app (see app.ts).
//
// Environment: SUPABASE_URL and the secret key (SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY),
// set by Supabase. Optional: INGEST_MAX_BODY_BYTES (default 65536). No webhook secret: the database
// verifies signatures with the installation's Vault secret.
// supabase-js loads when the first request gets as far as the database (see lazy_admin_client.ts).
import { intFromEnv, loadEnv } from "../_shared/env.ts";
import { lazyAdminClient } from "../_shared/lazy_admin_client.ts";
import { createApp, DEFAULT_MAX_BODY_BYTES } from "./app.ts";
import { rpcIngest } from "./ingest_rpc.ts";

const env = loadEnv({ required: [], optional: ["INGEST_MAX_BODY_BYTES"], supabase: true });

const adminClient = lazyAdminClient(env.supabase, { clientInfo: "ingest-webhook" });

const app = createApp({
  ingest: rpcIngest(adminClient),
  maxBodyBytes: intFromEnv("INGEST_MAX_BODY_BYTES", env.INGEST_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, {
    max: 256 * 1024,
  }),
});

Deno.serve(app.fetch);
