/**
 * Prepares a database the way a Supabase project has it before its migrations (roles, the
 * `extensions` schema, Vault, the auth schema), then applies `supabase/migrations` and `seed.sql`
 * with the real Supabase CLI, which records them in `supabase_migrations.schema_migrations`.
 */
import { join } from "node:path";
import postgres from "postgres";
import { PROJECT_ROOT } from "./paths.ts";
import { SetupError } from "./prereqs.ts";

const BOOTSTRAP_DIR = join(import.meta.dirname!, "bootstrap");

/** Runs local/bootstrap/*.sql in name order against `databaseUrl`. Each file is idempotent. */
export async function bootstrapDatabase(databaseUrl: string): Promise<void> {
  const files = [...Deno.readDirSync(BOOTSTRAP_DIR)]
    .filter((f) => f.isFile && f.name.endsWith(".sql"))
    .map((f) => f.name)
    .sort();
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    for (const file of files) {
      try {
        await sql.unsafe(Deno.readTextFileSync(join(BOOTSTRAP_DIR, file)));
      } catch (error) {
        throw new SetupError(`local/bootstrap/${file} failed: ${(error as Error).message}`);
      }
    }
  } finally {
    await sql.end();
  }
}

export interface CliResult {
  success: boolean;
  stdout: string;
  /** stdout and stderr together, for messages. */
  output: string;
}

/** Runs the Supabase CLI in the project folder, without telemetry or TLS attempts. */
export async function runSupabaseCli(cli: string, args: string[], cwd = PROJECT_ROOT): Promise<CliResult> {
  const out = await new Deno.Command(cli, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { SUPABASE_TELEMETRY_DISABLED: "1", PGSSLMODE: "disable", DO_NOT_TRACK: "1" },
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(out.stdout);
  return { success: out.success, stdout, output: stdout + decoder.decode(out.stderr) };
}

/**
 * Applies pending migrations (and the seed when `seed` is set) with `supabase db push`.
 * The CLI runs each migration file in its own transaction, so a failing file leaves nothing of
 * itself behind; the error names that file and the line of the failing statement.
 */
export async function pushMigrations(
  cli: string,
  databaseUrl: string,
  { seed = false, cwd = PROJECT_ROOT } = {},
): Promise<string> {
  const args = ["db", "push", `--remote=${databaseUrl}`, "--yes"];
  if (seed) args.push("--include-seed");
  const result = await runSupabaseCli(cli, args, cwd);
  if (!result.success) throw new SetupError(describeMigrationFailure(result.output, cwd));
  return result.output;
}

/**
 * Turns the CLI's failure output into one line: `supabase/migrations/<file>:<line>: <error>`.
 * The CLI says which file it was applying and prints the failing statement's text; the line is
 * found by locating that text in the file.
 */
export function describeMigrationFailure(output: string, cwd = PROJECT_ROOT): string {
  const lines = output.split("\n");
  const applying = [...output.matchAll(/Applying migration (\S+?)\.\.\./g)].at(-1)?.[1];
  const seeding = [...output.matchAll(/Seeding data from (\S+?)\.\.\./g)].at(-1)?.[1];
  const errorLine = lines.find((l) => l.startsWith("ERROR:"))?.replace(/^ERROR:\s*/, "") ??
    lines.filter((l) => l.trim()).at(-1) ?? "unknown error";
  const file = seeding ?? (applying ? `supabase/migrations/${applying}` : undefined);
  if (!file) return `Migrations failed: ${errorLine}`;
  const statementIndex = lines.findIndex((l) => l.startsWith("At statement"));
  const statement = statementIndex >= 0 ? lines[statementIndex + 1]?.trim() : undefined;
  let location = file;
  if (statement) {
    try {
      const text = Deno.readTextFileSync(join(cwd, file));
      const at = text.indexOf(statement);
      if (at >= 0) location = `${file}:${text.slice(0, at).split("\n").length}`;
    } catch { /* the file name alone still helps */ }
  }
  return `${location}: ${errorLine} (nothing of this file was applied)`;
}
