/**
 * A reader for `supabase/config.toml`: a TOML parser for the subset the Supabase CLI's config uses
 * (tables, arrays of tables, dotted and quoted keys, basic/literal/multi-line strings, integers,
 * floats, booleans, arrays, inline tables, comments) and `loadProjectConfig`, which extracts the
 * settings the local stack needs. Dates and times are rejected with a clear error: config.toml has none.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

/** A syntax error, with the 1-based line and column where it was found. */
export class TomlError extends Error {
  constructor(message: string, readonly line: number, readonly column: number, source?: string) {
    super(`${source ? `${source}: ` : ""}line ${line}, column ${column}: ${message}`);
    this.name = "TomlError";
  }
}

/** Parses TOML text; `source` (a file name) prefixes error messages. */
export function parseToml(text: string, source?: string): TomlTable {
  return new Parser(text, source).parseDocument();
}

// ---------------------------------------------------------------------------------------------
// Parser

const BARE_KEY = /[A-Za-z0-9_-]/;

class Parser {
  private pos = 0;
  private readonly root: TomlTable = {};
  /** Tables opened by a `[header]` (may not be opened twice) and inline tables (closed for good). */
  private readonly explicit = new WeakSet<TomlTable>();
  private readonly sealed = new WeakSet<object>();
  /** Tables created by `[[header]]` arrays: the arrays themselves may be appended to. */
  private readonly tableArrays = new WeakSet<TomlValue[]>();

  constructor(private readonly src: string, private readonly source?: string) {}

  parseDocument(): TomlTable {
    let current = this.root;
    for (;;) {
      this.skipBlankLines();
      if (this.pos >= this.src.length) return this.root;
      const ch = this.src[this.pos];
      if (ch === "[") {
        current = this.src[this.pos + 1] === "[" ? this.parseArrayTableHeader() : this.parseTableHeader();
      } else {
        this.parseKeyValue(current);
      }
      this.expectLineEnd();
    }
  }

  // --- structure -------------------------------------------------------------------------------

  private parseTableHeader(): TomlTable {
    this.pos++; // [
    const keys = this.parseKey();
    this.skipSpaces();
    this.expect("]", "to close the table header");
    const parent = this.descend(this.root, keys.slice(0, -1), "header");
    const last = keys[keys.length - 1];
    if (Object.hasOwn(parent, last) && Array.isArray(parent[last])) {
      this.fail(`[${keys.join(".")}] conflicts with an earlier array "${last}"`);
    }
    const table = this.descend(parent, [last], "header");
    if (this.explicit.has(table)) this.fail(`table [${keys.join(".")}] is defined twice`);
    this.explicit.add(table);
    return table;
  }

  private parseArrayTableHeader(): TomlTable {
    this.pos += 2; // [[
    const keys = this.parseKey();
    this.skipSpaces();
    this.expect("]]", "to close the array-of-tables header");
    const parent = this.descend(this.root, keys.slice(0, -1), "header");
    const last = keys[keys.length - 1];
    let array = Object.hasOwn(parent, last) ? parent[last] : undefined;
    if (array === undefined) {
      array = [];
      this.tableArrays.add(array);
      setKey(parent, last, array);
    } else if (!Array.isArray(array) || !this.tableArrays.has(array)) {
      this.fail(`[[${keys.join(".")}]] conflicts with an earlier value for "${last}"`);
    }
    const table: TomlTable = {};
    array.push(table);
    return table;
  }

  /** Walks (creating as needed) the tables named by `keys`; into the last table of `[[arrays]]`. */
  private descend(start: TomlTable, keys: string[], via: "header" | "dotted"): TomlTable {
    let table = start;
    for (const key of keys) {
      let next = Object.hasOwn(table, key) ? table[key] : undefined;
      if (next === undefined) {
        next = {};
        setKey(table, key, next);
      } else if (Array.isArray(next) && via === "header" && this.tableArrays.has(next)) {
        next = next[next.length - 1];
      }
      if (!isTable(next) || this.sealed.has(next)) {
        this.fail(`"${key}" is already defined as a value and cannot be used as a table`);
      }
      if (via === "dotted" && this.explicit.has(next) && next !== start) {
        this.fail(`dotted key cannot extend table "${key}" defined by a [header]`);
      }
      table = next;
    }
    return table;
  }

