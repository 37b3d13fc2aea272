/**
 * The local stack's secret and API keys, the same defaults `supabase start` prints, and the API
 * gateway's `apikey` check that both the REST and the Auth stand-ins apply.
 */
import { signJwt } from "./jwt.ts";

/** The JWT secret of every `supabase start` stack. Local use only. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

/** Expiry of the demo keys (2032-11-12), as in Supabase's well-known local keys. */
const DEMO_KEY_EXPIRY = 1983812996;

export interface ApiKeys {
  anonKey: string;
  serviceRoleKey: string;
}

/**
 * The anon and service_role keys for `secret`. With the default secret they equal the keys that
 * `supabase start` prints (the payload key order `iss, role, exp` is what makes them identical).
 */
export async function localApiKeys(secret: string = LOCAL_JWT_SECRET): Promise<ApiKeys> {
  const [anonKey, serviceRoleKey] = await Promise.all([
    signJwt({ iss: "supabase-demo", role: "anon", exp: DEMO_KEY_EXPIRY }, secret),
    signJwt({ iss: "supabase-demo", role: "service_role", exp: DEMO_KEY_EXPIRY }, secret),
  ]);
  return { anonKey, serviceRoleKey };
}

export type ApiKeyCheck = { ok: true; apiKey: string } | { ok: false; response: Response };

/**
 * What Supabase's API gateway does before a request reaches Auth or PostgREST: an `apikey` header
 * (or `?apikey=` query parameter) must be present and be one of the project's keys.
 */
export function checkApiKey(req: Request, apiKeys: ApiKeys): ApiKeyCheck {
  const apiKey = req.headers.get("apikey") ?? new URL(req.url).searchParams.get("apikey");
  if (!apiKey) {
    return {
      ok: false,
      response: Response.json(
        {
          message: "No API key found in request",
          hint: "No `apikey` request header or url param was found.",
        },
        { status: 401 },
      ),
    };
  }
  if (apiKey !== apiKeys.anonKey && apiKey !== apiKeys.serviceRoleKey) {
    return {
      ok: false,
      response: Response.json(
        { message: "Invalid API key", hint: "Double check your Supabase `anon` or `service_role` API key." },
        { status: 401 },
      ),
    };
  }
  return { ok: true, apiKey };
}

/** The token of an `Authorization: Bearer <token>` header, `""` for an empty one, null when absent. */
export function bearerToken(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (header === null) return null;
  const match = /^bearer\s*(.*)$/i.exec(header.trim());
  return match ? match[1].trim() : null;
}
