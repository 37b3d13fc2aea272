/**
 * The local Edge Functions runtime: routes `/functions/v1/<name>/...` to
 * `supabase/functions/<name>/index.ts`, each function running unchanged in its own `deno run`
 * subprocess. The function's `Deno.serve(...)` binds the loopback port we choose through
 * `DENO_SERVE_ADDRESS`; requests are proxied to it with the path the edge runtime gives
 * (`/<name>/...`, which is why Hono apps use `basePath('/<name>')`).
 *
 * Like the Supabase CLI's runtime: `verify_jwt` (default true) comes from config.toml and is
 * checked here, OPTIONS requests pass unchecked (functions answer CORS preflights themselves),
 * `supabase/functions/.env` supplies extra variables, and names starting with `SUPABASE_` are
 * reserved for the ones the stack sets.
 */
import { dirname, join } from "node:path";
import { functionConfig, type ProjectConfig } from "../config_toml.ts";

export interface FunctionsHandlerOptions {
  /** The folder holding one sub-folder per function (`supabase/functions`). */
  functionsDir: string;
  config: ProjectConfig;
  /**
   * Variables every function sees: SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY, ...
   * They win over `<functionsDir>/.env`, which wins over the few inherited process variables.
   */
  env: Record<string, string>;
  /** Resolves for a valid JWT and throws otherwise; used for functions with `verify_jwt = true`. */
  verifyJwt: (token: string) => Promise<unknown>;
  /** Import map (or deno.json) for functions that configure none; by default Deno finds deno.json. */
  importMap?: string;
  /** Working directory of the functions and root of their read access; default: the project root. */
  projectRoot?: string;
  /** How long a function may take to start listening; default 30 s (a first start may download npm packages). */
  bootTimeoutMs?: number;
  /** Receives the functions' stdout/stderr lines and the router's own notes; default: stderr. */
  log?: (line: string) => void;
}

export interface FunctionsHandler {
  /** Serves one request; `path` is the part after `/functions/v1` (for example `/echo/x`). */
  handle(req: Request, path: string): Promise<Response>;
  /** Stops every function process and waits until they have exited. */
  close(): Promise<void>;
  /** The running function processes (for diagnostics and tests). */
  processes(): { name: string; pid: number; port: number }[];
}

/** The CLI's rule for function names; it also keeps `..` and `_shared` out of the routes. */
const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Process variables a function process needs to run Deno and reach the network like its parent. */
const INHERITED_ENV = [
  "HOME",
  "PATH",
  "TMPDIR",
  "TZ",
  "LANG",
  "LC_ALL",
  "NO_COLOR",
  "XDG_CACHE_HOME",
  "DENO_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "DENO_AUTH_TOKENS",
  "NPM_CONFIG_REGISTRY",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NODE_EXTRA_CA_CERTS",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

/** Request and response headers that belong to one connection and must not be forwarded. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
];

const STDERR_TAIL_CHARS = 4000;

interface Worker {
  name: string;
  port: number;
  child: Deno.ChildProcess;
  /** Resolves once the process has exited and its output has been read to the end. */
  done: Promise<Deno.CommandStatus>;
  exited: boolean;
  /** Resolves once the port accepts connections; rejects with a BootError. */
  ready: Promise<void>;
  /** The last lines the process wrote to stderr, for boot errors. */
  stderrTail: () => string;
}

class BootError extends Error {}