  private parseKeyValue(table: TomlTable): void {
    const keys = this.parseKey();
    this.skipSpaces();
    if (this.src[this.pos] !== "=") {
      this.fail(`expected "=" after key "${keys.join(".")}"`);
    }
    this.pos++;
    this.skipSpaces();
    const target = this.descend(table, keys.slice(0, -1), "dotted");
    const last = keys[keys.length - 1];
    if (Object.hasOwn(target, last)) this.fail(`key "${keys.join(".")}" is defined twice`);
    setKey(target, last, this.parseValue());
  }

  /** A possibly dotted key: `a`, `"quoted key"`, `'literal'`, `a."b".c`. */
  private parseKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const ch = this.src[this.pos];
      if (ch === '"') {
        keys.push(this.parseBasicString());
      } else if (ch === "'") {
        keys.push(this.parseLiteralString());
      } else {
        const start = this.pos;
        while (this.pos < this.src.length && BARE_KEY.test(this.src[this.pos])) this.pos++;
        if (start === this.pos) {
          this.fail(
            ch === undefined || ch === "\n"
              ? "expected a key"
              : `unexpected ${show(ch)} where a key was expected`,
          );
        }
        keys.push(this.src.slice(start, this.pos));
      }
      this.skipSpaces();
      if (this.src[this.pos] !== ".") return keys;
      this.pos++;
    }
  }

  // --- values ----------------------------------------------------------------------------------

  private parseValue(): TomlValue {
    const rest = this.src.slice(this.pos, this.pos + 3);
    const ch = rest[0];
    if (rest === '"""') return this.parseMultilineBasicString();
    if (rest === "'''") return this.parseMultilineLiteralString();
    if (ch === '"') return this.parseBasicString();
    if (ch === "'") return this.parseLiteralString();
    if (ch === "[") return this.parseArray();
    if (ch === "{") return this.parseInlineTable();
    if (ch === undefined || ch === "\n" || ch === "\r" || ch === "#") this.fail('expected a value after "="');
    return this.parseScalar();
  }

  private parseScalar(): TomlValue {
    const start = this.pos;
    while (this.pos < this.src.length && /[A-Za-z0-9_+\-.:]/.test(this.src[this.pos])) this.pos++;
    const token = this.src.slice(start, this.pos);
    if (token === "") this.fail(`unexpected ${show(this.src[this.pos])} where a value was expected`);
    if (token === "true") return true;
    if (token === "false") return false;
    if (/^[+-]?(inf|nan)$/.test(token)) {
      return token.endsWith("nan") ? NaN : token.startsWith("-") ? -Infinity : Infinity;
    }
    if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(token)) return this.integer(token.slice(2), 16, start);
    if (/^0o[0-7](_?[0-7])*$/.test(token)) return this.integer(token.slice(2), 8, start);
    if (/^0b[01](_?[01])*$/.test(token)) return this.integer(token.slice(2), 2, start);
    if (/^[+-]?(0|[1-9](_?\d)*)$/.test(token)) return this.integer(token, 10, start);
    if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/.test(token)) {
      return Number(token.replaceAll("_", ""));
    }
    if (/^\d{4}-\d{2}-\d{2}|^\d{2}:\d{2}/.test(token)) {
      this.fail(`dates and times are not supported by this reader (got ${token}); quote the value`, start);
    }
    if (/^[+-]?[0-9]/.test(token)) this.fail(`invalid number ${show(token)}`, start);
    this.fail(`invalid value ${show(token)} (strings must be quoted)`, start);
  }

  private integer(digits: string, radix: number, start: number): number {
    const clean = digits.replaceAll("_", "");
    const value = radix === 10 ? Number(clean) : parseInt(clean, radix);
    if (!Number.isSafeInteger(value)) this.fail(`integer ${digits} is too large`, start);
    return value;
  }

  private parseArray(): TomlValue[] {
    this.pos++; // [
    const items: TomlValue[] = [];
    for (;;) {
      this.skipWhitespaceAndComments();
      if (this.src[this.pos] === "]") break;
      items.push(this.parseValue());
      this.skipWhitespaceAndComments();
      const ch = this.src[this.pos];
      if (ch === ",") {
        this.pos++;
      } else if (ch !== "]") {
        this.fail(
          ch === undefined
            ? 'unterminated array: expected "]"'
            : `expected "," or "]" in array, got ${show(ch)}`,
        );
      }
    }
    this.pos++; // ]
    this.sealed.add(items);
    return items;
  }

  private parseInlineTable(): TomlTable {
    this.pos++; // {
    const table: TomlTable = {};
    this.skipSpaces();
    if (this.src[this.pos] === "}") {
      this.pos++;
      this.sealed.add(table);
      return table;
    }
    for (;;) {
      this.skipSpaces();
      this.parseKeyValue(table);
      this.skipSpaces();
      const ch = this.src[this.pos];
      this.pos++;
      if (ch === "}") break;
      if (ch !== ",") {
        this.pos--;
        this.fail(
          `expected "," or "}" in inline table, got ${show(ch)} (inline tables must stay on one line)`,
        );
      }
    }
    this.sealed.add(table);
    return table;
  }

  private parseBasicString(): string {
    this.pos++; // "
    let out = "";
    for (;;) {
      const ch = this.src[this.pos];
      if (ch === undefined || ch === "\n") this.fail('unterminated string: expected a closing "');
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === "\\") {
        out += this.parseEscape();
      } else {
        out += ch;
        this.pos++;
      }
    }
  }

  private parseMultilineBasicString(): string {
    this.pos += 3;
    this.skipNewline(); // a newline right after the opening quotes is trimmed
    let out = "";
    for (;;) {
      const ch = this.src[this.pos];
      if (ch === undefined) this.fail('unterminated multi-line string: expected """');
      if (this.src.startsWith('"""', this.pos)) {
        // Up to two quotes may sit right before the closing delimiter.
        let extra = 0;
        while (extra < 2 && this.src[this.pos + 3 + extra] === '"') extra++;
        out += '"'.repeat(extra);
        this.pos += 3 + extra;
        return out;
      }
      if (ch === "\\") {
        // A backslash at the end of a line trims the newline and the whitespace that follows.
        const lineEnd = /^\\[ \t]*\r?\n/.exec(this.src.slice(this.pos, this.pos + 200));
        if (lineEnd) {
          this.pos += lineEnd[0].length;
          while (/[ \t\r\n]/.test(this.src[this.pos] ?? "")) this.pos++;
        } else {
          out += this.parseEscape();
        }
      } else {
        out += ch;
        this.pos++;
      }
    }
  }

  private parseLiteralString(): string {
    const start = ++this.pos;
    const end = this.src.indexOf("'", start);
    const newline = this.src.indexOf("\n", start);
    if (end === -1 || (newline !== -1 && newline < end)) {
      this.fail("unterminated string: expected a closing '");
    }
    this.pos = end + 1;
    return this.src.slice(start, end);
  }

  private parseMultilineLiteralString(): string {
    this.pos += 3;
    this.skipNewline();
    const start = this.pos;
    const end = this.src.indexOf("'''", start);
    if (end === -1) this.fail("unterminated multi-line string: expected '''");
    let extra = 0;
    while (extra < 2 && this.src[end + 3 + extra] === "'") extra++;
    this.pos = end + 3 + extra;
    return this.src.slice(start, end + extra);
  }

  private parseEscape(): string {
    const code = this.src[this.pos + 1];
    const simple: Record<string, string> = {
      b: "\b",
      t: "\t",
      n: "\n",
      f: "\f",
      r: "\r",
      e: "\x1b",
      '"': '"',
      "\\": "\\",
    };
    if (code !== undefined && Object.hasOwn(simple, code)) {
      this.pos += 2;
      return simple[code];
    }
    const width = code === "u" ? 4 : code === "U" ? 8 : 0;
    const hex = this.src.slice(this.pos + 2, this.pos + 2 + width);
    if (width && new RegExp(`^[0-9A-Fa-f]{${width}}$`).test(hex)) {
      const point = parseInt(hex, 16);
      if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
        this.fail(`invalid unicode escape \\${code}${hex}`);
      }
      this.pos += 2 + width;
      return String.fromCodePoint(point);
    }
    this.fail(`invalid escape sequence \\${code ?? ""}`);
  }

  // --- whitespace ------------------------------------------------------------------------------

  private skipSpaces(): void {
    while (this.src[this.pos] === " " || this.src[this.pos] === "\t") this.pos++;
  }

  private skipComment(): void {
    if (this.src[this.pos] !== "#") return;
    while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
  }

  private skipNewline(): boolean {
    if (this.src[this.pos] === "\n") {
      this.pos++;
      return true;
    }
    if (this.src[this.pos] === "\r" && this.src[this.pos + 1] === "\n") {
      this.pos += 2;
      return true;
    }
    return false;
  }

  private skipBlankLines(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      if (!this.skipNewline()) return;
    }
  }

  /** Inside arrays: spaces, newlines and comments are all allowed between items. */
  private skipWhitespaceAndComments(): void {
    this.skipBlankLines();
  }

  private expectLineEnd(): void {
    this.skipSpaces();
    this.skipComment();
    if (this.pos >= this.src.length || this.skipNewline()) return;
    this.fail(`expected the end of the line, got ${show(this.src[this.pos])}`);
  }

  private expect(token: string, why: string): void {
    if (!this.src.startsWith(token, this.pos)) this.fail(`expected "${token}" ${why}`);
    this.pos += token.length;
  }

  private fail(message: string, at = this.pos): never {
    const before = this.src.slice(0, at);
    const line = before.split("\n").length;
    const column = at - (before.lastIndexOf("\n") + 1) + 1;
    throw new TomlError(message, line, column, this.source);
  }
}

