/**
 * The local stand-in for Supabase Auth (GoTrue) under `/auth/v1`, enough for supabase-js `signUp`,
 * `signInWithPassword`, `refreshSession`, `getUser`, `signOut` and `auth.admin.createUser` /
 * `getUserById` / `deleteUser`. Users go into `auth.users` and `auth.identities` with the statements
 * GoTrue runs (as `supabase_auth_admin`, so triggers on `auth.users` behave as on Supabase), with email
 * confirmations off as under `supabase start`. Sessions and refresh tokens live in memory only.
 */
import postgres from "postgres";
import { JwtError, type JwtPayload, signJwt, verifyJwt } from "../jwt.ts";
import { type ApiKeys, bearerToken, checkApiKey } from "../keys.ts";

export interface AuthHandlerOptions {
  /** A pool connected as a superuser. */
  sql: postgres.Sql;
  jwtSecret: string;
  apiKeys: ApiKeys;
  /** Access token lifetime (GoTrue's `jwt_expiry`); default 3600. */
  jwtExpirySeconds?: number;
  /** Public API URL, for the tokens' `iss` (`<apiUrl>/auth/v1`); default: the request's origin. */
  apiUrl?: string;
  /** GoTrue's `password_min_length`; default 6. */
  minPasswordLength?: number;
  /** The role GoTrue's statements run as; null to stay superuser. Default `supabase_auth_admin`. */
  authAdminRole?: string | null;
  /** Receives unexpected failures, which clients only see as a generic error. */
  log?: (line: string) => void;
}

export type AuthHandler = (req: Request, path: string) => Promise<Response>;

const ADMIN_ROLES = ["service_role", "supabase_admin"];
const EMAIL_PATTERN =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const API_VERSION_HEADER = "x-supabase-api-version";
const API_VERSION_2024 = "2024-01-01";

/** A GoTrue error: HTTP status, machine-readable `error_code`, human message. */
class AuthError extends Error {
  constructor(readonly status: number, readonly errorCode: string, message: string, readonly extra = {}) {
    super(message);
  }
}

/** GoTrue answers in the 2024-01-01 shape when the client asks for that API version (supabase-js does). */
function usesApiVersion2024(req: Request): boolean {
  const value = req.headers.get(API_VERSION_HEADER);
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  return value >= API_VERSION_2024;
}

function json(req: Request, status: number, body: unknown): Response {
  const headers: Record<string, string> = {};
  if (usesApiVersion2024(req)) headers[API_VERSION_HEADER] = API_VERSION_2024;
  return Response.json(body, { status, headers });
}

function errorResponse(req: Request, error: AuthError): Response {
  const body = usesApiVersion2024(req)
    ? { code: error.errorCode, message: error.message, ...error.extra }
    : { code: error.status, error_code: error.errorCode, msg: error.message, ...error.extra };
  return json(req, error.status, body);
}

// ---------------------------------------------------------------------------------------------
// Users as GoTrue serializes them
// ---------------------------------------------------------------------------------------------

/** Timestamps as Go prints them (RFC 3339, UTC, microseconds). */
const ts = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const USER_SELECT = `
select u.id, u.aud, u.role, u.email, u.phone, u.raw_app_meta_data, u.raw_user_meta_data, u.is_anonymous,
  ${ts("u.email_confirmed_at")} as email_confirmed_at, ${ts("u.phone_confirmed_at")} as phone_confirmed_at,
  ${ts("u.confirmation_sent_at")} as confirmation_sent_at, ${ts("u.confirmed_at")} as confirmed_at,
  ${ts("u.recovery_sent_at")} as recovery_sent_at, u.email_change, ${
  ts("u.email_change_sent_at")
} as email_change_sent_at,
  u.phone_change, ${ts("u.phone_change_sent_at")} as phone_change_sent_at,
  ${ts("u.reauthentication_sent_at")} as reauthentication_sent_at, ${
  ts("u.last_sign_in_at")
} as last_sign_in_at,
  ${ts("u.created_at")} as created_at, ${ts("u.updated_at")} as updated_at,
  ${ts("u.banned_until")} as banned_until, ${ts("u.deleted_at")} as deleted_at,
  coalesce((
    select json_agg(json_build_object(
      'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', i.identity_data,
      'provider', i.provider, 'last_sign_in_at', ${ts("i.last_sign_in_at")}, 'created_at', ${
  ts("i.created_at")
},
      'updated_at', ${ts("i.updated_at")}, 'email', i.email) order by i.created_at)
    from auth.identities i where i.user_id = u.id
  ), '[]') as identities
from auth.users u`;

