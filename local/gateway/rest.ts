/**
 * The local stand-in for PostgREST's `/rest/v1/rpc/<function>` endpoint, as supabase-js `.rpc()`
 * calls it. It keeps PostgREST's contract: JWT check and role switch, the `request.*` settings, named
 * arguments converted with `json_to_record` (so values get the declared types and omitted arguments
 * their defaults), overloads chosen by argument names, a read-only transaction for GET and for
 * stable or immutable functions, `db-max-rows`, result shapes, and error JSON with PostgREST's codes
 * and HTTP statuses. Tables (`/rest/v1/<table>`) are not served here.
 */
import postgres from "postgres";
import { JwtError, type JwtPayload, verifyJwt } from "../jwt.ts";
import { type ApiKeys, bearerToken, checkApiKey } from "../keys.ts";

export interface RestHandlerOptions {
  /** A pool connected as a superuser (or a role that can become every API role). */
  sql: postgres.Sql;
  jwtSecret: string;
  apiKeys: ApiKeys;
  /** Exposed schemas, the first being the default (PostgREST's `db-schemas`); default `["public"]`. */
  schemas?: string[];
  /** Appended to the search path after the request's schema, as Supabase configures PostgREST. */
  extraSearchPath?: string[];
  /** PostgREST's `db-max-rows` (config.toml's `[api] max_rows`): at most this many rows per result. */
  maxRows?: number;
  /** Role for tokens without a `role` claim (`db-anon-role`). */
  anonRole?: string;
  /** The role PostgREST logs in as; a token's role must be granted to it. */
  authenticatorRole?: string;
  /** Receives unexpected (non-database) failures, which clients only see as a generic error. */
  log?: (line: string) => void;
}

export type RestHandler = (req: Request, path: string) => Promise<Response>;

/** PostgREST allows this much clock skew on `exp`, `nbf` and `iat`. */
const JWT_CLOCK_SKEW_SECONDS = 30;

