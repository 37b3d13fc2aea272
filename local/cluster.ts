/**
 * A real PostgreSQL 15 cluster in a project-local folder, with its own port and socket directory,
 * pg_cron and plpgsql_check preloaded, and the local stand-in extensions (pg_net, supabase_vault)
 * installed into the server's extension directory.
 *
 * As root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
 */
import { basename, dirname, join } from "node:path";
import { isRoot, type Postgres, SetupError } from "./prereqs.ts";

const STAND_IN_EXTENSIONS = join(import.meta.dirname!, "extensions");

export interface ClusterOptions {
  /** Folder holding `data/`, the socket and the server log. */
  dir: string;
  port: number;
  /** Database pg_cron's scheduler connects to (a postmaster setting). */
  cronDatabase?: string;
  /** Trade durability for speed: right for throwaway test clusters only. */
  fast?: boolean;
}

export class Cluster {
  readonly dataDir: string;
  readonly logFile: string;

  constructor(readonly pg: Postgres, readonly options: ClusterOptions) {
    try {
      Deno.statSync(join(pg.binDir, "postgres"));
    } catch {
      throw new SetupError(
        `PostgreSQL server binaries not found in ${pg.binDir}: install them with \`apt-get install postgresql-15\``,
      );
    }
    this.dataDir = join(options.dir, "data");
    this.logFile = join(options.dir, "postgres.log");
  }

  get port(): number {
    return this.options.port;
  }

  /** URL for the superuser on `database`. The password is ignored (trust auth) but the CLI wants one. */
  url(database = "postgres"): string {
    return `postgresql://postgres:postgres@127.0.0.1:${this.port}/${database}`;
  }

  exists(): boolean {
    try {
      Deno.statSync(join(this.dataDir, "PG_VERSION"));
      return true;
    } catch {
      return false;
    }
  }

  /** Creates the cluster when it does not exist yet. Returns true when it was created now. */
  async init(): Promise<boolean> {
    if (this.exists()) return false;
    Deno.mkdirSync(this.options.dir, { recursive: true });
    await this.giveToServerUser(this.options.dir);
    await this.pgCommand("initdb", [
      "-D",
      this.dataDir,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ]);
    // Vault's encryption key lives beside the data, never in a table (see supabase_vault).
    const key = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
    const keyFile = join(this.dataDir, "supabase_vault.key");
    Deno.writeTextFileSync(keyFile, key + "\n", { mode: 0o600 });
    await this.giveToServerUser(keyFile);
    return true;
  }

  /** Writes the settings the stack relies on; they take effect at the next start. */
  configure(): void {
    const settings: Record<string, string | number> = {
      port: this.port,
      listen_addresses: "127.0.0.1",
      unix_socket_directories: this.options.dir,
      shared_preload_libraries: "pg_cron,plpgsql_check",
      "cron.database_name": this.options.cronDatabase ?? "postgres",
      "pg_net.ttl": "6 hours",
      "pg_net.batch_size": 200,
      max_connections: 200,
      log_min_messages: "warning",
    };
    if (this.options.fast) {
      Object.assign(settings, { fsync: "off", synchronous_commit: "off", full_page_writes: "off" });
    }
    const lines = Object.entries(settings).map(([k, v]) =>
      `${k} = ${typeof v === "number" ? v : `'${v.replaceAll("'", "''")}'`}`
    );
    const file = join(this.dataDir, "postgresql.auto.conf");
    Deno.writeTextFileSync(file, `# Written by local/cluster.ts on every start.\n${lines.join("\n")}\n`);
    void this.giveToServerUser(file);
  }

  async isRunning(): Promise<boolean> {
    if (!this.exists()) return false;
    const out = await this.pgCommand("pg_ctl", ["status", "-D", this.dataDir], { allowFailure: true });
    return out.success;
  }

  async start(): Promise<void> {
    if (await this.isRunning()) return;
    await assertPortFree(this.port, "PostgreSQL");
    installStandInExtensions(this.pg);
    this.configure();
    const out = await this.pgCommand(
      "pg_ctl",
      ["start", "-D", this.dataDir, "-l", this.logFile, "-w", "-t", "30"],
      { allowFailure: true },
    );
    if (!out.success) {
      throw new SetupError(
        `PostgreSQL did not start: ${lastLines(this.readLog(), 5)} (log: ${this.logFile})`,
      );
    }
  }