type Row = Record<string, unknown>;
type UserJson = Record<string, unknown> & { id: string; aud: string; role: string };

function withoutEmpty(entries: [string, unknown][]): Record<string, unknown> {
  return Object.fromEntries(entries.filter(([, v]) => v !== null && v !== undefined && v !== ""));
}

/** GoTrue's `models.User` JSON: `omitempty` fields left out when empty. */
function userJson(row: Row): UserJson {
  const optional = (...keys: string[]) => keys.map((k) => [k, row[k]] as [string, unknown]);
  return {
    id: row.id as string,
    aud: (row.aud as string) ?? "",
    role: (row.role as string) ?? "",
    email: (row.email as string) ?? "",
    ...withoutEmpty(optional("email_confirmed_at")),
    phone: (row.phone as string) ?? "",
    ...withoutEmpty([
      ...optional("phone_confirmed_at", "confirmation_sent_at", "confirmed_at", "recovery_sent_at"),
      ["new_email", row.email_change],
      ...optional("email_change_sent_at"),
      ["new_phone", row.phone_change],
      ...optional("phone_change_sent_at", "reauthentication_sent_at", "last_sign_in_at"),
    ]),
    app_metadata: row.raw_app_meta_data ?? {},
    user_metadata: row.raw_user_meta_data ?? {},
    identities: (row.identities as Row[]).map((i) => ({
      identity_id: i.identity_id,
      id: i.id,
      user_id: i.user_id,
      ...withoutEmpty([["identity_data", i.identity_data]]),
      provider: i.provider,
      ...withoutEmpty([["last_sign_in_at", i.last_sign_in_at]]),
      created_at: i.created_at,
      updated_at: i.updated_at,
      ...withoutEmpty([["email", i.email]]),
    })),
    created_at: row.created_at,
    updated_at: row.updated_at,
    ...withoutEmpty(optional("banned_until", "deleted_at")),
    is_anonymous: row.is_anonymous ?? false,
  };
}

const isUuid = (value: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "23505";
}

function isPostgresError(error: unknown): boolean {
  return error instanceof postgres.PostgresError ||
    (error instanceof Error && error.name === "PostgresError");
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

type Body = Record<string, unknown>;

async function readBody(req: Request): Promise<Body> {
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    const body = JSON.parse(text);
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return body;
  } catch {
    // answered below
  }
  throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
}

function str(body: Body, key: string): string {
  const value = body[key];
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") {
    throw new AuthError(400, "bad_json", `Could not read '${key}': expected a string`);
  }
  return value;
}

function object(body: Body, key: string): Record<string, unknown> {
  const value = body[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new AuthError(400, "bad_json", `Could not read '${key}': expected an object`);
  }
  return value as Record<string, unknown>;
}

function validateEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email === "") throw new AuthError(400, "validation_failed", "An email address is required");
  if (email.length > 255) throw new AuthError(400, "validation_failed", "An email address is too long");
  if (!EMAIL_PATTERN.test(email)) {
    throw new AuthError(400, "validation_failed", "Unable to validate email address: invalid format");
  }
  return email;
}

// ---------------------------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------------------------

interface Session {
  userId: string;
  revoked: boolean;
}