export function createFunctionsHandler(opts: FunctionsHandlerOptions): FunctionsHandler {
  const workers = new Map<string, Promise<Worker>>();
  const all = new Set<Worker>();
  const log = opts.log ?? ((line: string) => console.error(line));
  const projectRoot = opts.projectRoot ?? dirname(opts.config.supabaseDir);
  const bootTimeoutMs = opts.bootTimeoutMs ?? 30_000;
  let closed = false;
  // Safety net for a parent that exits without close(): unload runs on normal exit and Deno.exit().
  const stopOnExit = () => {
    for (const worker of all) if (!worker.exited) signal(worker, "SIGTERM");
  };
  globalThis.addEventListener("unload", stopOnExit);

  async function handle(req: Request, path: string): Promise<Response> {
    if (closed) return errorResponse(503, "SHUTTING_DOWN", "The functions runtime is shutting down");
    const queryAt = path.indexOf("?");
    const pathname = queryAt === -1 ? path : path.slice(0, queryAt);
    const name = pathname.split("/")[1] ?? "";
    const entrypoint = await findEntrypoint(name);
    if (!entrypoint) {
      return errorResponse(404, "NOT_FOUND", `Requested function was not found: ${describeMissing(name)}`);
    }

    if (req.method !== "OPTIONS" && functionConfig(opts.config, name).verify_jwt) {
      const denied = await checkJwt(req);
      if (denied) return denied;
    }

    let worker: Worker;
    try {
      worker = await startedWorker(name, entrypoint);
    } catch (error) {
      const message = error instanceof BootError ? error.message : String(error);
      return errorResponse(503, "BOOT_ERROR", message);
    }
    return await proxy(worker, req, pathname + new URL(req.url).search);
  }

  /** The function's entrypoint, or undefined when it is unknown, disabled or its file is missing. */
  async function findEntrypoint(name: string): Promise<string | undefined> {
    if (!FUNCTION_NAME.test(name)) return undefined;
    const config = functionConfig(opts.config, name);
    if (!config.enabled) return undefined;
    const entrypoint = config.entrypoint ?? join(opts.functionsDir, name, "index.ts");
    return (await isFile(entrypoint)) ? entrypoint : undefined;
  }

  function describeMissing(name: string): string {
    if (!name) return "no function name in the path (expected /functions/v1/<name>)";
    if (!FUNCTION_NAME.test(name)) return `"${name}" is not a valid function name`;
    const config = functionConfig(opts.config, name);
    if (!config.enabled) return `"${name}" is disabled in config.toml`;
    const entrypoint = config.entrypoint ?? join(opts.functionsDir, name, "index.ts");
    return `"${name}" has no entrypoint at ${entrypoint}`;
  }

  /** The edge runtime's check and its 401 bodies (`{"msg": ...}`); undefined when the JWT is valid. */
  async function checkJwt(req: Request): Promise<Response | undefined> {
    const header = req.headers.get("authorization");
    if (!header) return Response.json({ msg: "Error: Missing authorization header" }, { status: 401 });
    const [scheme, token] = header.split(" ");
    if (scheme !== "Bearer") {
      return Response.json({ msg: "Error: Auth header is not 'Bearer {token}'" }, { status: 401 });
    }
    try {
      await opts.verifyJwt(token ?? "");
      return undefined;
    } catch {
      return Response.json({ msg: "Invalid JWT" }, { status: 401 });
    }
  }

  /**
   * The function's running process, started on first use and restarted after it has exited.
   * Concurrent first requests share one start: the map holds the pending start, not just its result.
   */
  async function startedWorker(name: string, entrypoint: string): Promise<Worker> {
    for (let attempt = 1;; attempt++) {
      let pending = workers.get(name);
      if (!pending) {
        pending = spawnWorker(name, entrypoint).then(async (worker) => {
          await worker.ready;
          return worker;
        });
        workers.set(name, pending);
      }
      try {
        const worker = await pending;
        // One that exited since its start is replaced once; after that, let the proxy report it.
        if (!worker.exited || attempt === 2) return worker;
      } catch (error) {
        if (workers.get(name) === pending) workers.delete(name);
        throw error;
      }
      if (workers.get(name) === pending) workers.delete(name);
    }
  }

  async function spawnWorker(name: string, entrypoint: string): Promise<Worker> {
    const port = freePort();
    const importMap = await importMapFor(name, entrypoint);
    const args = [
      "run",
      "--no-prompt",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      `--allow-read=${projectRoot},${tempDir()}`,
      `--allow-write=${tempDir()}`,
      ...(importMap ? [isDenoJson(importMap) ? "--config" : "--import-map", importMap] : []),
      entrypoint,
    ];
    const env = {
      ...inheritedEnv(),
      ...(await functionsDotEnv(opts.functionsDir, log)),
      ...opts.env,
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
    };
    log(`[functions] starting ${name} on 127.0.0.1:${port}`);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      env,
      clearEnv: true,
      cwd: projectRoot,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();

    let tail = "";
    const pumps = [
      pumpLines(child.stdout, (line) => log(`[${name}] ${line}`)),
      pumpLines(child.stderr, (line) => {
        log(`[${name}] ${line}`);
        tail = (tail + stripAnsi(line) + "\n").slice(-STDERR_TAIL_CHARS);
      }),
    ];
    const worker: Worker = {
      name,
      port,
      child,
      exited: false,
      done: child.status.then(async (status) => {
        worker.exited = true;
        await Promise.allSettled(pumps);
        return status;
      }),
      ready: Promise.resolve(),
      stderrTail: () => tail.trim(),
    };
    all.add(worker);
    worker.done.then(() => all.delete(worker));
    worker.ready = waitUntilListening(worker, bootTimeoutMs);
    return worker;
  }

  /** The import map a function runs with: its config.toml setting, its own deno.json, or the default. */
  async function importMapFor(name: string, entrypoint: string): Promise<string | undefined> {
    const configured = functionConfig(opts.config, name).import_map;
    if (configured) return configured;
    for (const file of ["deno.json", "deno.jsonc"]) {
      const candidate = join(dirname(entrypoint), file);
      if (await isFile(candidate)) return candidate;
    }
    return opts.importMap;
  }

  async function proxy(worker: Worker, req: Request, pathAndQuery: string): Promise<Response> {
    const headers = new Headers(req.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    const original = new URL(req.url);
    if (!headers.has("x-forwarded-host")) headers.set("x-forwarded-host", original.host);
    if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", original.protocol.slice(0, -1));
    // fetch() would transparently decompress but keep Content-Encoding; ask for the plain body.
    headers.set("accept-encoding", "identity");
    const hasBody = req.body !== null && req.method !== "GET" && req.method !== "HEAD";
    let upstream: Response;
    try {
      upstream = await fetch(`http://127.0.0.1:${worker.port}${pathAndQuery}`, {
        method: req.method,
        headers,
        body: hasBody ? req.body : undefined,
        redirect: "manual",
        // No `signal: req.signal`: Deno.serve warns about it, and a client that goes away cancels
        // the response body, which closes the upstream connection anyway.
      });
    } catch (error) {
      const why = worker.exited ? "its process exited" : `the request failed (${errorText(error)})`;
      return errorResponse(500, "WORKER_ERROR", `Function "${worker.name}" did not respond: ${why}`);
    }
    const responseHeaders = new Headers(upstream.headers);
    for (const name of HOP_BY_HOP) responseHeaders.delete(name);
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders,
    });
  }

  async function close(): Promise<void> {
    closed = true;
    globalThis.removeEventListener("unload", stopOnExit);
    await Promise.all([...all].map((worker) => stopWorker(worker)));
    workers.clear();
  }

  return {
    handle,
    close,
    processes: () =>
      [...all].filter((w) => !w.exited).map((w) => ({ name: w.name, pid: w.child.pid, port: w.port })),
  };
}

