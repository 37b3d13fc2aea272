// ingest-webhook's entry point: reads the environment and serves the app (see app.ts).
//
// Environment: SUPABASE_URL and the secret key (SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY),
// set by Supabase. Optional: INGEST_MAX_BODY_BYTES (default 65536). No webhook secret: the database
// verifies signatures with the installation's Vault secret.
//
// supabase-js is loaded when the first request gets as far as the database, not at start: it is most
// of the function's module graph, and requests refused up front (401, 413, 400) never need it.
import { intFromEnv, loadEnv } from "../_shared/env.ts";
import type { AdminClient } from "../_shared/supabase_client.ts";
import { createApp, DEFAULT_MAX_BODY_BYTES } from "./app.ts";
import { rpcIngest } from "./ingest_rpc.ts";

const env = loadEnv({ required: [], optional: ["INGEST_MAX_BODY_BYTES"], supabase: true });

let client: Promise<AdminClient> | undefined;
const adminClient = () =>
  client ??= import("../_shared/supabase_client.ts").then(({ createAdminClient }) =>
    createAdminClient(env.supabase, { clientInfo: "ingest-webhook" })
  ).catch((error) => {
    client = undefined; // try again on the next request
    throw error;
  });

const app = createApp({
  ingest: rpcIngest(adminClient),
  maxBodyBytes: intFromEnv("INGEST_MAX_BODY_BYTES", env.INGEST_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, {
    max: 256 * 1024,
  }),
});

Deno.serve(app.fetch);