function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Defines an own property, so that a key such as `__proto__` stays an ordinary key. */
function setKey(table: TomlTable, key: string, value: TomlValue): void {
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}

function show(ch: string | undefined): string {
  if (ch === undefined) return "end of file";
  if (ch === "\n" || ch === "\r") return "end of line";
  return JSON.stringify(ch);
}

// ---------------------------------------------------------------------------------------------
// Project config

/** One `[functions.<name>]` section, with the CLI's defaults applied. */
export interface FunctionConfig {
  /** Require a valid JWT in `Authorization: Bearer ...` (the CLI's default is true). */
  verify_jwt: boolean;
  /** `enabled = false` makes the function unavailable. */
  enabled: boolean;
  /** Absolute path (config.toml gives it relative to the `supabase/` directory). */
  import_map?: string;
  /** Absolute path; without it the entrypoint is `functions/<name>/index.ts`. */
  entrypoint?: string;
}

export interface ProjectConfig {
  /** Absolute path of the config.toml that was read. */
  path: string;
  /** The directory holding config.toml (`supabase/`): config paths are relative to it. */
  supabaseDir: string;
  project_id: string;
  api: {
    port: number;
    /** Schemas the Data API exposes, the first being the default (PostgREST's `db-schemas`). */
    schemas: string[];
    /** Schemas appended to each request's search path (`db-extra-search-path`). */
    extra_search_path: string[];
    /** At most this many rows per response (`db-max-rows`). */
    max_rows: number;
  };
  db: {
    port: number;
    major_version: number;
    /** Seed files (glob patterns), absolute; empty when `[db.seed] enabled = false`. */
    seed: { enabled: boolean; sql_paths: string[] };
  };
  functions: Record<string, FunctionConfig>;
  /** The whole parsed file, for settings not extracted above. */
  raw: TomlTable;
}