interface ErrorBody {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

/** An error answered with PostgREST's JSON; thrown inside the transaction it also rolls it back. */
class RestError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

function restError(
  status: number,
  code: string,
  message: string,
  details: string | null = null,
  hint: string | null = null,
) {
  return new RestError(status, { code, message, details, hint });
}

function errorResponse(error: RestError): Response {
  return Response.json(error.body, {
    status: error.status,
    headers: { "proxy-status": `PostgREST; error=${error.body.code}`, ...error.headers },
  });
}

// ---------------------------------------------------------------------------------------------
// Functions as PostgREST's schema cache sees them
// ---------------------------------------------------------------------------------------------

interface RpcParam {
  name: string;
  /** Type name usable in a column definition list, e.g. `integer[]`. */
  type: string;
  required: boolean;
  variadic: boolean;
}

interface RpcFunction {
  schema: string;
  name: string;
  params: RpcParam[];
  returnsSet: boolean;
  returnsComposite: boolean;
  returnsVoid: boolean;
  /** `pg_proc.provolatile`: PostgREST runs a POST in a read-only transaction unless this is `v`. */
  volatility: "i" | "s" | "v";
}

/**
 * Input parameters in order, with `character`/`bit` widened the way PostgREST does (so a value is
 * not silently cut to one character). Trigger functions and procedures are not callable.
 */
const FUNCTIONS_SQL = `
select p.proname as name,
  p.proretset as returns_set,
  p.provolatile as volatility,
  p.prorettype = 'void'::regtype as returns_void,
  (coalesce(bt.typtype, t.typtype) = 'c' or coalesce(p.proargmodes::text[] && '{t,b,o}', false))
    as returns_composite,
  coalesce((
    select json_agg(json_build_object(
      'name', coalesce(a.name, ''),
      'type', case a.type
        when 'bit'::regtype then 'bit varying'
        when 'bit[]'::regtype then 'bit varying[]'
        when 'character'::regtype then 'character varying'
        when 'character[]'::regtype then 'character varying[]'
        else a.type::regtype::text end,
      'required', a.idx <= p.pronargs - p.pronargdefaults,
      'variadic', a.mode = 'v') order by a.idx)
    from (
      select x.type, x.name, coalesce(x.mode, 'i') as mode, row_number() over (order by x.ord) as idx
      from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes::text[], p.proargnames)
        with ordinality as x(type, mode, name, ord)
      where coalesce(x.mode, 'i') in ('i', 'b', 'v')
    ) a
  ), '[]') as params
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type t on t.oid = p.prorettype
left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
where n.nspname = $1 and p.proname = $2 and p.prokind = 'f'
  and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)`;

/** Like PostgREST: all parameters named, or exactly one unnamed one of a type it can pass a body as. */
function isCallable(fn: RpcFunction): boolean {
  const unnamed = fn.params.filter((p) => p.name === "");
  if (unnamed.length === 0) return true;
  return unnamed.length === 1 && fn.params.length === 1 &&
    ["json", "jsonb", "text", "xml", "bytea"].includes(unnamed[0].type);
}

async function loadFunctions(sql: postgres.Sql, schema: string, name: string): Promise<RpcFunction[]> {
  // Prepared: planning this catalog query costs ten times more than running it.
  const rows = await sql.unsafe(FUNCTIONS_SQL, [schema, name], { prepare: true });
  return rows.map((r) => ({
    schema,
    name: r.name as string,
    params: r.params as RpcParam[],
    returnsSet: r.returns_set as boolean,
    returnsComposite: r.returns_composite as boolean,
    returnsVoid: r.returns_void as boolean,
    volatility: r.volatility as RpcFunction["volatility"],
  })).filter(isCallable);
}

// ---------------------------------------------------------------------------------------------
// Choosing the function (PostgREST's findProc)
// ---------------------------------------------------------------------------------------------

type Call = { fn: RpcFunction; singleBody: false; params: RpcParam[] } | {
  fn: RpcFunction;
  singleBody: true;
};

function matchesArgs(fn: RpcFunction, keys: Set<string>): boolean {
  if (fn.params.length === 0) return keys.size === 0;
  const names = new Set(fn.params.map((p) => p.name));
  if ([...keys].some((k) => !names.has(k))) return false;
  return fn.params.every((p) => !p.required || keys.has(p.name));
}

function hasSingleUnnamedJsonParam(fn: RpcFunction): boolean {
  return fn.params.length === 1 && fn.params[0].name === "" && ["json", "jsonb"].includes(fn.params[0].type);
}

async function chooseFunction(
  candidates: RpcFunction[],
  keys: Set<string>,
  isPost: boolean,
  notFound: () => Promise<RestError>,
): Promise<Call> {
  const named = candidates.filter((fn) => matchesArgs(fn, keys));
  const single = isPost
    ? candidates.filter((fn) => !matchesArgs(fn, keys) && hasSingleUnnamedJsonParam(fn))
    : [];
  if (named.length === 1) {
    const fn = named[0];
    return { fn, singleBody: false, params: fn.params.filter((p) => keys.has(p.name)) };
  }
  if (named.length > 1) throw ambiguous(named);
  if (single.length === 1) return { fn: single[0], singleBody: true };
  if (single.length > 1) throw ambiguous(single);
  throw await notFound();
}

function ambiguous(fns: RpcFunction[]): RestError {
  const list = fns.map((fn) =>
    `${fn.schema}.${fn.name}(${fn.params.map((p) => `${p.name} => ${p.type}`).join(", ")})`
  );
  return restError(
    300,
    "PGRST203",
    `Could not choose the best candidate function between: ${list.join(", ")}`,
    null,
    "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
  );
}

/** Similarity in [0, 1] from the edit distance (what PostgREST's fuzzy set ends up ranking by). */
function similarity(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  if (a === b) return 1;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return 1 - prev[b.length] / Math.max(a.length, b.length);
}

function bestMatch(target: string, options: string[], minScore: number): string | null {
  let best: string | null = null;
  let bestScore = minScore;
  for (const option of options) {
    const score = similarity(target, option);
    if (score >= bestScore && option !== target) [best, bestScore] = [option, score];
  }
  return best;
}

/** PGRST202, with PostgREST's message, details and "Perhaps you meant" hint. */
async function noRpcError(
  sql: postgres.Sql,
  schema: string,
  name: string,
  keys: string[],
  overloads: RpcFunction[],
  isPost: boolean,
): Promise<RestError> {
  const sorted = [...keys].sort();
  const func = `${schema}.${name}`;
  const withParams = sorted.length === 0
    ? " without parameters"
    : ` with parameter${sorted.length > 1 ? "s" : ""} ${sorted.join(", ")}`;
  const message = `Could not find the function ${func}${
    sorted.length === 0 ? " without parameters" : `(${sorted.join(", ")})`
  } in the schema cache`;
  const details = `Searched for the function ${func}${withParams}${
    isPost ? " or with a single unnamed json/jsonb parameter" : ""
  }, but no matches were found in the schema cache.`;
  let hint: string | null = null;
  if (overloads.length > 0) {
    const asText = (names: string[]) => `(${[...names].sort().join(", ")})`;
    const match = bestMatch(
      asText(sorted),
      overloads.map((fn) => asText(fn.params.map((p) => p.name))),
      0.33,
    );
    if (match) hint = `Perhaps you meant to call the function ${func}${match}`;
  } else {
    const rows = await sql.unsafe(
      `select distinct p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = $1 and p.prokind = 'f'`,
      [schema],
    );
    const match = bestMatch(name, rows.map((r) => r.proname as string), 0.75);
    if (match) hint = `Perhaps you meant to call the function ${schema}.${match}`;
  }
  return restError(404, "PGRST202", message, details, hint);
}

// ---------------------------------------------------------------------------------------------
// The SQL of a call (PostgREST's callPlanToQuery plus the result aggregation)
// ---------------------------------------------------------------------------------------------

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface Shape {
  singular: boolean;
  stripNulls: boolean;
}

interface Paging {
  /** `db-max-rows`, applied to the function's result as PostgREST's read plan does. */
  maxRows?: number;
  /** Count the whole result too (`Prefer: count=...`). */
  count: boolean;
}

function callSql(call: Call, shape: Shape, paging: Paging): { text: string; usesBody: boolean } {
  const { fn } = call;
  const scalar = !fn.returnsComposite;
  const target = `${ident(fn.schema)}.${ident(fn.name)}`;
  const callIt = (args: string) =>
    scalar ? `(select ${target}(${args}) pgrst_scalar) pgrst_call` : `${target}(${args}) pgrst_call`;
  let from: string;
  let usesBody = true;
  if (call.singleBody) {
    from = `from ${callIt(`$1::text::${fn.params[0].type}`)}`;
  } else if (call.params.length === 0) {
    from = `from ${callIt("")}`;
    usesBody = false;
  } else {
    const columns = call.params.map((p) => `${ident(p.name)} ${p.type}`).join(", ");
    const args = call.params
      .map((p) => `${p.variadic ? "variadic " : ""}${ident(p.name)} := pgrst_body.${ident(p.name)}`)
      .join(", ");
    from = `from (select $1::text::json as json_data) pgrst_payload, ` +
      `lateral (select * from json_to_record(pgrst_payload.json_data) as _(${columns}) limit 1) pgrst_body, ` +
      `lateral ${callIt(args)}`;
  }
  const select = scalar ? "pgrst_call.pgrst_scalar" : "pgrst_call.*";
  const row = scalar
    ? "_postgrest_t.pgrst_scalar"
    : shape.stripNulls
    ? "json_strip_nulls(row_to_json(_postgrest_t))"
    : "_postgrest_t";
  const body = shape.singular || !fn.returnsSet
    ? `coalesce((json_agg(${row})->0)::text, 'null')`
    : `coalesce(json_agg(${row}), '[]')::text`;
  const limit = paging.maxRows === undefined ? "" : ` limit ${Math.trunc(paging.maxRows)}`;
  const total = paging.count ? "(select pg_catalog.count(*) from pgrst_source)" : "null::bigint";
  const text = `with pgrst_source as (select ${select} ${from})
    select ${total} as total_result_set, pg_catalog.count(*) as page_total, ${body} as body,
      nullif(current_setting('response.headers', true), '') as response_headers,
      nullif(current_setting('response.status', true), '') as response_status
    from (select * from pgrst_source${limit}) _postgrest_t`;
  return { text, usesBody };
}

// ---------------------------------------------------------------------------------------------
// Errors from PostgreSQL (PostgREST's mapSQLtoHTTP)
// ---------------------------------------------------------------------------------------------

/** PostgREST's status for whole SQLSTATE classes; anything not listed is a client error (400). */
const SQLSTATE_CLASS_STATUS = new Map<string, number>([
  ...["08", "53"].map((c) => [c, 503] as const),
  ...["0L", "0P", "28"].map((c) => [c, 403] as const),
  ...["09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX"]
    .map((c) => [c, 500] as const),
]);

function statusForSqlState(code: string, message: string, authed: boolean): number {
  if (code === "23503" || code === "23505") return 409;
  if (code === "25006") return 405;
  if (code === "21000") return message.endsWith("requires a WHERE clause") ? 400 : 500;
  if (code === "22023") return message.startsWith("role") && message.endsWith("does not exist") ? 401 : 400;
  if (code === "53400") return 500;
  if (code === "57P01") return 503;
  if (code === "P0001") return 400;
  if (code === "42883") return message.startsWith("function xmlagg(") ? 406 : 404;
  if (code === "42P01") return 404;
  if (code === "42P17") return 500;
  if (code === "42501") return authed ? 403 : 401;
  // PostgREST reads the status from what follows "PT", and answers 500 when that is not a number.
  if (code.startsWith("PT")) return /^PT\d{3}$/.test(code) ? Number(code.slice(2)) : 500;
  return SQLSTATE_CLASS_STATUS.get(code.slice(0, 2)) ?? 400;
}

/** `raise sqlstate 'PGRST' using message = '{...}', detail = '{...}'`: full control of the response. */
function raisedPgrstError(message: string, detail: string | undefined): RestError {
  const parseFailure = (details: string, hint: string) =>
    restError(500, "PGRST121", `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`, details, hint);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(message);
    if (typeof body.code !== "string" || typeof body.message !== "string") throw new Error();
  } catch {
    return parseFailure(
      `Invalid JSON value for MESSAGE: '${message}'`,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
    );
  }
  const detailHint =
    "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
  if (detail === undefined) return parseFailure("DETAIL is missing in the RAISE statement", detailHint);
  let meta: { status?: unknown; headers?: unknown };
  try {
    meta = JSON.parse(detail);
    if (typeof meta.status !== "number" || typeof meta.headers !== "object" || meta.headers === null) {
      throw new Error();
    }
  } catch {
    return parseFailure(`Invalid JSON value for DETAIL: '${detail}'`, detailHint);
  }
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  return new RestError(
    meta.status as number,
    {
      code: body.code as string,
      message: body.message as string,
      details: str(body.details),
      hint: str(body.hint),
    },
    Object.fromEntries(
      Object.entries(meta.headers as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    ),
  );
}

function fromPostgresError(error: postgres.PostgresError, authed: boolean): RestError {
  if (error.code === "PGRST") return raisedPgrstError(error.message, error.detail);
  const status = statusForSqlState(error.code, error.message, authed);
  return new RestError(
    status,
    { code: error.code, message: error.message, details: error.detail ?? null, hint: error.hint ?? null },
    status === 401 ? { "www-authenticate": "Bearer" } : {},
  );
}

function isPostgresError(error: unknown): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError ||
    (error instanceof Error && error.name === "PostgresError" &&
      typeof (error as { code?: unknown }).code === "string");
}

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