export function createAuthHandler(opts: AuthHandlerOptions): AuthHandler {
  const { sql, jwtSecret, apiKeys } = opts;
  const expiry = opts.jwtExpirySeconds ?? 3600;
  const minPasswordLength = opts.minPasswordLength ?? 6;
  const authAdminRole = opts.authAdminRole === undefined ? "supabase_auth_admin" : opts.authAdminRole;
  const log = opts.log ?? ((line: string) => console.error(line));
  // In memory: a restart signs nobody out (unknown sessions are accepted) but forgets refresh tokens.
  const sessions = new Map<string, Session>();
  const refreshTokens = new Map<string, { sessionId: string; used: boolean }>();

  /**
   * The rest of `tx` runs as GoTrue's session does on Supabase: as its role, and with its role's
   * `search_path = auth`, so a trigger on auth.users that names a table without its schema fails here too.
   */
  async function asAuthAdmin(tx: postgres.TransactionSql): Promise<void> {
    if (authAdminRole) await tx.unsafe(`set local role ${JSON.stringify(authAdminRole)}`);
    await tx.unsafe("set local search_path = auth");
  }

  function checkPassword(password: string) {
    if (password.length < minPasswordLength) {
      throw new AuthError(
        422,
        "weak_password",
        `Password should be at least ${minPasswordLength} characters.`,
        {
          weak_password: { reasons: ["length"] },
        },
      );
    }
  }

  async function loadUser(db: postgres.Sql | postgres.TransactionSql, id: string): Promise<UserJson | null> {
    const [row] = await db.unsafe(`${USER_SELECT} where u.id = $1`, [id]);
    return row ? userJson(row) : null;
  }

  async function hashPassword(password: string): Promise<string> {
    const [row] = await sql`select extensions.crypt(${password}, extensions.gen_salt('bf', 10)) as hash`;
    return row.hash as string;
  }

  /**
   * Inserts a user and its email identity as GoTrue does: the row first (email unconfirmed), then
   * the identity, then the confirmation as separate updates, so triggers see the same sequence.
   */
  async function createUser(input: {
    email: string;
    passwordHash: string | null;
    userMetadata: Record<string, unknown>;
    appMetadata: Record<string, unknown>;
    confirm: boolean;
    signIn: boolean;
    duplicate: AuthError;
  }): Promise<string> {
    const id = crypto.randomUUID();
    const appMetadata = { provider: "email", providers: ["email"], ...input.appMetadata };
    const identityData = {
      sub: id,
      email: input.email,
      email_verified: false,
      phone_verified: false,
      ...input.userMetadata,
    };
    try {
      await sql.begin(async (tx) => {
        const [existing] = await tx`
          select 1 from auth.users
          where lower(email) = ${input.email} and aud = 'authenticated' and is_sso_user = false`;
        if (existing) throw input.duplicate;
        await asAuthAdmin(tx);
        await tx`
          insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data,
            raw_user_meta_data, is_super_admin, created_at, updated_at, is_sso_user, is_anonymous,
            confirmation_token, recovery_token, email_change_token_new, email_change)
          values ('00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${input.email},
            ${input.passwordHash}, ${tx.json(appMetadata as postgres.JSONValue)},
            ${
          tx.json(input.userMetadata as postgres.JSONValue)
        }, null, now(), now(), false, false, '', '', '', '')`;
        await tx`
          insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
          values (${id}, ${id}, ${
          tx.json(identityData as postgres.JSONValue)
        }, 'email', now(), now(), now())`;
        if (input.confirm) {
          await tx`update auth.users set confirmation_token = '', email_confirmed_at = now() where id = ${id}`;
          await tx`
            update auth.users
            set raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || '{"email_verified": true}'::jsonb,
              updated_at = now()
            where id = ${id}`;
        }
        if (input.signIn) await tx`update auth.users set last_sign_in_at = now() where id = ${id}`;
      });
    } catch (error) {
      if (error instanceof AuthError) throw error;
      if (isUniqueViolation(error)) throw input.duplicate;
      if (isPostgresError(error)) {
        // What Supabase users see when a trigger on auth.users fails.
        log(`auth: saving a new user failed: ${(error as Error).message}`);
        throw new AuthError(500, "unexpected_failure", "Database error saving new user");
      }
      throw error;
    }
    return id;
  }

  async function issueSession(
    req: Request,
    user: UserJson,
    method: string,
    sessionId: string = crypto.randomUUID(),
  ) {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + expiry;
    const issuer = `${opts.apiUrl ?? new URL(req.url).origin}/auth/v1`;
    const claims: JwtPayload = {
      iss: issuer,
      sub: user.id,
      aud: user.aud,
      exp,
      iat,
      email: user.email,
      phone: user.phone,
      app_metadata: user.app_metadata,
      user_metadata: user.user_metadata,
      role: user.role,
      aal: "aal1",
      amr: [{ method, timestamp: iat }],
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    };
    const refreshToken = randomToken();
    sessions.set(sessionId, { userId: user.id, revoked: false });
    refreshTokens.set(refreshToken, { sessionId, used: false });
    return {
      access_token: await signJwt(claims, jwtSecret),
      token_type: "bearer",
      expires_in: expiry,
      expires_at: exp,
      refresh_token: refreshToken,
      user,
    };
  }

  /** GoTrue's requireAuthentication: a valid token whose user (and session) still exist. */
  async function authenticate(req: Request): Promise<{ user: UserJson; claims: JwtPayload }> {
    const claims = await verifiedClaims(req);
    const sub = typeof claims.sub === "string" ? claims.sub : "";
    if (sub === "") throw new AuthError(403, "bad_jwt", "invalid claim: missing sub claim");
    if (!isUuid(sub)) throw new AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID");
    const user = await loadUser(sql, sub);
    if (!user) throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
    const sessionId = typeof claims.session_id === "string" ? claims.session_id : "";
    if (sessions.get(sessionId)?.revoked) {
      throw new AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    return { user, claims };
  }

  async function verifiedClaims(req: Request): Promise<JwtPayload> {
    const token = bearerToken(req);
    if (!token) throw new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token");
    try {
      return await verifyJwt(token, jwtSecret);
    } catch (error) {
      if (!(error instanceof JwtError)) throw error;
      throw new AuthError(
        403,
        "bad_jwt",
        `invalid JWT: unable to parse or verify signature, ${error.message}`,
      );
    }
  }

  async function requireAdmin(req: Request): Promise<void> {
    const claims = await verifiedClaims(req);
    if (!ADMIN_ROLES.includes(claims.role as string)) {
      throw new AuthError(403, "not_admin", "User not allowed");
    }
  }

  // ----- endpoints -----

  async function signup(req: Request): Promise<Response> {
    const body = await readBody(req);
    const [rawEmail, phone, password] = [str(body, "email"), str(body, "phone"), str(body, "password")];
    const data = object(body, "data");
    if (password === "") throw new AuthError(422, "validation_failed", "Signup requires a valid password");
    if (rawEmail !== "" && phone !== "") {
      throw new AuthError(
        422,
        "validation_failed",
        "Only an email address or phone number should be provided on signup.",
      );
    }
    checkPassword(password);
    if (phone !== "") throw new AuthError(400, "phone_provider_disabled", "Phone signups are disabled");
    if (rawEmail === "") {
      throw new AuthError(400, "validation_failed", "Sign up only available with email provider");
    }
    const email = validateEmail(rawEmail);
    const id = await createUser({
      email,
      passwordHash: await hashPassword(password),
      userMetadata: data,
      appMetadata: {},
      confirm: true,
      signIn: true,
      duplicate: new AuthError(422, "user_already_exists", "User already registered"),
    });
    const user = await loadUser(sql, id);
    return json(req, 200, await issueSession(req, user!, "password"));
  }

  async function passwordGrant(req: Request, body: Body): Promise<Response> {
    const [rawEmail, phone, password] = [str(body, "email"), str(body, "phone"), str(body, "password")];
    if (rawEmail !== "" && phone !== "") {
      throw new AuthError(
        400,
        "validation_failed",
        "Only an email address or phone number should be provided on login.",
      );
    }
    if (phone !== "") throw new AuthError(400, "phone_provider_disabled", "Phone logins are disabled");
    if (rawEmail === "") throw new AuthError(400, "validation_failed", "missing email or phone");
    const invalid = new AuthError(400, "invalid_credentials", "Invalid login credentials");
    const [row] = await sql`
      select id, email_confirmed_at is not null as confirmed, coalesce(banned_until > now(), false) as banned,
        coalesce(encrypted_password like '$2%'
          and encrypted_password = extensions.crypt(${password}, encrypted_password), false) as password_ok
      from auth.users
      where lower(email) = ${rawEmail.trim().toLowerCase()} and aud = 'authenticated' and is_sso_user = false`;
    if (!row) throw invalid;
    if (row.banned) throw new AuthError(400, "user_banned", "User is banned");
    if (!row.password_ok) throw invalid;
    if (!row.confirmed) throw new AuthError(400, "email_not_confirmed", "Email not confirmed");
    await sql.begin(async (tx) => {
      await asAuthAdmin(tx);
      await tx`update auth.users set last_sign_in_at = now() where id = ${row.id}`;
    });
    const user = await loadUser(sql, row.id as string);
    return json(req, 200, await issueSession(req, user!, "password"));
  }

  async function refreshGrant(req: Request, body: Body): Promise<Response> {
    const token = str(body, "refresh_token");
    if (token === "") throw new AuthError(400, "validation_failed", "refresh_token required");
    const entry = refreshTokens.get(token);
    const session = entry && sessions.get(entry.sessionId);
    if (!entry || !session || session.revoked) {
      throw new AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
    }
    if (entry.used) {
      throw new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
    }
    const user = await loadUser(sql, session.userId);
    if (!user) {
      throw new AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
    }
    entry.used = true;
    return json(req, 200, await issueSession(req, user, "password", entry.sessionId));
  }

  async function token(req: Request): Promise<Response> {
    const grantType = new URL(req.url).searchParams.get("grant_type");
    const body = await readBody(req);
    if (grantType === "password") return passwordGrant(req, body);
    if (grantType === "refresh_token") return refreshGrant(req, body);
    throw new AuthError(400, "validation_failed", "unsupported_grant_type");
  }

  async function logout(req: Request): Promise<Response> {
    const { user, claims } = await authenticate(req);
    const scope = new URL(req.url).searchParams.get("scope") ?? "global";
    if (!["global", "local", "others"].includes(scope)) {
      throw new AuthError(400, "validation_failed", `Unsupported logout scope "${scope}"`);
    }
    const current = typeof claims.session_id === "string" ? claims.session_id : "";
    if (scope === "local") {
      sessions.set(current, { userId: user.id, revoked: true });
    } else {
      for (const [id, session] of sessions) {
        if (session.userId === user.id && (scope === "global" || id !== current)) session.revoked = true;
      }
      if (scope === "global" && current) sessions.set(current, { userId: user.id, revoked: true });
    }
    return new Response(null, { status: 204 });
  }

  async function adminCreateUser(req: Request): Promise<Response> {
    await requireAdmin(req);
    const body = await readBody(req);
    const [rawEmail, phone, password] = [str(body, "email"), str(body, "phone"), str(body, "password")];
    if (phone !== "") throw new AuthError(400, "phone_provider_disabled", "Phone signups are disabled");
    const email = validateEmail(rawEmail);
    if (password !== "") checkPassword(password);
    const id = await createUser({
      email,
      passwordHash: password === "" ? null : await hashPassword(password),
      userMetadata: object(body, "user_metadata"),
      appMetadata: object(body, "app_metadata"),
      confirm: body.email_confirm === true,
      signIn: false,
      duplicate: new AuthError(
        422,
        "email_exists",
        "A user with this email address has already been registered",
      ),
    });
    return json(req, 200, await loadUser(sql, id));
  }

  async function adminUser(req: Request, id: string): Promise<Response> {
    await requireAdmin(req);
    const notFound = new AuthError(404, "user_not_found", "User not found");
    if (!isUuid(id)) throw notFound;
    const user = await loadUser(sql, id);
    if (!user) throw notFound;
    if (req.method === "GET") return json(req, 200, user);
    await sql.begin(async (tx) => {
      await asAuthAdmin(tx);
      await tx`delete from auth.users where id = ${id}`;
    });
    for (const session of sessions.values()) if (session.userId === id) session.revoked = true;
    return json(req, 200, {});
  }

  async function route(req: Request, path: string): Promise<Response> {
    const method = req.method.toUpperCase();
    const clean = path.replace(/\/+$/, "") || "/";
    if (clean === "/health" && method === "GET") {
      return json(req, 200, {
        version: "local",
        name: "GoTrue",
        description: "Local stand-in for Supabase Auth",
      });
    }
    if (clean === "/signup" && method === "POST") return await signup(req);
    if (clean === "/token" && method === "POST") return await token(req);
    if (clean === "/user" && method === "GET") return json(req, 200, (await authenticate(req)).user);
    if (clean === "/logout" && method === "POST") return await logout(req);
    if (clean === "/admin/users" && method === "POST") return await adminCreateUser(req);
    const adminUserPath = /^\/admin\/users\/([^/]+)$/.exec(clean);
    if (adminUserPath && (method === "GET" || method === "DELETE")) {
      return await adminUser(req, decodeURIComponent(adminUserPath[1]));
    }
    throw new AuthError(404, "not_found", `The local Auth stand-in does not serve ${method} ${clean}`);
  }

  return async (req, path) => {
    try {
      const key = checkApiKey(req, apiKeys);
      if (!key.ok) return key.response;
      return await route(req, path);
    } catch (error) {
      if (error instanceof AuthError) return errorResponse(req, error);
      log(`auth: unexpected error on ${req.method} ${path}: ${(error as Error)?.stack ?? error}`);
      return errorResponse(
        req,
        new AuthError(
          500,
          "unexpected_failure",
          "Unexpected failure, please check server logs for more information",
        ),
      );
    }
  };
}