/** The defaults the CLI applies to a function that has no `[functions.<name>]` section. */
export const DEFAULT_FUNCTION_CONFIG: Readonly<FunctionConfig> = Object.freeze({
  verify_jwt: true,
  enabled: true,
});

/** The settings of one function: its section, or the defaults when config.toml has none. */
export function functionConfig(config: ProjectConfig, name: string): FunctionConfig {
  return Object.hasOwn(config.functions, name) ? config.functions[name] : { ...DEFAULT_FUNCTION_CONFIG };
}

/** Reads and validates a config.toml (for example `supabase/config.toml`). */
export async function loadProjectConfig(path: string): Promise<ProjectConfig> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await Deno.readTextFile(absolute);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
  return parseProjectConfig(text, absolute);
}

/** Validates parsed config text; `path` names the file in errors and anchors relative paths. */
export function parseProjectConfig(text: string, path: string): ProjectConfig {
  const absolute = resolve(path);
  const supabaseDir = dirname(absolute);
  const raw = parseToml(text, path);
  const read = new Reader(raw, path);
  const inDir = (p: string) => (isAbsolute(p) ? p : join(supabaseDir, p));

  const project_id = read.string("project_id");
  if (project_id === undefined || project_id === "") {
    throw new Error(`${path}: missing required field project_id`);
  }

  const functions: Record<string, FunctionConfig> = {};
  for (const name of Object.keys(read.table("functions") ?? {})) {
    read.table("functions", name); // throws unless it is a table
    const importMap = read.string("functions", name, "import_map");
    const entrypoint = read.string("functions", name, "entrypoint");
    functions[name] = {
      verify_jwt: read.boolean("functions", name, "verify_jwt") ?? true,
      enabled: read.boolean("functions", name, "enabled") ?? true,
      ...(importMap ? { import_map: inDir(importMap) } : {}),
      ...(entrypoint ? { entrypoint: inDir(entrypoint) } : {}),
    };
  }

  const seedEnabled = read.boolean("db", "seed", "enabled") ?? true;
  const seedPaths = read.strings("db", "seed", "sql_paths") ?? ["./seed.sql"];
  return {
    path: absolute,
    supabaseDir,
    project_id,
    // The CLI's defaults for a config.toml that leaves them out.
    api: {
      port: read.port("api", "port") ?? 54321,
      schemas: read.strings("api", "schemas") ?? ["public", "graphql_public"],
      extra_search_path: read.strings("api", "extra_search_path") ?? ["public", "extensions"],
      max_rows: read.integer("api", "max_rows") ?? 1000,
    },
    db: {
      port: read.port("db", "port") ?? 54322,
      major_version: read.integer("db", "major_version") ?? 17,
      seed: { enabled: seedEnabled, sql_paths: seedEnabled ? seedPaths.map(inDir) : [] },
    },
    functions,
    raw,
  };
}