/** Resolves when the worker's port accepts a connection; rejects if it exits or takes too long. */
async function waitUntilListening(worker: Worker, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitStatus: Deno.CommandStatus | undefined;
  worker.done.then((status) => (exitStatus = status));
  while (Date.now() < deadline) {
    if (exitStatus || worker.exited) {
      const status = exitStatus ?? (await worker.done);
      throw new BootError(
        `Function "${worker.name}" failed to boot: its process exited with code ${status.code}` +
          describeTail(worker),
      );
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: worker.port });
      conn.close();
      return;
    } catch {
      await delay(25);
    }
  }
  await stopWorker(worker);
  throw new BootError(
    `Function "${worker.name}" failed to boot: not listening after ${timeoutMs} ms` + describeTail(worker),
  );
}

function describeTail(worker: Worker): string {
  const tail = worker.stderrTail();
  return tail ? `\n${tail}` : " (no output)";
}

/** SIGTERM, then SIGKILL if the process is still there after 2 s; resolves once it has exited. */
async function stopWorker(worker: Worker): Promise<void> {
  if (worker.exited) return void await worker.done;
  signal(worker, "SIGTERM");
  const timer = setTimeout(() => signal(worker, "SIGKILL"), 2000);
  try {
    await worker.done;
  } finally {
    clearTimeout(timer);
  }
}

function signal(worker: Worker, name: Deno.Signal): void {
  try {
    worker.child.kill(name);
  } catch {
    // It has exited already.
  }
}

/** Reads a byte stream to its end, calling `onLine` for each line of text. */
async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) onLine(line.replace(/\r$/, ""));
  }
  if (buffered) onLine(buffered);
}

/** A loopback port that is free right now (the child binds it a moment later). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** `<functionsDir>/.env`, as `supabase functions serve` loads it; SUPABASE_* names are skipped. */
async function functionsDotEnv(
  functionsDir: string,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(functionsDir, ".env"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw error;
  }
  const env = parseDotEnv(text);
  for (const name of Object.keys(env)) {
    if (!name.startsWith("SUPABASE_")) continue;
    log(`[functions] ${functionsDir}/.env: skipping ${name}: names starting with SUPABASE_ are reserved`);
    delete env[name];
  }
  return env;
}

/** A simple dotenv reader: `KEY=value`, optional `export `, quotes, `#` comments. */
export function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key, rest] = match;
    let value: string;
    const quote = rest[0];
    if ((quote === '"' || quote === "'") && rest.indexOf(quote, 1) !== -1) {
      value = rest.slice(1, rest.indexOf(quote, 1));
      if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\r/g, "\r").replace(/\\t/g, "\t");
    } else {
      value = rest.replace(/\s+#.*$/, "").trim();
    }
    env[key] = value;
  }
  return env;
}

function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}

function isDenoJson(path: string): boolean {
  return /(^|[/\\])deno\.jsonc?$/.test(path);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function tempDir(): string {
  return Deno.env.get("TMPDIR") ?? "/tmp";
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
