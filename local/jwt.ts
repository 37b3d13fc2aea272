/**
 * HS256 JSON Web Tokens on Web Crypto, as the local stack signs and checks them (the same scheme as
 * `supabase start`: one shared secret for GoTrue, PostgREST and the API keys).
 */

export type JwtPayload = Record<string, unknown>;

/** Why a token was refused; `claims` problems (expiry and friends) versus a token that does not decode. */
export type JwtErrorKind = "malformed" | "algorithm" | "signature" | "claims";

/**
 * A refused token. The messages are PostgREST's (`PGRST301` for `malformed`/`algorithm`/`signature`,
 * `PGRST303` for `claims`), so the REST stand-in can pass them through unchanged.
 */
export class JwtError extends Error {
  constructor(readonly kind: JwtErrorKind, message: string) {
    super(message);
    this.name = "JwtError";
  }
}

export interface VerifyOptions {
  /** Unix time in seconds to check `exp`/`nbf`/`iat` against; defaults to now. */
  now?: number;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat` (PostgREST allows 30); default 0. */
  clockSkewSeconds?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Importing the HMAC key costs more than the signature itself: keep one per secret.
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Signs `payload` with HS256. Keys are serialized in the object's own order, so a payload written
 * as `{iss, role, exp}` reproduces Supabase's well-known demo keys byte for byte.
 */
export async function signJwt(payload: JwtPayload, secret: string): Promise<string> {
  const header = base64UrlEncode(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = base64UrlEncode(encoder.encode(JSON.stringify(payload)));
  const signingInput = `${header}.${body}`;
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(signingInput));
  return `${signingInput}.${base64UrlEncode(new Uint8Array(signature))}`;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(decoder.decode(base64UrlDecode(part)));
  } catch {
    throw new JwtError("malformed", "JWT couldn't be decoded");
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Verifies an HS256 token and returns its payload. Throws `JwtError` for a malformed token, an
 * algorithm other than HS256, a wrong signature, or an expired / not yet valid token.
 */
export async function verifyJwt(
  token: string,
  secret: string,
  options: VerifyOptions | number = {},
): Promise<JwtPayload> {
  const { now = Math.floor(Date.now() / 1000), clockSkewSeconds = 0 } = typeof options === "number"
    ? { now: options }
    : options;
  if (token === "") throw new JwtError("malformed", "Empty JWT is sent in Authorization header");
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("malformed", `Expected 3 parts in JWT; got ${parts.length}`);
  const [headerPart, payloadPart, signaturePart] = parts;

  const header = decodeJson(headerPart);
  if (!isObject(header)) throw new JwtError("malformed", "JWT couldn't be decoded");
  if (header.alg !== "HS256") throw new JwtError("algorithm", "Wrong or unsupported encoding algorithm");

  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = base64UrlDecode(signaturePart);
  } catch {
    throw new JwtError("malformed", "JWT couldn't be decoded");
  }
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    signature,
    encoder.encode(`${headerPart}.${payloadPart}`),
  );
  if (!valid) throw new JwtError("signature", "JWT cryptographic operation failed");

  const payload = decodeJson(payloadPart);
  if (!isObject(payload)) throw new JwtError("claims", "Parsing claims failed");
  checkTimeClaims(payload, now, clockSkewSeconds);
  return payload;
}

function checkTimeClaims(payload: JwtPayload, now: number, skew: number): void {
  for (const claim of ["exp", "nbf", "iat"] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== "number") {
      throw new JwtError("claims", `The JWT '${claim}' claim must be a number`);
    }
  }
  const { exp, nbf, iat } = payload as { exp?: number; nbf?: number; iat?: number };
  if (exp !== undefined && now > exp + skew) throw new JwtError("claims", "JWT expired");
  if (nbf !== undefined && now < nbf - skew) throw new JwtError("claims", "JWT not yet valid");
  if (iat !== undefined && now < iat - skew) throw new JwtError("claims", "JWT issued at future");
}
