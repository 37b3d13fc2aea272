/**
 * Helpers for the users / Sendry / messages integration tests: loopback fake services, Vault secrets
 * and polling.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type postgres from "postgres";
import type { Database } from "../../supabase/functions/_shared/database.types.ts";
import { isRemote, type TestStack } from "../_support/stack.ts";

/** These tests start loopback fakes the stack must reach, so they only run on the local stack. */
export const localOnly = { ignore: isRemote, sanitizeOps: true, sanitizeResources: true };

/** supabase-js with the given key and no session handling. */
export function client(stack: TestStack, key: string): SupabaseClient<Database> {
  return createClient<Database>(stack.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  /** Changes how the next requests are answered. */
  respond: (handler: (req: RecordedRequest) => Response | Promise<Response>) => void;
  close(): Promise<void>;
}

/** A loopback HTTP server that records every request and answers with the current handler. */
export function fakeServer(handler: (req: RecordedRequest) => Response | Promise<Response>): FakeServer {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const text = await req.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    const recorded = {
      method: req.method,
      path: new URL(req.url).pathname,
      headers: req.headers,
      text,
      json,
    };
    requests.push(recorded);
    return await current(recorded);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    respond: (next) => (current = next),
    close: () => server.shutdown(),
  };
}

/** Creates or replaces a Vault secret; returns its id. */
export async function setSecret(sql: postgres.Sql, name: string, value: string): Promise<string> {
  const [existing] = await sql`select id from vault.secrets where name = ${name}`;
  if (existing) {
    await sql`select vault.update_secret(${existing.id}, ${value})`;
    return existing.id as string;
  }
  const [row] = await sql`select vault.create_secret(${value}, ${name}) as id`;
  return row.id as string;
}

export { waitFor } from "../_support/wait.ts";

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
