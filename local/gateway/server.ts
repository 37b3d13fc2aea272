/**
 * The local API gateway: one HTTP server that serves what Supabase's API gateway serves on
 * port 54321, routing `/rest/v1`, `/auth/v1` and `/functions/v1` to the local stand-ins.
 */
import postgres from "postgres";
import { createAuthHandler } from "./auth.ts";
import { createFunctionsHandler } from "./functions.ts";
import { createRestHandler } from "./rest.ts";
import { loadProjectConfig } from "../config_toml.ts";
import { verifyJwt } from "../jwt.ts";
import { freePort } from "../cluster.ts";

export interface GatewayOptions {
  databaseUrl: string;
  jwtSecret: string;
  apiKeys: { anonKey: string; serviceRoleKey: string };
  /** Folder of the edge functions, normally supabase/functions. */
  functionsDir: string;
  /** Path of supabase/config.toml (verify_jwt per function). */
  configPath: string;
  port?: number;
  hostname?: string;
  /**
   * Extra variables for every function (like `supabase secrets set` or supabase/functions/.env, over
   * which they win); the stack's own SUPABASE_* variables cannot be overridden.
   */
  functionEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type, content-profile, " +
    "accept-profile, prefer, range, x-supabase-api-version",
};

function jsonError(status: number, message: string): Response {
  return Response.json({ message }, { status, headers: CORS_HEADERS });
}

/** `env` without names starting with SUPABASE_, which belong to the stack (as on Supabase). */
function withoutReservedNames(
  env: Record<string, string>,
  log: (line: string) => void,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("SUPABASE_")) {
      log(`[functions] functionEnv: skipping ${name}: SUPABASE_ names are reserved`);
      continue;
    }
    kept[name] = value;
  }
  return kept;
}

/** Starts the gateway; `port: 0` picks a free port (tests). */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {});
  const sql = postgres(options.databaseUrl, { max: 10, onnotice: () => {}, idle_timeout: 30 });
  const config = await loadProjectConfig(options.configPath);
  const rest = createRestHandler({
    sql,
    jwtSecret: options.jwtSecret,
    apiKeys: options.apiKeys,
    schemas: config.api.schemas,
    extraSearchPath: config.api.extra_search_path,
    maxRows: config.api.max_rows,
  });
  const auth = createAuthHandler({ sql, jwtSecret: options.jwtSecret, apiKeys: options.apiKeys });
  const hostname = options.hostname ?? "127.0.0.1";
  // Functions get the gateway's own URL as SUPABASE_URL, so the port is settled up front.
  const port = options.port === 0 ? freePort() : options.port ?? 54321;
  const apiUrl = `http://${hostname}:${port}`;
  const functions = createFunctionsHandler({
    functionsDir: options.functionsDir,
    config,
    env: {
      ...withoutReservedNames(options.functionEnv ?? {}, log),
      SUPABASE_URL: apiUrl,
      SUPABASE_ANON_KEY: options.apiKeys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: options.apiKeys.serviceRoleKey,
      SUPABASE_DB_URL: options.databaseUrl,
      // The newer key variables; locally they carry the same JWT keys the gateway accepts.
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: options.apiKeys.anonKey }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: options.apiKeys.serviceRoleKey }),
    },
    verifyJwt: (token) => verifyJwt(token, options.jwtSecret),
    log,
  });

  const withCors = async (response: Promise<Response>): Promise<Response> => {
    const res = await response;
    const headers = new Headers(res.headers);
    for (const [k, v] of Object.entries(CORS_HEADERS)) if (!headers.has(k)) headers.set(k, v);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };

  const handler = (req: Request): Promise<Response> | Response => {
    const { pathname } = new URL(req.url);
    const [, service, version, ...segments] = pathname.split("/");
    const subPath = "/" + segments.join("/");
    if (version !== "v1") return jsonError(404, `No route for ${pathname}`);
    switch (service) {
      case "rest":
        if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
        return withCors(rest(req, subPath));
      case "auth":
        if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
        return withCors(auth(req, subPath));
      case "functions":
        // Functions answer their own CORS preflights, as on Supabase.
        return functions.handle(req, subPath);
      default:
        return jsonError(404, `No route for ${pathname}`);
    }
  };
  const { promise: listening, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve(
    { port, hostname, onListen: () => resolve() },
    async (req) => {
      try {
        return await handler(req);
      } catch (error) {
        log(`gateway error on ${req.method} ${new URL(req.url).pathname}: ${(error as Error).message}`);
        return jsonError(500, "Internal gateway error");
      }
    },
  );
  await listening;
  return {
    url: apiUrl,
    port,
    async close() {
      await functions.close();
      await server.shutdown();
      await sql.end({ timeout: 5 });
    },
  };
}
