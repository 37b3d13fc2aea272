/**
 * Finds, and where it can installs, what the local stack needs: PostgreSQL 15 with pg_cron,
 * pgTAP and plpgsql_check (Debian packages, installed with apt when running as root), pg_prove,
 * and the Supabase CLI (the npm package `supabase`, which ships its binary).
 *
 * When something cannot be installed, it stops with one line naming what to install.
 */
import { join } from "node:path";

export const PG_MAJOR = 15;
export const SUPABASE_CLI_VERSION = "3.1.0";

/** An error whose message is the one line a user needs; the CLI prints it without a stack. */
export class SetupError extends Error {
  override name = "SetupError";
}

export interface Postgres {
  binDir: string;
  extensionDir: string;
  pkgLibDir: string;
}

const APT_PACKAGES: Record<string, { present: (pg: Postgres) => boolean }> = {
  [`postgresql-${PG_MAJOR}`]: { present: () => exists(`/usr/lib/postgresql/${PG_MAJOR}/bin/postgres`) },
  [`postgresql-${PG_MAJOR}-cron`]: { present: (pg) => exists(join(pg.extensionDir, "pg_cron.control")) },
  [`postgresql-${PG_MAJOR}-pgtap`]: { present: (pg) => exists(join(pg.extensionDir, "pgtap.control")) },
  [`postgresql-${PG_MAJOR}-plpgsql-check`]: {
    present: (pg) => exists(join(pg.extensionDir, "plpgsql_check.control")),
  },
  "libtap-parser-sourcehandler-pgtap-perl": { present: () => which("pg_prove") !== null },
};

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function which(command: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(join(dir, command))) return join(dir, command);
  }
  return null;
}

export function isRoot(): boolean {
  return Deno.uid?.() === 0;
}

function postgresPaths(): Postgres {
  const binDir = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
  return {
    binDir,
    extensionDir: `/usr/share/postgresql/${PG_MAJOR}/extension`,
    pkgLibDir: `/usr/lib/postgresql/${PG_MAJOR}/lib`,
  };
}

async function run(cmd: string, args: string[], log: (line: string) => void): Promise<boolean> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    log(`${cmd} ${args.join(" ")} failed: ${tail}`);
  }
  return out.success;
}

/**
 * Makes sure the Debian packages are installed (each with its own check of being present), installing
 * the missing ones with apt when running as root; throws a SetupError naming what is still missing.
 */
export async function ensureAptPackages(
  packages: Record<string, () => boolean>,
  log: (line: string) => void = console.log,
): Promise<void> {
  const missingNow = () => Object.entries(packages).filter(([, present]) => !present()).map(([name]) => name);
  let missing = missingNow();
  if (missing.length > 0 && isRoot() && which("apt-get")) {
    log(`Installing ${missing.join(", ")} with apt-get ...`);
    if (!await run("apt-get", ["install", "-y", "-qq", ...missing], log)) {
      await run("apt-get", ["update", "-qq"], log);
      await run("apt-get", ["install", "-y", "-qq", ...missing], log);
    }
    missing = missingNow();
  }
  if (missing.length > 0) {
    throw new SetupError(
      `Missing ${missing.join(", ")}: install with \`sudo apt-get install ${missing.join(" ")}\``,
    );
  }
}

/**
 * Makes sure PostgreSQL 15 and its extension packages are installed, installing the missing ones
 * with apt when running as root.
 */
export async function ensurePostgres(log: (line: string) => void = console.log): Promise<Postgres> {
  const pg = postgresPaths();
  await ensureAptPackages(
    Object.fromEntries(Object.entries(APT_PACKAGES).map(([name, p]) => [name, () => p.present(pg)])),
    log,
  );
  return pg;
}

/** Whether `command` is on the PATH. */
export function onPath(command: string): boolean {
  return which(command) !== null;
}

/** Path of the pinned Supabase CLI binary, installed from npm into `toolsDir` when missing. */
export async function ensureSupabaseCli(
  toolsDir: string,
  log: (line: string) => void = console.log,
): Promise<string> {
  const bin = join(toolsDir, "node_modules", ".bin", "supabase");
  const versionFile = join(toolsDir, "node_modules", "supabase", "package.json");
  const installed = exists(versionFile) &&
    JSON.parse(Deno.readTextFileSync(versionFile)).version === SUPABASE_CLI_VERSION;
  if (installed && exists(bin)) return bin;
  const npm = which("npm");
  if (!npm) throw new SetupError("npm not found: install Node.js and npm, then run this command again");
  log(`Installing the Supabase CLI ${SUPABASE_CLI_VERSION} from npm ...`);
  Deno.mkdirSync(toolsDir, { recursive: true });
  const ok = await run(
    npm,
    [
      "install",
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--prefix",
      toolsDir,
      `supabase@${SUPABASE_CLI_VERSION}`,
    ],
    log,
  );
  if (!ok || !exists(bin)) {
    throw new SetupError(
      `Could not install the Supabase CLI: run \`npm install --prefix ${toolsDir} supabase@${SUPABASE_CLI_VERSION}\``,
    );
  }
  return bin;
}
