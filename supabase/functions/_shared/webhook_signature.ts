/**
 * Webhook signatures, both kinds this project sends and receives:
 *
 * - **Hex HMAC**: lowercase hex HMAC-SHA256 of the exact body bytes (`X-Plugin-Signature`, and the
 *   `sha256=<hex>` form many providers use). {@link signHmacHex} / {@link verifyHmacHex}.
 * - **Standard Webhooks** (https://www.standardwebhooks.com, used by Supabase Auth hooks and Sendry):
 *   `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
 *   "id.timestamp.body">`, possibly several space-separated. {@link signStandardWebhook} /
 *   {@link verifyStandardWebhook}, interoperable with the `standardwebhooks` npm package.
 *
 * Secrets come in two formats ({@link decodeWebhookSecret}): `whsec_<base64>` or `v1,whsec_<base64>`
 * (Standard Webhooks; Supabase Auth shows the latter) decode to the base64 bytes; anything else is
 * "raw", used as its UTF-8 bytes (the `standardwebhooks` package's `{ format: "raw" }`, identical for
 * ASCII secrets). Comparisons are constant-time, imported keys are cached per secret (importing on
 * every call costs about 3x), and errors never contain a secret or a signature.
 *
 * @example Verify an Auth hook on the raw body before parsing it
 * ```ts
 * const body = await req.text();
 * const { id } = await verifyStandardWebhook(Deno.env.get("AUTH_HOOK_SECRET")!, body, req.headers);
 * const payload = JSON.parse(body);
 * ```
 */

/** A secret as text (`whsec_...`, `v1,whsec_...` or raw) or as the key bytes themselves. */
export type WebhookSecret = string | Uint8Array;

/**
 * How a text secret becomes key bytes. `auto` (default for Standard Webhooks): base64 after a
 * `whsec_` / `v1,whsec_` prefix, otherwise raw. `raw`: always the UTF-8 bytes. `base64`: always
 * base64 (a prefix is still stripped).
 */
export type SecretFormat = "auto" | "raw" | "base64";

/** Why a Standard Webhooks verification failed. */
export type WebhookFailure =
  | "missing_headers"
  | "invalid_timestamp"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "no_matching_signature";

