/**
 * The local stand-in for pg_net's background worker.
 *
 * `local/extensions/pg_net` queues requests in `net.http_request_queue` exactly like pg_net and
 * notifies the `pg_net` channel; NOTIFY is delivered at commit only, so rolled back requests are
 * never seen. This worker LISTENs on that channel and, like pg_net's worker, runs rounds: purge
 * responses older than `pg_net.ttl`, send up to `pg_net.batch_size` queued requests concurrently,
 * then pause one second (cut short by new commits) while there was work. Each request is deleted
 * from the queue in the same transaction that stores its response, so stopping or crashing the
 * worker loses nothing: unanswered requests are sent again by the next worker.
 *
 * Run on its own: `deno run -A local/net_worker.ts --db-url postgres://...` (or SUPABASE_DB_URL).
 */
import postgres from "postgres";

const VERSION = "0.20.0";
const USER_AGENT = `pg_net/${VERSION}`;
/** What the real worker reports in pg_stat_activity; net.check_worker_is_up() looks for it. */
const APPLICATION_NAME = `pg_net ${VERSION}`;
const CHANNEL = "pg_net";
const ROUND_PAUSE_MS = 1000;
/** Only a safety net for a missed notification (e.g. while reconnecting); commits wake the worker. */
const IDLE_POLL_MS = 10_000;
const DEFAULT_BATCH_SIZE = 200;
const DEFAULT_TTL = "6 hours";

export interface NetWorkerOptions {
  databaseUrl: string;
  log?: (line: string) => void;
}

export interface NetWorker {
  /** Stops the worker; requests in flight are abandoned and stay queued for the next worker. */
  stop(): Promise<void>;
  /** Starts a round now, as a commit of a new request does. */
  wake(): void;
}

/** Connects, starts listening and returns once the worker is running. */
export async function startNetWorker(opts: NetWorkerOptions): Promise<NetWorker> {
  const worker = new PgNetWorker(opts.databaseUrl, opts.log ?? ((line) => console.error(line)));
  await worker.start();
  return { stop: () => worker.stop(), wake: () => worker.wake() };
}

interface Settings {
  batchSize: number;
  ttl: string;
  /**
   * now() as the round begins. pg_net inserts a round's responses in the transaction that took its
   * requests, so `created` (default now()) is when the round began, not when a reply arrived.
   */
  roundStart: string;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  /** `name: value` lines, built like pg_net does: `key || ': ' || value` from jsonb_each_text. */
  header_lines: (string | null)[];
  body: Uint8Array<ArrayBuffer> | null;
  timeout_milliseconds: number;
}

/** A row for net._http_response, shaped the way pg_net fills it from curl. */
interface Outcome {
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

class PgNetWorker {
  private sql: postgres.Sql | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private inFlight = new AbortController();
  private wakePending = true; // sweep on start: requests may have been queued while no worker ran
  private restartPending = false;
  // A latch like the real worker's: a poke during a round cuts the following pause short.
  private latch = false;
  private release: (() => void) | undefined;
  private lastError = "";
  private warned = new Set<string>();

  constructor(private readonly databaseUrl: string, private readonly log: (line: string) => void) {}

  async start(): Promise<void> {
    await this.connect();
    this.log(`pg_net worker ${VERSION} started`);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.inFlight.abort();
    this.poke();
    await this.loop;
    await this.sql?.end({ timeout: 1 });
    this.log("pg_net worker stopped");
  }

  wake(): void {
    this.wakePending = true;
    this.poke();
  }

  private async connect(): Promise<void> {
    const sql = postgres(this.databaseUrl, {
      max: 4,
      onnotice: () => {},
      connection: { application_name: APPLICATION_NAME },
    });
    let listened = false;
    try {
      // onlisten runs again after postgres.js re-establishes a dropped LISTEN connection, when
      // notifications may have been missed: sweep the queue then (the first time, start() does).
      await sql.listen(CHANNEL, (payload) => this.onNotify(payload), () => {
        if (listened) this.wake();
        listened = true;
      });
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
    this.sql = sql;
  }

  private onNotify(payload: string): void {
    if (payload === "restart") {
      this.restartPending = true;
      this.poke();
    } else {
      this.wake();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.restartPending) {
        await this.restart();
        continue;
      }
      if (!this.wakePending) {
        await this.pause(IDLE_POLL_MS);
        this.wakePending = true;
        continue;
      }
      // the pokes that led here are consumed, as the real worker resets its latch before a round
      this.wakePending = false;
      this.latch = false;
      await this.drain();
    }
  }

  /** Like net.worker_restart() on pg_net: reconnect (picking up new settings) and sweep the queue. */
  private async restart(): Promise<void> {
    this.restartPending = false;
    this.log("pg_net worker restarting");
    await this.sql?.end({ timeout: 1 });
    this.sql = undefined;
    while (!this.stopping && !this.sql) {
      try {
        await this.connect();
      } catch (error) {
        this.report(error);
        await this.pause(ROUND_PAUSE_MS);
      }
    }
    this.wakePending = true;
  }

