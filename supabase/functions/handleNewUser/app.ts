/**
 * handleNewUser: provisions every new Supabase user in the backend (`POST {API_URL}/users`).
 *
 * One route, `POST /handleNewUser`, two callers:
 *
 * 1. **The database** (the `auth.users` INSERT trigger, through pg_net) sends the database-webhook
 *    payload `{ type, table, schema, record, old_record }` with `Authorization: Bearer <secret>`
 *    (the Vault secret `handle_new_user_secret`, equal to this function's HANDLE_NEW_USER_SECRET).
 *    The outcome is recorded with `rpc_record_user_provisioning`; a failure answers 500 so it shows
 *    in `net._http_response` too, and `rpc_retry_user_provisioning` sends it again.
 * 2. **Supabase Auth's `before_user_created` HTTP hook**, recognised by its Standard Webhooks headers
 *    and verified with AUTH_HOOK_SECRET (`v1,whsec_...`). The user does not exist yet; it is
 *    provisioned before it is created. Auth reads only 200 answers: `{}` allows the signup,
 *    `{ "error": { "http_code", "message" } }` rejects it. A backend that refuses the user (400, 403,
 *    422) rejects the signup; a backend that is down does not (the signup goes ahead and the
 *    database trigger provisions the user later), because an outside outage must not stop signups.
 */
import { z } from "zod";
import {
  addLogFields,
  type AppContext,
  createHttpApp,
  HttpError,
  parseJson,
  readBody,
} from "../_shared/http_app.ts";
import {
  secretEquals,
  splitWebhookSecrets,
  verifyStandardWebhook,
  WebhookVerificationError,
} from "../_shared/webhook_signature.ts";
import { type BackendUser, backendUser, type ProvisionOutcome, provisionUser } from "./backend.ts";

export const FUNCTION_NAME = "handleNewUser";

/** Records a user's outcome (in production: the `rpc_record_user_provisioning` RPC). */
export type StatusRecorder = (
  userId: string,
  status: "provisioned" | "failed",
  error?: string,
) => Promise<void>;

export interface HandleNewUserDeps {
  /** The backend's base URL (API_URL). */
  apiUrl: string;
  /** Sent to the backend as X-API-Key (BACKEND_SECRET). */
  backendSecret: string;
  /** The bearer secret the database trigger sends (HANDLE_NEW_USER_SECRET). */
  webhookSecret: string;
  /**
   * The Auth hook's Standard Webhooks secret, `v1,whsec_...` (AUTH_HOOK_SECRET); several may be given
   * separated by `|` during a rotation. Hook calls are refused without it.
   */
  authHookSecret?: string;
  recordStatus: StatusRecorder;
  /** Backend timeout for database calls in ms (default 5000; pg_net waits 10 s for this function). */
  backendTimeoutMs?: number;
  /** Backend timeout during an Auth hook in ms (default 2500: Auth waits for the hook, the user waits for Auth). */
  hookBackendTimeoutMs?: number;
  fetch?: typeof fetch;
  /** Clock in ms for the hook's timestamp check (default Date.now). */
  now?: () => number;
  log?: (line: string) => void;
}

const MAX_BODY_BYTES = 256 * 1024;

const Metadata = z.record(z.string(), z.unknown()).nullish();

/** The database-webhook payload of an auth.users INSERT. */
export const DatabaseWebhookPayload = z.object({
  type: z.literal("INSERT"),
  table: z.literal("users"),
  schema: z.literal("auth"),
  record: z.object({
    id: z.guid(),
    email: z.string().max(320).nullish(),
    raw_user_meta_data: Metadata,
  }),
  old_record: z.null().optional(),
});

/** The `before_user_created` hook payload (only the fields used here are checked). */
export const BeforeUserCreatedPayload = z.object({
  metadata: z.object({
    name: z.literal("before-user-created"),
    uuid: z.string().optional(),
  }),
  user: z.object({
    id: z.guid(),
    email: z.string().max(320).nullish(),
    user_metadata: Metadata,
  }),
});