/** A verification failure; `code` says which check failed, the message says what to look at. */
export class WebhookVerificationError extends Error {
  constructor(readonly code: WebhookFailure, message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Standard Webhooks' default tolerance: five minutes either way. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

const encoder = new TextEncoder();
const SECRET_PREFIXES = ["v1,whsec_", "whsec_"];
const KEY_CACHE_LIMIT = 64;
const keyCache = new Map<string, Promise<CryptoKey>>();

/**
 * The secrets of a variable that may hold several separated by "|", as Supabase Auth's hook secret
 * does while one is rotated (`v1,whsec_a|v1,whsec_b`); any of them may sign.
 */
export function splitWebhookSecrets(value: string): string[] {
  return value.split("|").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * The key bytes of a secret. Throws (without echoing the secret) when it is empty or when a
 * `whsec_` secret is not valid base64.
 */
export function decodeWebhookSecret(secret: WebhookSecret, format: SecretFormat = "auto"): Uint8Array {
  let bytes: Uint8Array;
  if (secret instanceof Uint8Array) {
    bytes = secret;
  } else {
    const prefix = SECRET_PREFIXES.find((p) => secret.startsWith(p));
    if (format === "raw" || (format === "auto" && prefix === undefined)) {
      bytes = encoder.encode(secret);
    } else {
      const encoded = prefix ? secret.slice(prefix.length) : secret;
      const decoded = decodeBase64(encoded);
      if (decoded === undefined) {
        throw new Error("Webhook secret is not valid base64 after its whsec_ prefix");
      }
      bytes = decoded;
    }
  }
  if (bytes.length === 0) throw new Error("Webhook secret must not be empty");
  return bytes;
}

/** Constant-time equality of two byte arrays (the length itself is not secret). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Constant-time equality of two secrets given as text (API keys, bearer secrets): both are hashed
 * first, so neither the content nor the length of the expected value leaks through timing.
 */
export async function secretEquals(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return timingSafeEqual(new Uint8Array(a), new Uint8Array(b)) && expected.length > 0;
}

// --- hex HMAC --------------------------------------------------------------------------------------

/** Lowercase hex HMAC-SHA256 of `payload` (text is signed as UTF-8). Secrets are raw by default. */
export async function signHmacHex(
  secret: WebhookSecret,
  payload: string | Uint8Array,
  format: SecretFormat = "raw",
): Promise<string> {
  return toHex(await hmac(secret, format, toBytes(payload)));
}

/**
 * True when `signature` (hex, any case, optionally `sha256=`-prefixed) is the HMAC-SHA256 of the
 * exact `payload` bytes. Malformed signatures are simply false.
 */
export async function verifyHmacHex(
  secret: WebhookSecret,
  payload: string | Uint8Array,
  signature: string | null | undefined,
  format: SecretFormat = "raw",
): Promise<boolean> {
  if (!signature) return false;
  const given = fromHex(signature.trim().replace(/^sha256=/i, ""));
  if (given === undefined) return false;
  return timingSafeEqual(await hmac(secret, format, toBytes(payload)), given);
}

// --- Standard Webhooks -----------------------------------------------------------------------------

export interface StandardWebhookMessage {
  /** The `webhook-id`: unique per message, the same on every retry of it. */
  id: string;
  /** Unix seconds, or a Date. */
  timestamp: number | Date;
  /** The exact body bytes sent (text is sent as UTF-8). */
  body: string | Uint8Array;
}

export type StandardWebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** The `v1,<base64>` signature of a message. */
export async function signStandardWebhook(
  secret: WebhookSecret,
  message: StandardWebhookMessage,
  format: SecretFormat = "auto",
): Promise<string> {
  const seconds = unixSeconds(message.timestamp);
  const mac = await hmac(secret, format, signedContent(message.id, seconds, toBytes(message.body)));
  return `v1,${toBase64(mac)}`;
}

/** The three headers to send with a message (what a sender, or a test, attaches). */
export async function standardWebhookHeaders(
  secret: WebhookSecret,
  message: StandardWebhookMessage,
  format: SecretFormat = "auto",
): Promise<StandardWebhookHeaders> {
  return {
    "webhook-id": message.id,
    "webhook-timestamp": String(unixSeconds(message.timestamp)),
    "webhook-signature": await signStandardWebhook(secret, message, format),
  };
}

export interface VerifyOptions {
  format?: SecretFormat;
  /** Accepted clock difference either way, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in milliseconds (default `Date.now`), for tests. */
  now?: () => number;
}

/**
 * Verifies a Standard Webhooks message on its raw body, in this order: the three headers are
 * present, the timestamp is a whole number within the tolerance, and one of the listed `v1`
 * signatures matches (constant-time). Several secrets may be given during a rotation; any of them
 * may match. Returns the message id and timestamp for deduplication; throws a
 * {@link WebhookVerificationError} otherwise.
 */
export async function verifyStandardWebhook(
  secret: WebhookSecret | readonly WebhookSecret[],
  body: string | Uint8Array,
  headers: Headers | Record<string, string | null | undefined>,
  options: VerifyOptions = {},
): Promise<{ id: string; timestamp: number }> {
  const header = (name: string) =>
    headers instanceof Headers ? headers.get(name) : headers[name] ?? lowerCaseLookup(headers, name);
  const id = header("webhook-id");
  const timestampText = header("webhook-timestamp");
  const signatures = header("webhook-signature");
  if (!id || !timestampText || !signatures) {
    throw new WebhookVerificationError(
      "missing_headers",
      "Missing webhook-id, webhook-timestamp or webhook-signature header",
    );
  }
  if (!/^\d{1,15}$/.test(timestampText.trim())) {
    throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp must be unix seconds");
  }
  const timestamp = Number(timestampText.trim());
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (now - timestamp > tolerance) {
    throw new WebhookVerificationError(
      "timestamp_too_old",
      `Message timestamp is more than ${tolerance} s old (a replay, or a clock off)`,
    );
  }
  if (timestamp - now > tolerance) {
    throw new WebhookVerificationError(
      "timestamp_too_new",
      `Message timestamp is more than ${tolerance} s in the future (check the sender's clock)`,
    );
  }
  const content = signedContent(id, timestamp, toBytes(body));
  const secrets: readonly WebhookSecret[] = Array.isArray(secret) ? secret : [secret as WebhookSecret];
  const expected = await Promise.all(secrets.map((s) => hmac(s, options.format ?? "auto", content)));
  let matched = false;
  for (const entry of signatures.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma === -1 || entry.slice(0, comma) !== "v1") continue;
    const given = decodeBase64(entry.slice(comma + 1));
    if (given === undefined) continue;
    // Every listed signature is compared with every secret, so the time taken does not depend on
    // which one matched.
    for (const mac of expected) if (timingSafeEqual(given, mac)) matched = true;
  }
  if (!matched) {
    throw new WebhookVerificationError(
      "no_matching_signature",
      "No matching signature: check the secret, and verify the raw body bytes before parsing them",
    );
  }
  return { id, timestamp };
}

// --- internals -------------------------------------------------------------------------------------

async function hmac(secret: WebhookSecret, format: SecretFormat, data: Uint8Array): Promise<Uint8Array> {
  const key = await hmacKey(secret, format);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>));
}

/** The imported key for a secret, cached (oldest entries are dropped beyond the limit). */
function hmacKey(secret: WebhookSecret, format: SecretFormat): Promise<CryptoKey> {
  const cacheId = typeof secret === "string" ? `${format}:${secret}` : `bytes:${toHex(secret)}`;
  let key = keyCache.get(cacheId);
  if (!key) {
    const bytes = decodeWebhookSecret(secret, format);
    key = crypto.subtle.importKey(
      "raw",
      bytes as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    key.catch(() => keyCache.delete(cacheId));
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(cacheId, key);
  }
  return key;
}

function signedContent(id: string, timestamp: number, body: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

function unixSeconds(timestamp: number | Date): number {
  return timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : Math.floor(timestamp);
}

function toBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}

function lowerCaseLookup(headers: Record<string, string | null | undefined>, name: string) {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function fromHex(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length === 0) return undefined;
  try {
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