interface Auth {
  claims: JwtPayload;
  role: string;
}

async function authenticate(req: Request, apiKey: string, secret: string, anonRole: string): Promise<Auth> {
  // Supabase's gateway passes the apikey on as the JWT when the client sends no Authorization.
  const token = bearerToken(req) ?? apiKey;
  try {
    const claims = await verifyJwt(token, secret, { clockSkewSeconds: JWT_CLOCK_SKEW_SECONDS });
    // As PostgREST: no role claim means the anon role; a role that is not a string is taken as its
    // JSON text (which names no role, so the switch fails); the role chosen goes into the claims.
    const role = claims.role === undefined
      ? anonRole
      : typeof claims.role === "string"
      ? claims.role
      : JSON.stringify(claims.role);
    return { claims: { ...claims, role }, role };
  } catch (error) {
    if (!(error instanceof JwtError)) throw error;
    const code = error.kind === "claims" ? "PGRST303" : "PGRST301";
    throw new RestError(401, { code, message: error.message, details: null, hint: null }, {
      "www-authenticate": `Bearer error="invalid_token", error_description=${JSON.stringify(error.message)}`,
    });
  }
}

/**
 * What PostgREST's session would have for a request as role $1: the settings of the role it logs in
 * as ($2, the authenticator: on Supabase statement and lock timeouts), overridden by those of the role
 * it switches to, which PostgREST applies to each request. Only settings a non-superuser may change.
 */