/** Typed lookups by key path, with errors that name the file and the setting. */
class Reader {
  constructor(private readonly raw: TomlTable, private readonly path: string) {}

  private get(keys: string[]): TomlValue | undefined {
    let value: TomlValue | undefined = this.raw;
    for (const key of keys) {
      if (!isTable(value) || !Object.hasOwn(value, key)) return undefined;
      value = value[key];
    }
    return value;
  }

  private typeError(keys: string[], expected: string, value: TomlValue): never {
    const got = Array.isArray(value)
      ? "an array"
      : isTable(value)
      ? "a table"
      : `${typeof value} ${JSON.stringify(value)}`;
    throw new Error(`${this.path}: ${keys.join(".")} must be ${expected}, got ${got}`);
  }

  table(...keys: string[]): TomlTable | undefined {
    const value = this.get(keys);
    if (value === undefined) return undefined;
    return isTable(value) ? value : this.typeError(keys, "a table", value);
  }

  string(...keys: string[]): string | undefined {
    const value = this.get(keys);
    if (value === undefined) return undefined;
    return typeof value === "string" ? value : this.typeError(keys, "a string", value);
  }

  strings(...keys: string[]): string[] | undefined {
    const value = this.get(keys);
    if (value === undefined) return undefined;
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value as string[];
    return this.typeError(keys, "an array of strings", value);
  }

  boolean(...keys: string[]): boolean | undefined {
    const value = this.get(keys);
    if (value === undefined) return undefined;
    return typeof value === "boolean" ? value : this.typeError(keys, "true or false", value);
  }

  integer(...keys: string[]): number | undefined {
    const value = this.get(keys);
    if (value === undefined) return undefined;
    return typeof value === "number" && Number.isInteger(value)
      ? value
      : this.typeError(keys, "an integer", value);
  }

  port(...keys: string[]): number | undefined {
    const value = this.integer(...keys);
    if (value !== undefined && (value < 1 || value > 65535)) {
      throw new Error(`${this.path}: ${keys.join(".")} must be a port between 1 and 65535, got ${value}`);
    }
    return value;
  }
}