  async stop(): Promise<void> {
    if (!await this.isRunning()) return;
    const out = await this.pgCommand("pg_ctl", ["stop", "-D", this.dataDir, "-m", "fast", "-w", "-t", "30"], {
      allowFailure: true,
    });
    // Someone else (an interrupt's cleanup) may have stopped it in the meantime: only a server that
    // is still running is a failure.
    if (!out.success && await this.isRunning()) {
      const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      throw new SetupError(`pg_ctl failed: ${lastLines(text, 5)}`);
    }
  }

  async restart(options: Partial<ClusterOptions>): Promise<void> {
    await this.stop();
    Object.assign(this.options, options);
    await this.start();
  }

  /** Stops the server and deletes the folder, and its parent when that is left empty. */
  async destroy(): Promise<void> {
    await this.stop();
    await Deno.remove(this.options.dir, { recursive: true }).catch(() => {});
    // A cluster outside the checkout (serverReachableDir) would otherwise leave /var/tmp/supabase-local-*.
    await Deno.remove(dirname(this.options.dir)).catch(() => {});
  }

  private readLog(): string {
    try {
      return Deno.readTextFileSync(this.logFile);
    } catch {
      return "";
    }
  }

  private async giveToServerUser(path: string): Promise<void> {
    if (!isRoot()) return;
    const out = await new Deno.Command("chown", { args: ["-R", "postgres:postgres", path] }).output();
    if (!out.success) throw new SetupError(`Could not chown ${path} to the postgres user`);
  }

  private async pgCommand(
    tool: string,
    args: string[],
    { allowFailure = false } = {},
  ): Promise<Deno.CommandOutput> {
    const bin = join(this.pg.binDir, tool);
    // PostgreSQL refuses to run as root: run its tools as the postgres OS user instead.
    const [cmd, cmdArgs] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
    const out = await new Deno.Command(cmd, { args: cmdArgs, stdout: "piped", stderr: "piped", cwd: "/" })
      .output();
    if (!out.success && !allowFailure) {
      const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      throw new SetupError(`${tool} failed: ${lastLines(text, 5)}`);
    }
    return out;
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}

/** Fails with a clear message when something already listens on `port`. */
export async function assertPortFree(port: number, what: string): Promise<void> {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new SetupError(
        `Port ${port} for ${what} is already in use: stop whatever listens there (another \`deno task dev\`?) or choose another port`,
      );
    }
    throw error;
  }
  await Promise.resolve();
}

/**
 * `preferred` when the server's OS user can reach it, else a folder under /var/tmp named after it.
 * As root the server runs as `postgres`, which cannot enter a project checked out under a private
 * folder (a `mktemp -d` clone, a home directory with mode 700); the cluster then lives outside.
 */
export async function serverReachableDir(preferred: string): Promise<string> {
  if (!isRoot()) return preferred;
  Deno.mkdirSync(dirname(preferred), { recursive: true });
  const probe = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "test", "-x", dirname(preferred)],
    stdout: "null",
    stderr: "null",
  }).output();
  if (probe.success) return preferred;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(preferred));
  const tag = Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  return join("/var/tmp", `supabase-local-${tag}`, basename(preferred));
}

/** A free loopback TCP port, chosen by the kernel. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Copies local/extensions/<name>/* into the server's extension directory, so that migrations run the
 * same `create extension pg_net` here as on Supabase. Skips files that are already identical.
 */
export function installStandInExtensions(pg: Postgres): void {
  for (const ext of Deno.readDirSync(STAND_IN_EXTENSIONS)) {
    if (!ext.isDirectory) continue;
    for (const file of Deno.readDirSync(join(STAND_IN_EXTENSIONS, ext.name))) {
      const source = join(STAND_IN_EXTENSIONS, ext.name, file.name);
      const target = join(pg.extensionDir, file.name);
      const content = Deno.readFileSync(source);
      let current: Uint8Array | null = null;
      try {
        current = Deno.readFileSync(target);
      } catch { /* not installed yet */ }
      if (current && current.length === content.length && current.every((b, i) => b === content[i])) continue;
      try {
        Deno.writeFileSync(target, content);
      } catch (error) {
        if (error instanceof Deno.errors.PermissionDenied) {
          throw new SetupError(
            `Cannot write ${target}: run once as root, or \`sudo cp local/extensions/*/* ${pg.extensionDir}/\``,
          );
        }
        throw error;
      }
    }
  }
}