const ROLE_SETTINGS_SQL = `
  select distinct on (kv.key) kv.key, kv.value
  from (
    select case r.rolname when $1::name then 0 else 1 end as rank, c.setting
    from pg_catalog.pg_roles r, unnest(r.rolconfig) as c(setting)
    where r.rolname in ($1::name, $2::name)
  ) x
  cross join lateral (
    select pg_catalog.split_part(x.setting, '=', 1) as key,
      pg_catalog.substr(x.setting, pg_catalog.strpos(x.setting, '=') + 1) as value
  ) kv
  join pg_catalog.pg_settings ps on ps.name = kv.key and ps.context = 'user'
  order by kv.key, x.rank`;

/** Query parameters that are PostgREST syntax, never function arguments. */
const RESERVED_PARAMS = new Set([
  "select",
  "columns",
  "order",
  "limit",
  "offset",
  "and",
  "or",
  "on_conflict",
  "apikey",
]);

interface Args {
  /** The JSON text handed to the function (the raw body for POST, so numbers keep their precision). */
  json: string;
  keys: Set<string>;
}

async function readArgs(req: Request, url: URL, isPost: boolean): Promise<Args> {
  for (const [key, value] of url.searchParams) {
    if (key === "apikey" || (key === "select" && value === "*")) continue;
    if (RESERVED_PARAMS.has(key) || isPost) {
      throw restError(
        400,
        "PGRST127",
        "Feature not implemented",
        `The local REST stand-in does not support the '${key}' query parameter on RPC calls (no filtering, ` +
          `ordering, paging or column selection of function results)`,
      );
    }
  }
  if (!isPost) {
    const args: Record<string, string | string[]> = {};
    for (const [key, value] of url.searchParams) {
      if (RESERVED_PARAMS.has(key)) continue;
      const prev = args[key];
      // A repeated parameter is how PostgREST passes a variadic argument.
      args[key] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
    }
    return { json: JSON.stringify(args), keys: new Set(Object.keys(args)) };
  }
  const text = await req.text();
  if (text.trim() === "") return { json: "{}", keys: new Set() };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw restError(400, "PGRST102", "Empty or invalid json");
  }
  const keys = typeof body === "object" && body !== null && !Array.isArray(body) ? Object.keys(body) : [];
  return { json: text, keys: new Set(keys) };
}

