/**
 * Environment loading for Edge Functions: every required variable is checked up front and all
 * missing names are reported in one error, so a misconfigured function fails at boot with a message
 * that says exactly what to set (and never prints a value).
 *
 * Supabase keys: new projects give functions `SUPABASE_SECRET_KEYS` / `SUPABASE_PUBLISHABLE_KEYS`
 * (JSON objects whose `default` entry is the key); older ones only `SUPABASE_SERVICE_ROLE_KEY` /
 * `SUPABASE_ANON_KEY`. {@link loadEnv} with `supabase: true` prefers the new ones and falls back.
 *
 * @example
 * ```ts
 * const env = loadEnv({ required: ["API_URL", "BACKEND_SECRET"], optional: ["TIMEOUT_MS"], supabase: true });
 * env.API_URL; // string
 * env.TIMEOUT_MS; // string | undefined
 * env.supabase.secretKey; // the service (secret) key
 * ```
 */
import { decodeWebhookSecret, splitWebhookSecrets } from "./webhook_signature.ts";

/** Where variables come from: `Deno.env` in functions, a plain object in tests. */
export interface EnvSource {
  get(name: string): string | undefined;
}

/** Wraps a plain object as an {@link EnvSource}. */
export function envFrom(values: Record<string, string | undefined>): EnvSource {
  return { get: (name) => values[name] };
}

/** Thrown when variables are missing or invalid; `missing` lists the names (never values). */
export class EnvError extends Error {
  constructor(message: string, readonly missing: string[]) {
    super(message);
    this.name = "EnvError";
  }
}

/** The project URL and keys a function uses to call Supabase. */
export interface SupabaseEnv {
  url: string;
  /** The secret key (`sb_secret_...`) or, on older projects, the service_role JWT. */
  secretKey: string;
  /** The publishable key (`sb_publishable_...`) or the anon JWT, when set. */
  publishableKey?: string;
}

export interface EnvSpec<R extends string, O extends string, S extends boolean> {
  /** Names that must be set to a non-empty value. */
  required: readonly R[];
  /** Names that may be absent (an empty value counts as absent). */
  optional?: readonly O[];
  /** Also load {@link SupabaseEnv} as `supabase` (SUPABASE_URL plus the secret key are then required). */
  supabase?: S;
}

export type LoadedEnv<R extends string, O extends string, S extends boolean> =
  & { readonly [K in R]: string }
  & { readonly [K in O]?: string }
  & (S extends true ? { readonly supabase: SupabaseEnv } : unknown);

/**
 * Reads the variables of `spec` from `source` (default `Deno.env`).
 * Throws one {@link EnvError} naming every missing variable.
 */
export function loadEnv<R extends string, O extends string = never, S extends boolean = false>(
  spec: EnvSpec<R, O, S>,
  source: EnvSource = Deno.env,
): LoadedEnv<R, O, S> {
  const missing: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of spec.required) {
    const value = nonEmpty(source.get(name));
    if (value === undefined) missing.push(name);
    else out[name] = value;
  }
  for (const name of spec.optional ?? []) {
    const value = nonEmpty(source.get(name));
    if (value !== undefined) out[name] = value;
  }
  if (spec.supabase) {
    const url = nonEmpty(source.get("SUPABASE_URL"));
    if (url === undefined) missing.push("SUPABASE_URL");
    const secretKey = namedKey(source, "SUPABASE_SECRET_KEYS", "SUPABASE_SERVICE_ROLE_KEY");
    if (secretKey === undefined) missing.push("SUPABASE_SECRET_KEYS (or SUPABASE_SERVICE_ROLE_KEY)");
    const publishableKey = namedKey(source, "SUPABASE_PUBLISHABLE_KEYS", "SUPABASE_ANON_KEY");
    if (url !== undefined && secretKey !== undefined) {
      out.supabase = { url, secretKey, ...(publishableKey ? { publishableKey } : {}) } satisfies SupabaseEnv;
    }
  }
  if (missing.length > 0) {
    throw new EnvError(
      `Missing required environment variable${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}. ` +
        "Set them with `supabase secrets set NAME=value` (locally: supabase/functions/.env).",
      missing,
    );
  }
  return out as LoadedEnv<R, O, S>;
}

/**
 * Parses an integer variable that was loaded as text, with bounds; `fallback` when it is absent.
 * Throws an {@link EnvError} naming the variable when the value is not a whole number in range.
 */
export function intFromEnv(
  name: string,
  value: string | undefined,
  fallback: number,
  { min = 1, max = Number.MAX_SAFE_INTEGER } = {},
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new EnvError(`${name} must be a whole number from ${min} to ${max}`, [name]);
  }
  return parsed;
}

/**
 * Checks that a URL variable that was loaded as text is an absolute http or https URL, so that a
 * value such as `api.example.com` stops the function at boot instead of failing every request as
 * "could not be reached". Throws an {@link EnvError} naming the variable (never the value).
 */
export function urlFromEnv(name: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value.trim());
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new EnvError(`${name} must be an http(s) URL with a scheme and a host`, [name]);
  }
  return value.trim();
}

/**
 * Checks a Standard Webhooks signing secret that was loaded as text (`whsec_<base64>`,
 * `v1,whsec_<base64>`, or a raw secret) by decoding it as verification will, so that a value such as
 * `whsec_` followed by something that is not base64 stops the function at boot instead of answering
 * 500 to every request. With `list: true` the value may hold several secrets separated by `|` (Supabase
 * Auth's form during a rotation); each must decode. Throws an {@link EnvError} naming the variable
 * (never the value); returns the value unchanged (undefined for an absent optional variable).
 *
 * @example
 * ```ts
 * webhookSecretFromEnv("SENDRY_WEBHOOK_SECRET", env.SENDRY_WEBHOOK_SECRET);
 * webhookSecretFromEnv("AUTH_HOOK_SECRET", env.AUTH_HOOK_SECRET, { list: true });
 * ```
 */
export function webhookSecretFromEnv(name: string, value: string, options?: { list?: boolean }): string;
export function webhookSecretFromEnv(
  name: string,
  value: string | undefined,
  options?: { list?: boolean },
): string | undefined;
export function webhookSecretFromEnv(
  name: string,
  value: string | undefined,
  { list = false }: { list?: boolean } = {},
): string | undefined {
  if (value === undefined) return undefined;
  const secrets = list ? splitWebhookSecrets(value) : [value];
  if (secrets.length === 0) {
    throw new EnvError(`${name} must hold at least one webhook secret`, [name]);
  }
  for (const secret of secrets) {
    try {
      decodeWebhookSecret(secret);
    } catch {
      throw new EnvError(
        `${name} is not a valid webhook secret: after whsec_ (or v1,whsec_) it must be base64, as the ` +
          "provider shows it",
        [name],
      );
    }
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** The `default` entry of a JSON keys variable, else the legacy variable, else undefined. */
function namedKey(source: EnvSource, jsonName: string, legacyName: string): string | undefined {
  const json = nonEmpty(source.get(jsonName));
  if (json !== undefined) {
    try {
      const parsed: unknown = JSON.parse(json);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        const key = (parsed as Record<string, unknown>).default;
        if (typeof key === "string" && key.trim() !== "") return key;
      }
    } catch {
      // Not JSON: fall back to the legacy variable below.
    }
  }
  return nonEmpty(source.get(legacyName));
}