export function createApp(deps: HandleNewUserDeps) {
  const app = createHttpApp({ functionName: FUNCTION_NAME, log: deps.log });
  const fetchFn = deps.fetch ?? fetch;
  const backendTimeoutMs = deps.backendTimeoutMs ?? 5000;
  const hookTimeoutMs = Math.min(deps.hookBackendTimeoutMs ?? 2500, backendTimeoutMs);
  // Auth accepts several secrets separated by "|" while one is rotated; any of them may sign.
  const authHookSecrets = splitWebhookSecrets(deps.authHookSecret ?? "");

  const provision = (user: BackendUser, timeoutMs: number) =>
    provisionUser({ apiUrl: deps.apiUrl, apiKey: deps.backendSecret, timeoutMs, fetch: fetchFn }, user);

  async function fromDatabase(c: AppContext): Promise<Response> {
    addLogFields(c, { caller: "database" });
    const authorization = c.req.header("authorization") ?? "";
    const token = /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1] ?? "";
    if (!(await secretEquals(token, deps.webhookSecret))) {
      throw new HttpError(401, "unauthorized", "Missing or wrong bearer secret in the Authorization header");
    }
    const payload = parseJson(await readBody(c, MAX_BODY_BYTES), DatabaseWebhookPayload);
    const { record } = payload;
    addLogFields(c, { user_id: record.id });

    const outcome = await provision(
      backendUser(record.id, record.email, record.raw_user_meta_data),
      backendTimeoutMs,
    );
    addLogFields(c, describe(outcome));
    const recorded = await recordOutcome(c, record.id, outcome);

    if (outcome.kind === "provisioned") {
      return c.json({
        user_id: record.id,
        status: "provisioned",
        already_provisioned: outcome.alreadyProvisioned,
        status_recorded: recorded,
      });
    }
    throw new HttpError(
      500,
      outcome.kind === "refused" ? "backend_refused" : "backend_unavailable",
      `Provisioning user ${record.id} failed: ${outcome.reason}`,
    );
  }

  async function recordOutcome(c: AppContext, userId: string, outcome: ProvisionOutcome): Promise<boolean> {
    try {
      if (outcome.kind === "provisioned") await deps.recordStatus(userId, "provisioned");
      else await deps.recordStatus(userId, "failed", outcome.reason);
      return true;
    } catch (error) {
      // The reconcile job settles the status from pg_net's response instead.
      addLogFields(c, {
        status_recorded: false,
        record_error: String((error as Error)?.message).slice(0, 200),
      });
      return false;
    }
  }

  async function fromAuthHook(c: AppContext): Promise<Response> {
    addLogFields(c, { caller: "auth_hook" });
    if (!deps.authHookSecret) {
      throw new HttpError(500, "auth_hook_not_configured", "AUTH_HOOK_SECRET is not set for this function");
    }
    const body = await readBody(c, MAX_BODY_BYTES);
    try {
      const { id } = await verifyStandardWebhook(authHookSecrets, body, c.req.raw.headers, { now: deps.now });
      addLogFields(c, { webhook_id: id });
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        addLogFields(c, { verification: error.code });
        throw new HttpError(401, "invalid_signature", error.message);
      }
      throw error;
    }
    const { user } = parseJson(body, BeforeUserCreatedPayload);
    addLogFields(c, { user_id: user.id });

    const outcome = await provision(backendUser(user.id, user.email, user.user_metadata), hookTimeoutMs);
    addLogFields(c, describe(outcome));
    if (outcome.kind === "refused") {
      return c.json({
        error: {
          http_code: 403,
          message: "Sign-up is not possible for this account. Please contact support.",
        },
      });
    }
    // Provisioned, or the backend is down: allow. The database trigger provisions (again) after the
    // insert; a repeat is harmless.
    return c.json({});
  }

  app.post("/", (c) => {
    const isHook = c.req.header("webhook-signature") !== undefined ||
      c.req.header("webhook-id") !== undefined;
    return isHook ? fromAuthHook(c) : fromDatabase(c);
  });

  return app;
}

function describe(outcome: ProvisionOutcome): Record<string, unknown> {
  return {
    outcome: outcome.kind,
    ...(outcome.httpStatus !== undefined ? { backend_status: outcome.httpStatus } : {}),
  };
}