/** Picks the response media type from Accept, as far as RPC supports it. */
function negotiate(accept: string | null): Shape {
  if (!accept) return { singular: false, stripNulls: false };
  const offered = accept.split(",").map((part) => part.trim()).filter(Boolean);
  for (const entry of offered) {
    const [type, ...params] = entry.split(";").map((s) => s.trim().toLowerCase());
    const stripNulls = params.includes("nulls=stripped");
    if (["*/*", "application/*", "application/json"].includes(type)) {
      return { singular: false, stripNulls: false };
    }
    if (type === "application/vnd.pgrst.array+json") return { singular: false, stripNulls };
    if (type === "application/vnd.pgrst.object+json") return { singular: true, stripNulls };
  }
  throw restError(406, "PGRST107", `None of these media types are available: ${offered.join(", ")}`);
}

function parseCookies(header: string | null): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) cookies[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return cookies;
}

function contentRange(rows: number, total: number | null): string {
  const range = rows > 0 ? `0-${rows - 1}` : "*";
  return `${range}/${total ?? "*"}`;
}

/** `response.headers` must be a JSON array of one-key objects (PGRST111 otherwise). */
function gucHeaders(value: string | null): [string, string][] {
  if (value === null) return [];
  const invalid = () =>
    restError(
      500,
      "PGRST111",
      "response.headers guc must be a JSON array composed of objects with a single key and a string value",
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed)) throw invalid();
  return parsed.map((entry) => {
    const pairs = typeof entry === "object" && entry !== null ? Object.entries(entry) : [];
    if (pairs.length !== 1 || typeof pairs[0][1] !== "string") throw invalid();
    return pairs[0] as [string, string];
  });
}