  /** Rounds until one finds neither requests to send nor responses to purge. */
  private async drain(): Promise<void> {
    let busy: boolean;
    do {
      busy = false;
      try {
        const settings = await this.settings();
        const purged = await this.purgeExpired(settings);
        const sent = await this.round(settings);
        busy = purged > 0 || sent > 0;
        this.lastError = "";
      } catch (error) {
        this.report(error);
        // without the extension there is nothing to do until a request (or the idle poll) arrives
        busy = !isMissingExtension(error);
      }
      await this.pause(ROUND_PAUSE_MS);
    } while (busy && !this.stopping && !this.restartPending);
  }

  private async settings(): Promise<Settings> {
    const [row] = await this.db<{ batch_size: string | null; ttl: string | null; round_start: string }[]>`
      select current_setting('pg_net.batch_size', true) as batch_size,
        current_setting('pg_net.ttl', true) as ttl, now()::text as round_start`;
    let batchSize = row.batch_size ? Number(row.batch_size) : DEFAULT_BATCH_SIZE;
    // pg_net declares the setting with the range 0..32767; a placeholder setting accepts anything
    if (!Number.isInteger(batchSize) || batchSize < 0 || batchSize > 32767) {
      this.warnOnce(`invalid value for pg_net.batch_size: "${row.batch_size}", using ${DEFAULT_BATCH_SIZE}`);
      batchSize = DEFAULT_BATCH_SIZE;
    }
    return { batchSize, ttl: row.ttl || DEFAULT_TTL, roundStart: row.round_start };
  }

  /** Deletes up to batch_size responses older than pg_net.ttl, oldest first, as pg_net does. */
  private async purgeExpired({ ttl, batchSize }: Settings): Promise<number> {
    try {
      const result = await this.db`
        with expired as (
          select ctid from net._http_response
          where created < now() - ${ttl}::interval
          order by created
          limit ${batchSize}
        )
        delete from net._http_response r using expired where r.ctid = expired.ctid`;
      return result.count;
    } catch (error) {
      if (!(error as { code?: string }).code?.startsWith("22")) throw error;
      // a bad pg_net.ttl (data exception) must not stop requests from going out
      this.warnOnce(`invalid value for pg_net.ttl: "${ttl}", expired responses are kept`);
      return 0;
    }
  }

  private async round({ batchSize, roundStart }: Settings): Promise<number> {
    if (batchSize === 0) return 0;
    const requests = await this.db<QueuedRequest[]>`
      select q.id, q.method, q.url, q.body, q.timeout_milliseconds,
        case when jsonb_typeof(q.headers) = 'object'
          then array(select key || ': ' || value from jsonb_each_text(q.headers))
          else '{}'::text[]
        end as header_lines
      from net.http_request_queue q
      order by q.id
      limit ${batchSize}`;
    await Promise.all(requests.map((request) => this.process(request, roundStart)));
    return requests.length;
  }

  private async process(request: QueuedRequest, roundStart: string): Promise<void> {
    const outcome = await send(request, this.inFlight.signal);
    if (!outcome) return; // abandoned by stop(): it stays queued
    try {
      await this.db`
        with sent as (delete from net.http_request_queue where id = ${request.id}::bigint returning id)
        insert into net._http_response
          (id, status_code, content, headers, content_type, timed_out, error_msg, created)
        select id, ${outcome.status_code}::int, ${outcome.content}::text,
          ${outcome.headers && this.db.json(outcome.headers)}::jsonb, ${outcome.content_type}::text,
          ${outcome.timed_out}::bool, ${outcome.error_msg}::text, ${roundStart}::timestamptz
        from sent`;
    } catch (error) {
      this.report(error);
    }
  }

  private get db(): postgres.Sql {
    if (!this.sql) throw new Error("not connected");
    return this.sql;
  }

  private poke(): void {
    this.latch = true;
    this.release?.();
  }

  /** Waits up to `ms`; returns at once if poked since the last pause. */
  private async pause(ms: number): Promise<void> {
    if (!this.latch && !this.stopping) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.release?.(), ms);
        this.release = () => {
          clearTimeout(timer);
          this.release = undefined;
          resolve();
        };
      });
    }
    this.latch = false;
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.log(`pg_net worker: ${message}`);
  }

  /** Logs an error once until a round succeeds again, without URLs (they may carry secrets). */
  private report(error: unknown): void {
    const message = redact(error instanceof Error ? error.message : String(error));
    if (message === this.lastError) return;
    this.lastError = message;
    this.log(`pg_net worker: ${message}`);
  }
}

function isMissingExtension(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "42P01" || code === "3F000"; // undefined_table, invalid_schema_name
}

function redact(message: string): string {
  return message.replace(/\bhttps?:\/\/[^\s)]+/g, "<url>");
}

