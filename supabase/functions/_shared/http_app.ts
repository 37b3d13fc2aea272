/**
 * The Hono app every function starts from: routes under `/<function-name>` (the path the edge
 * runtime passes on), a request id on every response, one error shape, and one structured log line
 * per request.
 *
 * - Errors answer `{ "error": code, "message": text }`. Throw an {@link HttpError} for deliberate
 *   answers; anything else becomes a 500 `internal_error` whose text never reaches the caller (the
 *   log line has it, with the request id the caller got in `X-Request-Id`).
 * - A trailing slash is ignored: `/<functionName>/` serves the same route as `/<functionName>`.
 * - The log line is JSON with stable keys (`fn`, `request_id`, `method`, `path`, `status`,
 *   `duration_ms`, plus what handlers add with {@link addLogFields}); it carries no headers, no query
 *   string and no body, so no secret, signature or payload ends up in logs.
 *
 * @example
 * ```ts
 * const app = createHttpApp({ functionName: "my-function" });
 * app.post("/", async (c) => {
 *   const body = parseJson(await readBody(c, 64 * 1024), Payload);
 *   addLogFields(c, { user_id: body.id });
 *   return c.json({ ok: true });
 * });
 * Deno.serve(app.fetch);
 * ```
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodType } from "zod";

/** A deliberate error answer: `status` with `{ "error": code, "message": message }`. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export type AppEnv = {
  Variables: {
    requestId: string;
    logFields: Record<string, unknown>;
  };
};

export type AppContext = Context<AppEnv>;

export interface HttpAppOptions {
  /** The function's folder name; routes live under `/<functionName>`. */
  functionName: string;
  /** Receives each log line (default `console.log`). */
  log?: (line: string) => void;
  /** Milliseconds clock for durations (default `performance.now`). */
  now?: () => number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_LOGGED_ERROR = 300;

/** A Hono app with base path `/<functionName>`, request ids, JSON errors and request logging. */
export function createHttpApp(options: HttpAppOptions): Hono<AppEnv> {
  const log = options.log ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => performance.now());
  // strict: false: `/<name>/` is `/<name>`, so a URL saved with a trailing slash (a Vault setting, a
  // dashboard field) still reaches its route instead of a 404.
  const root = new Hono<AppEnv>({ strict: false });

  root.use("*", async (c, next) => {
    const started = now();
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("logFields", {});
    try {
      await next();
    } finally {
      c.header("X-Request-Id", requestId);
      const status = c.res.status;
      log(JSON.stringify({
        level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
        fn: options.functionName,
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        status,
        duration_ms: Math.round((now() - started) * 10) / 10,
        ...c.get("logFields"),
      }));
    }
  });

  root.onError((error, c) => {
    if (error instanceof HttpError) {
      addLogFields(c, { error: error.code });
      return c.json({ error: error.code, message: error.message }, error.status, error.headers);
    }
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      addLogFields(c, { error: `http_${status}` });
      return c.json({ error: `http_${status}`, message: error.message || "Request failed" }, status);
    }
    addLogFields(c, {
      error: "internal_error",
      error_detail: `${(error as Error)?.name ?? "Error"}: ${
        String((error as Error)?.message ?? error).slice(0, MAX_LOGGED_ERROR)
      }`,
    });
    return c.json({
      error: "internal_error",
      message: `Internal error; the function logs have details under request id ${c.get("requestId")}`,
    }, 500);
  });

  root.notFound((c) =>
    c.json({ error: "not_found", message: `No route for ${c.req.method} ${c.req.path}` }, 404)
  );

  return root.basePath(`/${options.functionName}`);
}

/** Adds fields to this request's log line (never pass secrets, signatures or payloads). */
export function addLogFields(c: Context, fields: Record<string, unknown>): void {
  const current = (c.get("logFields") as Record<string, unknown> | undefined) ?? {};
  c.set("logFields", { ...current, ...fields });
}

/**
 * The raw request body as text, refused with 413 `payload_too_large` beyond `maxBytes`. Read it once
 * and verify signatures on these exact bytes before parsing.
 */
export async function readBody(c: Context, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  const tooLarge = () =>
    new HttpError(413, "payload_too_large", `The request body must be at most ${maxBytes} bytes`);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  // Read chunk by chunk so a body without (or with a lying) Content-Length stops at the limit.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = c.req.raw.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    // ignoreBOM keeps a leading byte order mark: the text must be the exact bytes that were signed.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "invalid_body", "The request body must be UTF-8 text");
  }
}

/**
 * Parses JSON text and validates it with a zod schema. Answers 400 `invalid_json` for text that is
 * not JSON and 400 `invalid_payload` naming the first problems (paths and zod's messages, no values).
 */
export function parseJson<T>(text: string, schema: ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "The request body is not valid JSON");
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 5).map((issue) =>
      `${issue.path.length ? issue.path.join(".") : "(body)"}: ${issue.message}`
    );
    throw new HttpError(400, "invalid_payload", `Invalid payload: ${problems.join("; ")}`);
  }
  return result.data;
}