function gucStatus(value: string | null): number | null {
  if (value === null) return null;
  const status = Number(value);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw restError(500, "PGRST112", "response.status guc must be a valid status code");
  }
  return status;
}

export function createRestHandler(opts: RestHandlerOptions): RestHandler {
  const { sql, jwtSecret, apiKeys } = opts;
  const schemas = opts.schemas ?? ["public"];
  const anonRole = opts.anonRole ?? "anon";
  const authenticator = opts.authenticatorRole ?? "authenticator";
  const extraSearchPath = opts.extraSearchPath ?? ["public", "extensions"];
  const maxRows = opts.maxRows;
  // Read once per role, as PostgREST reads them into its schema cache.
  const roleSettings = new Map<string, Promise<Record<string, string>>>();
  const settingsOf = (role: string) => {
    let settings = roleSettings.get(role);
    if (!settings) {
      settings = sql.unsafe(ROLE_SETTINGS_SQL, [role, authenticator])
        .then((rows) => Object.fromEntries(rows.map((r) => [r.key as string, r.value as string])));
      settings.catch(() => roleSettings.delete(role));
      roleSettings.set(role, settings);
    }
    return settings;
  };
  const log = opts.log ?? ((line: string) => console.error(line));

  async function rpc(req: Request, path: string, name: string, auth: Auth): Promise<Response> {
    const method = req.method.toUpperCase();
    if (!["GET", "HEAD", "POST"].includes(method)) {
      throw restError(405, "PGRST101", `Cannot use the ${method} method on RPC`);
    }
    const isPost = method === "POST";
    const url = new URL(req.url);
    const profile = req.headers.get(isPost ? "content-profile" : "accept-profile");
    const schema = profile ?? schemas[0];
    if (!schemas.includes(schema)) {
      throw restError(
        406,
        "PGRST106",
        `Invalid schema: ${schema}`,
        null,
        `Only the following schemas are exposed: ${schemas.join(", ")}`,
      );
    }
    const shape = negotiate(req.headers.get("accept"));
    const args = await readArgs(req, url, isPost);
    const prefer = req.headers.get("prefer") ?? "";
    const wantsCount = /(^|[,\s])count=(exact|planned|estimated)\b/.test(prefer);

    const candidates = await loadFunctions(sql, schema, name);
    const call = await chooseFunction(
      candidates,
      args.keys,
      isPost,
      () => noRpcError(sql, schema, name, [...args.keys], candidates, isPost),
    );
    const query = callSql(call, shape, { maxRows, count: wantsCount });
    const authed = auth.role !== anonRole;
    // As PostgREST: lowercase names, and cookies only in request.cookies.
    const headersJson = JSON.stringify(
      Object.fromEntries(
        [...req.headers].map(([k, v]) => [k.toLowerCase(), v]).filter(([k]) => k !== "cookie"),
      ),
    );
    // PostgREST sets the request's schema and then the extra schemas, as they are (no deduplication).
    const searchPath = [schema, ...extraSearchPath].map(ident).join(", ");
    // Only a POST to a volatile function may write; GET and stable or immutable functions read only.
    const readWrite = isPost && call.fn.volatility === "v";
    // Before the transaction: its connection must not wait for another one from the pool.
    const roleSettingsJson = JSON.stringify(await settingsOf(auth.role));

    try {
      const result = await sql.begin(readWrite ? "read write" : "read only", async (tx) => {
        // One statement, evaluated left to right: an unknown role fails in set_config (22023, 401).
        const [settings] = await tx.unsafe(
          `select set_config('search_path', $1, true), set_config('role', $2, true),
            set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
            set_config('request.path', $5, true), set_config('request.headers', $6, true),
            set_config('request.cookies', $7, true),
            (select pg_catalog.count(pg_catalog.set_config(s.key, s.value, true))
              from pg_catalog.json_each_text($9::text::json) s) as role_settings,
            pg_catalog.pg_has_role($8::name, $2::name, 'MEMBER') as allowed`,
          [
            searchPath,
            auth.role,
            JSON.stringify(auth.claims),
            method,
            path,
            headersJson,
            JSON.stringify(parseCookies(req.headers.get("cookie"))),
            authenticator,
            roleSettingsJson,
          ],
          { prepare: true },
        );
        if (!settings.allowed) {
          throw new RestError(authed ? 403 : 401, {
            code: "42501",
            message: `permission denied to set role "${auth.role}"`,
            details: null,
            hint: null,
          });
        }
        const [row] = await tx.unsafe(query.text, query.usesBody ? [args.json] : []);
        const pageTotal = Number(row.page_total);
        if (shape.singular && !call.fn.returnsVoid && pageTotal !== 1) {
          throw restError(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            `The result contains ${pageTotal} rows`,
          );
        }
        return {
          pageTotal,
          total: row.total_result_set === null ? null : Number(row.total_result_set),
          body: row.body as string,
          headers: gucHeaders(row.response_headers as string | null),
          status: gucStatus(row.response_status as string | null),
        };
      });

      const headers = new Headers(result.headers);
      if (!headers.has("content-range")) {
        headers.set("content-range", contentRange(result.pageTotal, result.total));
      }
      if (call.fn.returnsVoid) return new Response(null, { status: result.status ?? 204, headers });
      // A counted result cut short by max rows is partial content, as PostgREST's range status says.
      const rangeStatus = result.total !== null && result.pageTotal < result.total ? 206 : 200;
      if (!headers.has("content-type")) {
        headers.set(
          "content-type",
          `${shape.singular ? "application/vnd.pgrst.object+json" : "application/json"}; charset=utf-8`,
        );
      }
      if (profile !== null) headers.set("content-profile", schema);
      return new Response(method === "HEAD" ? null : result.body, {
        status: result.status ?? rangeStatus,
        headers,
      });
    } catch (error) {
      if (isPostgresError(error)) throw fromPostgresError(error, authed);
      throw error;
    }
  }

  return async (req, path) => {
    try {
      const key = checkApiKey(req, apiKeys);
      if (!key.ok) return key.response;
      const auth = await authenticate(req, key.apiKey, jwtSecret, anonRole);
      const match = /^\/rpc\/([^/]+)\/?$/.exec(path);
      if (!match) {
        throw restError(
          404,
          "PGRST125",
          "Invalid path specified in request URL",
          "The local REST stand-in serves only /rest/v1/rpc/<function>",
        );
      }
      return await rpc(req, path, decodeURIComponent(match[1]), auth);
    } catch (error) {
      if (error instanceof RestError) return errorResponse(error);
      if (isPostgresError(error)) return errorResponse(fromPostgresError(error, false));
      const code = (error as { code?: unknown })?.code;
      if (typeof code === "string" && CONNECTION_ERROR_CODES.has(code)) {
        return errorResponse(
          restError(503, "PGRST000", "Database connection error. Retrying the connection."),
        );
      }
      log(`rest: unexpected error on ${req.method} ${path}: ${(error as Error)?.stack ?? error}`);
      return errorResponse(restError(500, "PGRSTX00", "Internal server error"));
    }
  };
}