/** Performs one request like pg_net's curl handle; resolves to null when abandoned by `stop`. */
async function send(request: QueuedRequest, stop: AbortSignal): Promise<Outcome | null> {
  const method = request.method.toUpperCase();
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return failure("URL using bad/illegal format or missing URL");
  }
  // pg_net restricts curl to CURLOPT_PROTOCOLS_STR "http,https"
  if (url.protocol !== "http:" && url.protocol !== "https:") return failure("Unsupported protocol");
  if (request.timeout_milliseconds <= 0) {
    return failure(`timeout_milliseconds must be greater than 0, got ${request.timeout_milliseconds}`);
  }
  const headers = buildHeaders(request);
  if (typeof headers === "string") return failure(headers);
  if (method === "GET" && request.body?.length) {
    return failure("a GET request with a body is not supported by the local pg_net worker");
  }

  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), request.timeout_milliseconds);
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: method === "GET" ? undefined : request.body ?? undefined,
      redirect: "follow",
      signal: AbortSignal.any([timeout.signal, stop]),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const responseHeaders: Record<string, string> = {};
    for (const [name, value] of response.headers) responseHeaders[name] = value; // last one wins
    return {
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: responseHeaders,
      content: bodyText(bytes),
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    if (stop.aborted) return null;
    if (timeout.signal.aborted) {
      return {
        ...failure(timeoutMessage(request.timeout_milliseconds, performance.now() - started)),
        timed_out: true,
      };
    }
    return failure(curlError(error));
  } finally {
    clearTimeout(timer);
  }
}

/** Request headers as curl sends them for pg_net, or the reason the request is refused. */
function buildHeaders(request: QueuedRequest): Headers | string {
  const headers = new Headers();
  for (const line of request.header_lines) {
    if (line === null) continue; // a JSON null value: pg_net skips it
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (value === "") continue; // curl sends no header for "Name:" without a value
    try {
      headers.append(name, value);
    } catch {
      // name only: the value may hold a credential
      return /[\r\n]/.test(value)
        ? `header "${name}" contains a carriage return or line feed`
        : `header "${name}" is not a valid HTTP header`;
    }
  }
  headers.append("user-agent", USER_AGENT);
  // curl's default for a request with a body (POST always has one)
  const method = request.method.toUpperCase();
  if ((method === "POST" || request.body) && !headers.has("content-type")) {
    headers.set("content-type", "application/x-www-form-urlencoded");
  }
  return headers;
}

/** The body as text the way pg_net stores it: up to the first NUL byte, NULL when empty. */
function bodyText(bytes: Uint8Array): string | null {
  const nul = bytes.indexOf(0);
  const end = nul === -1 ? bytes.length : nul;
  return end === 0 ? null : new TextDecoder().decode(bytes.subarray(0, end));
}

function failure(message: string): Outcome {
  return {
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out: false,
    error_msg: message,
  };
}

/**
 * pg_net's detailed timeout message. fetch exposes no per-phase timings, so the whole time is
 * reported as HTTP Request/Response time.
 */
function timeoutMessage(timeoutMs: number, totalMs: number): string {
  const ms = (value: number) => value.toFixed(6);
  return `Timeout of ${timeoutMs} ms reached. Total time: ${ms(totalMs)} ms (DNS time: ${ms(0)} ms, ` +
    `TCP/SSL handshake time: ${ms(0)} ms, HTTP Request/Response time: ${ms(totalMs)} ms)`;
}

/** Translates a fetch failure into the curl_easy_strerror() text pg_net would store. */
function curlError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 5; e = e.cause) parts.push(e.message);
  const text = parts.join(": ");
  const rules: [RegExp, string][] = [
    [/dns error|failed to lookup address|name or service not known/i, "Couldn't resolve host name"],
    [
      /requests to port \d+ are blocked/i,
      "Couldn't connect to server (port blocked by the local pg_net worker)",
    ],
    [
      /connection refused|tcp connect error|network is unreachable|no route to host/i,
      "Couldn't connect to server",
    ],
    [/connection closed before message completed/i, "Server returned nothing (no headers, no data)"],
    [/invalid http|message head is too large|parse/i, "Weird server reply"],
    [/error reading a body|end of file before message length/i, "Transferred a partial file"],
    [/certificate|unknownissuer/i, "SSL peer certificate or SSH remote key was not OK"],
    [/tls|ssl|handshake/i, "SSL connect error"],
    [/redirect/i, "Number of redirects hit maximum amount"],
  ];
  for (const [pattern, message] of rules) {
    if (pattern.test(text)) return message;
  }
  return `Failure when receiving data from the peer (${redact(text)})`;
}

function parseArgs(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--db-url") return args[i + 1];
    if (args[i].startsWith("--db-url=")) return args[i].slice("--db-url=".length);
  }
  return Deno.env.get("SUPABASE_DB_URL");
}

if (import.meta.main) {
  const databaseUrl = parseArgs(Deno.args);
  if (!databaseUrl) {
    console.error("usage: deno run -A local/net_worker.ts --db-url postgres://... (or set SUPABASE_DB_URL)");
    Deno.exit(2);
  }
  const worker = await startNetWorker({ databaseUrl });
  const shutdown = async () => {
    await worker.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
