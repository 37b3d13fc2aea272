/**
 * The local PostgREST stand-in (`/rest/v1/rpc/*`), driven by real supabase-js and by raw HTTP where
 * the exact status, headers or body matter.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { join } from "node:path";
import { createAuthHandler } from "../../local/gateway/auth.ts";
import { startGateway } from "../../local/gateway/server.ts";
import { createRestHandler, type RestHandlerOptions } from "../../local/gateway/rest.ts";
import { signJwt } from "../../local/jwt.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../../local/keys.ts";
import { createTestDatabase, type TestDatabase } from "../_support/db.ts";

const FIXTURES = `
grant usage on schema public to anon, authenticated, service_role;

create type public.pair as (left_value integer, right_value text);

create function public.add(a integer, b integer default 10) returns integer
  language sql immutable as $$ select a + b $$;
create function public.echo_types(t text, n numeric, u uuid, j jsonb, ints integer[], day date,
  flag boolean default false) returns jsonb
  language sql immutable as $$
    select jsonb_build_object('t', t, 'n', n, 'u', u, 'j', j, 'ints', ints, 'day', day, 'flag', flag,
      'types', jsonb_build_array(pg_typeof(n)::text, pg_typeof(u)::text, pg_typeof(ints)::text))
  $$;
create function public.whole_body(jsonb) returns jsonb language sql immutable as $$ select $1 $$;
create function public.make_pair(n integer) returns public.pair
  language sql immutable as $$ select n, 'n=' || n $$;
create function public.series(n integer) returns setof integer
  language sql immutable as $$ select generate_series(1, n) $$;
create function public.pairs(n integer) returns setof public.pair
  language sql immutable as $$ select i, 'n=' || i from generate_series(1, n) i $$;
create function public.numbered(n integer) returns table (idx integer, label text)
  language sql immutable as $$ select i, 'item ' || i from generate_series(1, n) i $$;
create function public.no_args() returns text language sql immutable as $$ select 'hello' $$;
create function public.do_nothing() returns void language sql as $$ $$;
create function public.overloaded(a integer) returns text language sql as $$ select 'integer ' || a $$;
create function public.overloaded(b text) returns text language sql as $$ select 'text ' || b $$;
create function public.ambiguous(a integer) returns text language sql as $$ select 'integer' $$;
create function public.ambiguous(a text) returns text language sql as $$ select 'text' $$;

create function public.fail(msg text) returns void language plpgsql as $$
begin
  raise exception '%', msg using detail = 'the detail', hint = 'the hint';
end $$;
create function public.pay_first() returns void language plpgsql as $$
begin
  raise sqlstate 'PT402' using message = 'Payment required';
end $$;
create function public.teapot() returns void language plpgsql as $$
begin
  raise sqlstate 'PGRST' using
    message = '{"code":"TEA01","message":"I am a teapot","details":"short and stout","hint":"tip me over"}',
    detail = '{"status":418,"headers":{"X-Teapot":"yes"}}';
end $$;
create function public.odd_status() returns void language plpgsql as $$
begin
  raise sqlstate 'PTABC' using message = 'PT and no number';
end $$;
create function public.created_with_header() returns integer language plpgsql as $$
begin
  perform set_config('response.status', '201', true);
  perform set_config('response.headers', '[{"X-Custom":"custom value"}]', true);
  return 1;
end $$;

create table public.handles (handle text primary key);
grant insert on public.handles to anon, authenticated;
create function public.claim_handle(handle text) returns void language sql as $$
  insert into public.handles values (handle)
$$;

create function public.whoami() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'current_user', current_user, 'role', auth.role(), 'uid', auth.uid(), 'email', auth.email(),
    'claims_role', auth.jwt() ->> 'role', 'method', current_setting('request.method'),
    'path', current_setting('request.path'),
    'header', current_setting('request.headers')::json ->> 'x-test-header',
    'cookie_header', current_setting('request.headers')::json ->> 'cookie',
    'cookie', current_setting('request.cookies')::json ->> 'session',
    'search_path', current_setting('search_path'))
$$;

create function public.service_only() returns text language sql as $$ select 'secret' $$;
create function public.timeouts() returns jsonb language sql stable as $$
  select jsonb_build_object('statement', current_setting('statement_timeout'),
    'lock', current_setting('lock_timeout'))
$$;
create function public.nap() returns void language sql as $$ select pg_sleep(1) $$;

create table public.writes (n integer);
grant select, insert on public.writes to anon, authenticated;
create function public.write_row() returns integer language sql as $$
  insert into public.writes values (1) returning n
$$;
-- Stable, yet it writes through a volatile function, which PostgreSQL allows.
create function public.stable_writer() returns integer language plpgsql stable as $$
begin
  return public.write_row();
end $$;

create table public.notes (
  id bigint generated always as identity primary key,
  owner uuid not null default auth.uid(),
  body text not null
);
alter table public.notes enable row level security;
create policy notes_select on public.notes for select to authenticated using (owner = auth.uid());
create policy notes_insert on public.notes for insert to authenticated with check (owner = auth.uid());
grant select, insert on public.notes to authenticated;
create function public.add_note(body text) returns public.notes language sql as $$
  insert into public.notes (body) values (body) returning *
$$;
create function public.add_note_for(owner uuid, body text) returns public.notes language sql as $$
  insert into public.notes (owner, body) values (owner, body) returning *
$$;
create function public.my_notes() returns setof public.notes language sql stable security invoker as $$
  select * from public.notes order by id
$$;

-- As on Supabase since 2026-10-30: nothing is executable by the API roles unless granted.
revoke execute on all functions in schema public from public, anon, authenticated, service_role;
grant execute on all functions in schema public to anon, authenticated, service_role;
revoke execute on function public.service_only() from anon, authenticated;
`;

interface Api {
  db: TestDatabase;
  url: string;
  anonKey: string;
  serviceRoleKey: string;
  /** A supabase-js client; `accessToken` is sent as `Authorization: Bearer ...` instead of the key. */
  // deno-lint-ignore no-explicit-any
  client(options?: { key?: string; accessToken?: string; schema?: string }): SupabaseClient<any, any, any>;
  /** Raw request to the gateway, with the anon key as apikey unless `apikey` is given (null: none). */
  request(path: string, init?: RequestInit & { apikey?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

async function startApi(restOptions: Partial<RestHandlerOptions> = {}): Promise<Api> {
  const db = await createTestDatabase();
  try {
    await db.sql.unsafe(FIXTURES);
  } catch (error) {
    await db.close();
    throw error;
  }
  const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
  const options = { sql: db.sql, jwtSecret: LOCAL_JWT_SECRET, apiKeys, log: () => {} };
  const rest = createRestHandler({ ...options, ...restOptions });
  const auth = createAuthHandler(options);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const match = /^\/(rest|auth)\/v1(\/.*)?$/.exec(new URL(req.url).pathname);
    if (!match) return Response.json({ message: "no route" }, { status: 404 });
    return (match[1] === "rest" ? rest : auth)(req, match[2] ?? "/");
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    db,
    url,
    ...apiKeys,
    client({ key = apiKeys.anonKey, accessToken, schema } = {}) {
      return createClient(url, key, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        global: { headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {} },
        ...(schema ? { db: { schema } } : {}),
      });
    },
    request(path, init = {}) {
      const { apikey = apiKeys.anonKey, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (apikey !== null) headers.set("apikey", apikey);
      return fetch(`${url}${path}`, { ...rest, headers });
    },
    async close() {
      await server.shutdown();
      await db.close();
    },
  };
}

async function withApi(
  fn: (api: Api) => Promise<void>,
  restOptions: Partial<RestHandlerOptions> = {},
): Promise<void> {
  const api = await startApi(restOptions);
  try {
    await fn(api);
  } finally {
    await api.close();
  }
}

const now = () => Math.floor(Date.now() / 1000);

function userToken(sub: string, extra: Record<string, unknown> = {}, secret = LOCAL_JWT_SECRET) {
  return signJwt({ sub, role: "authenticated", aud: "authenticated", exp: now() + 600, ...extra }, secret);
}

Deno.test("rpc: arguments of each type reach the function with their declared types", () =>
  withApi(async (api) => {
    const supabase = api.client();
    assert.deepEqual(await supabase.rpc("add", { a: 2, b: 3 }).then((r) => [r.data, r.error]), [5, null]);
    // An omitted argument takes the function's default.
    assert.equal((await supabase.rpc("add", { a: 2 })).data, 12);

    const uuid = crypto.randomUUID();
    const { data, error } = await supabase.rpc("echo_types", {
      t: "text with 'quotes' and ünïcode",
      n: "12345678901234567890.123456789",
      u: uuid,
      j: { nested: { list: [1, "two", null] } },
      ints: [3, 1, 2],
      day: "2024-02-29",
    });
    assert.equal(error, null);
    assert.deepEqual(data, {
      t: "text with 'quotes' and ünïcode",
      n: 12345678901234567890.123456789,
      u: uuid,
      j: { nested: { list: [1, "two", null] } },
      ints: [3, 1, 2],
      day: "2024-02-29",
      flag: false,
      types: ["numeric", "uuid", "integer[]"],
    });

    // A single unnamed jsonb parameter receives the whole body.
    const body = { anything: [1, { deep: true }], other: "x" };
    assert.deepEqual((await supabase.rpc("whole_body", body)).data, body);

    // GET passes arguments as query parameters; PostgREST's array syntax becomes integer[].
    const viaGet = await supabase.rpc("echo_types", {
      t: "get",
      n: 1.5,
      u: uuid,
      j: "7",
      ints: [4, 5],
      day: "2024-01-01",
      flag: true,
    }, { get: true });
    assert.equal(viaGet.error, null);
    assert.deepEqual(viaGet.data.ints, [4, 5]);
    assert.equal(viaGet.data.flag, true);
    assert.equal((await supabase.rpc("add", { a: 1 }, { get: true })).data, 11);
  }));

Deno.test("rpc: overloads are chosen by argument names", () =>
  withApi(async (api) => {
    const supabase = api.client();
    assert.equal((await supabase.rpc("overloaded", { a: 7 })).data, "integer 7");
    assert.equal((await supabase.rpc("overloaded", { b: "x" })).data, "text x");
    const { error, status } = await supabase.rpc("ambiguous", { a: 1 });
    assert.equal(status, 300);
    assert.equal(error?.code, "PGRST203");
    assert.match(error!.message, /public\.ambiguous\(a => integer\)/);
    assert.match(error!.message, /public\.ambiguous\(a => text\)/);
  }));

Deno.test("rpc: result shapes follow PostgREST (scalar, composite, setof, table, void)", () =>
  withApi(async (api) => {
    const supabase = api.client();
    assert.equal((await supabase.rpc("no_args")).data, "hello");
    assert.deepEqual((await supabase.rpc("make_pair", { n: 3 })).data, { left_value: 3, right_value: "n=3" });
    assert.deepEqual((await supabase.rpc("series", { n: 3 })).data, [1, 2, 3]);
    assert.deepEqual((await supabase.rpc("series", { n: 0 })).data, []);
    assert.deepEqual((await supabase.rpc("pairs", { n: 2 })).data, [
      { left_value: 1, right_value: "n=1" },
      { left_value: 2, right_value: "n=2" },
    ]);
    assert.deepEqual((await supabase.rpc("numbered", { n: 2 })).data, [
      { idx: 1, label: "item 1" },
      { idx: 2, label: "item 2" },
    ]);

    const nothing = await supabase.rpc("do_nothing");
    assert.deepEqual([nothing.status, nothing.data, nothing.error], [204, null, null]);
    const raw = await api.request("/rest/v1/rpc/do_nothing", { method: "POST", body: "{}" });
    assert.equal(raw.status, 204);
    assert.equal(raw.headers.get("content-type"), null);
    assert.equal(await raw.text(), "");

    const scalar = await api.request("/rest/v1/rpc/add", { method: "POST", body: '{"a": 1}' });
    assert.equal(scalar.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(scalar.headers.get("content-range"), "0-0/*");
    assert.equal(await scalar.text(), "11");
  }));

Deno.test("rpc: count, head and single options of supabase-js", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const counted = await supabase.rpc("series", { n: 4 }, { count: "exact" });
    assert.deepEqual([counted.data, counted.count], [[1, 2, 3, 4], 4]);
    const head = await supabase.rpc("series", { n: 5 }, { head: true, count: "exact" });
    assert.deepEqual([head.status, head.data, head.count, head.error], [200, null, 5, null]);

    assert.deepEqual((await supabase.rpc("pairs", { n: 1 }).single()).data, {
      left_value: 1,
      right_value: "n=1",
    });
    const many = await supabase.rpc("pairs", { n: 2 }).single();
    assert.equal(many.status, 406);
    assert.equal(many.error?.code, "PGRST116");
    assert.equal(many.error?.details, "The result contains 2 rows");
    assert.equal((await supabase.rpc("series", { n: 1 }).maybeSingle()).data, 1);
  }));

Deno.test("rpc: database errors keep PostgREST's JSON and status codes", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const raised = await supabase.rpc("fail", { msg: "Nope, not today" });
    assert.equal(raised.status, 400);
    assert.deepEqual(raised.error, {
      code: "P0001",
      message: "Nope, not today",
      details: "the detail",
      hint: "the hint",
    });

    assert.equal((await supabase.rpc("pay_first")).status, 402);
    // PT followed by something that is not a number is a server error, not a client one.
    const odd = await supabase.rpc("odd_status");
    assert.deepEqual([odd.status, odd.error?.code, odd.error?.message], [500, "PTABC", "PT and no number"]);

    const teapot = await api.request("/rest/v1/rpc/teapot", { method: "POST", body: "{}" });
    assert.equal(teapot.status, 418);
    assert.equal(teapot.headers.get("x-teapot"), "yes");
    assert.deepEqual(await teapot.json(), {
      code: "TEA01",
      message: "I am a teapot",
      details: "short and stout",
      hint: "tip me over",
    });

    assert.equal((await supabase.rpc("claim_handle", { handle: "ada" })).status, 204);
    const duplicate = await supabase.rpc("claim_handle", { handle: "ada" });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.error?.code, "23505");
    assert.equal(duplicate.error?.message, 'duplicate key value violates unique constraint "handles_pkey"');

    const badInteger = await supabase.rpc("add", { a: "one" });
    assert.equal(badInteger.status, 400);
    assert.equal(badInteger.error?.code, "22P02");

    const created = await api.request("/rest/v1/rpc/created_with_header", { method: "POST", body: "{}" });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get("x-custom"), "custom value");
    assert.equal(await created.text(), "1");
  }));

Deno.test("rpc: unknown functions and bad requests get PostgREST's errors", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const unknown = await supabase.rpc("seriess", { n: 1 });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.error, {
      code: "PGRST202",
      message: "Could not find the function public.seriess(n) in the schema cache",
      details:
        "Searched for the function public.seriess with parameter n or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
      hint: "Perhaps you meant to call the function public.series",
    });

    const wrongArgs = await supabase.rpc("add", { x: 1, y: 2 });
    assert.equal(wrongArgs.status, 404);
    assert.equal(
      wrongArgs.error?.message,
      "Could not find the function public.add(x, y) in the schema cache",
    );
    assert.equal(wrongArgs.error?.hint, "Perhaps you meant to call the function public.add(a, b)");

    const missingRequired = await supabase.rpc("add", { b: 1 });
    assert.equal(missingRequired.error?.code, "PGRST202");

    const malformed = await api.request("/rest/v1/rpc/add", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"a": 1,',
    });
    assert.equal(malformed.status, 400);
    assert.deepEqual(await malformed.json(), {
      code: "PGRST102",
      message: "Empty or invalid json",
      details: null,
      hint: null,
    });

    const otherSchema = await api.client({ schema: "private" }).rpc("add", { a: 1 });
    assert.equal(otherSchema.status, 406);
    assert.equal(otherSchema.error?.code, "PGRST106");
    assert.equal(otherSchema.error?.hint, "Only the following schemas are exposed: public");

    const put = await api.request("/rest/v1/rpc/add", { method: "PUT", body: "{}" });
    assert.equal(put.status, 405);
    assert.equal((await put.json()).code, "PGRST101");

    const filtered = await supabase.rpc("series", { n: 3 }).gt("series", 1);
    assert.equal(filtered.status, 400);
    assert.equal(filtered.error?.code, "PGRST127");

    // GET runs in a read-only transaction, as in PostgREST.
    const readOnly = await supabase.rpc("claim_handle", { handle: "grace" }, { get: true });
    assert.equal(readOnly.status, 405);
    assert.equal(readOnly.error?.code, "25006");
  }));

Deno.test("rpc: the request runs as the JWT's role with PostgREST's request settings", () =>
  withApi(async (api) => {
    const asAnon = await api.client().rpc("whoami");
    assert.equal(asAnon.error, null);
    assert.equal(asAnon.data.current_user, "anon");
    assert.equal(asAnon.data.role, "anon");
    assert.equal(asAnon.data.uid, null);
    assert.equal(asAnon.data.method, "POST");
    assert.equal(asAnon.data.path, "/rpc/whoami");
    assert.equal(asAnon.data.search_path, '"public", "public", "extensions"');

    const asService = await api.client({ key: api.serviceRoleKey }).rpc("whoami");
    assert.equal(asService.data.current_user, "service_role");

    const sub = crypto.randomUUID();
    const token = await userToken(sub, { email: "ada@example.com" });
    const asUser = await api.client({ accessToken: token }).rpc("whoami", {}, { get: true });
    assert.equal(asUser.data.current_user, "authenticated");
    assert.equal(asUser.data.uid, sub);
    assert.equal(asUser.data.email, "ada@example.com");
    assert.equal(asUser.data.method, "GET");

    const withHeader = await api.request("/rest/v1/rpc/whoami", {
      method: "POST",
      headers: { "x-test-header": "visible", "content-type": "application/json", cookie: "session=abc" },
      body: "{}",
    });
    const seen = await withHeader.json();
    assert.equal(seen.header, "visible");
    // Cookies go into request.cookies only, never into request.headers.
    assert.deepEqual([seen.cookie, seen.cookie_header], ["abc", null]);
  }));

Deno.test("rpc: execute privileges give 401 to anon and 403 to signed-in users", () =>
  withApi(async (api) => {
    const asAnon = await api.client().rpc("service_only");
    assert.equal(asAnon.status, 401);
    assert.equal(asAnon.error?.code, "42501");
    assert.equal(asAnon.error?.message, "permission denied for function service_only");

    const asUser = await api.client({ accessToken: await userToken(crypto.randomUUID()) }).rpc(
      "service_only",
    );
    assert.equal(asUser.status, 403);
    assert.equal(asUser.error?.code, "42501");

    assert.equal((await api.client({ key: api.serviceRoleKey }).rpc("service_only")).data, "secret");
  }));

Deno.test("rpc: RLS applies per signed-in user through a security invoker function", () =>
  withApi(async (api) => {
    const signIn = async (email: string) => {
      const supabase = api.client();
      const { error } = await supabase.auth.signUp({ email, password: "correct horse battery" });
      assert.equal(error, null);
      return supabase;
    };
    const ada = await signIn("ada@example.com");
    const bob = await signIn("bob@example.com");

    const adaNote = await ada.rpc("add_note", { body: "ada's note" });
    assert.equal(adaNote.error, null);
    assert.equal(adaNote.data.owner, (await ada.auth.getUser()).data.user?.id);
    await bob.rpc("add_note", { body: "bob's first" });
    await bob.rpc("add_note", { body: "bob's second" });

    assert.deepEqual((await ada.rpc("my_notes")).data.map((n: { body: string }) => n.body), ["ada's note"]);
    assert.deepEqual((await bob.rpc("my_notes")).data.map((n: { body: string }) => n.body), [
      "bob's first",
      "bob's second",
    ]);
    // anon has no grant on the table at all.
    assert.equal((await api.client().rpc("my_notes")).status, 401);
    // The insert policy's check runs too: bob cannot write a note owned by ada.
    const adaId = (await ada.auth.getUser()).data.user!.id;
    const forged = await bob.rpc("add_note_for", { owner: adaId, body: "forged" });
    assert.equal(forged.status, 403);
    assert.equal(forged.error?.code, "42501");
    assert.match(forged.error!.message, /violates row-level security policy/);
    const [{ count }] = await api.db.sql`select count(*)::int as count from public.notes`;
    assert.equal(count, 3);
  }));

Deno.test("rpc: bad, expired and wrongly signed JWTs are rejected with 401", () =>
  withApi(async (api) => {
    const call = (token: string) =>
      api.request("/rest/v1/rpc/no_args", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: "{}",
      });
    const cases: [string, string, string][] = [
      ["not-a-jwt", "PGRST301", "Expected 3 parts in JWT; got 1"],
      [await userToken(crypto.randomUUID(), { exp: now() - 3600 }), "PGRST303", "JWT expired"],
      [
        await userToken(crypto.randomUUID(), {}, "some-other-secret-with-at-least-32-chars"),
        "PGRST301",
        "JWT cryptographic operation failed",
      ],
    ];
    for (const [token, code, message] of cases) {
      const res = await call(token);
      assert.equal(res.status, 401, message);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
      assert.deepEqual(await res.json(), { code, message, details: null, hint: null });
    }
    const viaClient = await api.client({ accessToken: "not-a-jwt" }).rpc("no_args");
    assert.equal(viaClient.status, 401);
    assert.equal(viaClient.error?.code, "PGRST301");

    // A role that does not exist, or that the authenticator cannot switch to.
    const ghost = await call(await userToken(crypto.randomUUID(), { role: "ghost" }));
    assert.equal(ghost.status, 401);
    assert.equal((await ghost.json()).message, 'role "ghost" does not exist');
    const superuser = await call(await userToken(crypto.randomUUID(), { role: "postgres" }));
    assert.equal(superuser.status, 403);
    assert.equal((await superuser.json()).code, "42501");
  }));

Deno.test("rpc: requests without a valid apikey are refused like Supabase's gateway", () =>
  withApi(async (api) => {
    const missing = await api.request("/rest/v1/rpc/no_args", { method: "POST", body: "{}", apikey: null });
    assert.equal(missing.status, 401);
    assert.deepEqual(await missing.json(), {
      message: "No API key found in request",
      hint: "No `apikey` request header or url param was found.",
    });
    const wrong = await api.request("/rest/v1/rpc/no_args", { method: "POST", body: "{}", apikey: "nope" });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).message, "Invalid API key");
    const inQuery = await api.request(`/rest/v1/rpc/no_args?apikey=${api.anonKey}`, {
      method: "POST",
      body: "{}",
      apikey: null,
    });
    assert.equal(await inQuery.json(), "hello");
  }));

Deno.test("rpc: POST runs stable and immutable functions in a read-only transaction, as PostgREST does", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const volatile = await supabase.rpc("write_row");
    assert.deepEqual([volatile.status, volatile.data, volatile.error], [200, 1, null]);
    const stable = await supabase.rpc("stable_writer");
    assert.equal(stable.status, 405);
    assert.equal(stable.error?.code, "25006");
    assert.equal(stable.error?.message, "cannot execute INSERT in a read-only transaction");
    const [{ count }] = await api.db.sql`select count(*)::int as count from public.writes`;
    assert.equal(count, 1);
  }));

Deno.test("rpc: request.jwt.claims carries the role PostgREST switched to", () =>
  withApi(async (api) => {
    const sub = crypto.randomUUID();
    // A token without a role claim runs as anon, and PostgREST adds that role to the claims.
    const withoutRole = await signJwt({ sub, exp: now() + 600 }, LOCAL_JWT_SECRET);
    const asAnon = await api.client({ accessToken: withoutRole }).rpc("whoami");
    assert.equal(asAnon.error, null);
    assert.deepEqual(
      [asAnon.data.current_user, asAnon.data.role, asAnon.data.claims_role, asAnon.data.uid],
      ["anon", "anon", "anon", sub],
    );
    // A role claim that is not a string is taken as its JSON text, which names no role: not anon.
    const numericRole = await signJwt({ sub, role: 5, exp: now() + 600 }, LOCAL_JWT_SECRET);
    const refused = await api.client({ accessToken: numericRole }).rpc("whoami");
    assert.equal(refused.status, 401);
    assert.equal(refused.error?.message, 'role "5" does not exist');
  }));

Deno.test("rpc: maxRows caps what a function returns, like PostgREST's db-max-rows", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const capped = await api.request("/rest/v1/rpc/series", { method: "POST", body: '{"n": 5}' });
    assert.equal(capped.status, 200);
    assert.equal(capped.headers.get("content-range"), "0-2/*");
    assert.deepEqual(await capped.json(), [1, 2, 3]);
    // With a count the total is the whole result, and the response is partial.
    const counted = await supabase.rpc("series", { n: 5 }, { count: "exact" });
    assert.deepEqual([counted.status, counted.data, counted.count], [206, [1, 2, 3], 5]);
    const fits = await supabase.rpc("series", { n: 3 }, { count: "exact" });
    assert.deepEqual([fits.status, fits.data, fits.count], [200, [1, 2, 3], 3]);
    assert.equal((await supabase.rpc("add", { a: 1 })).data, 11);
  }, { maxRows: 3 }));

Deno.test("gateway: config.toml's [api] schemas, extra_search_path and max_rows reach the REST stand-in", async () => {
  const db = await createTestDatabase();
  const project = Deno.makeTempDirSync({ prefix: "api-config-" });
  try {
    await db.sql.unsafe(FIXTURES);
    await db.sql.unsafe(`
      create schema api_two;
      grant usage on schema api_two to anon;
      create function api_two.where_am_i() returns text language sql as $$ select current_setting('search_path') $$;
      grant execute on function api_two.where_am_i() to anon;
    `);
    Deno.mkdirSync(join(project, "supabase", "functions"), { recursive: true });
    Deno.writeTextFileSync(
      join(project, "supabase", "config.toml"),
      [
        'project_id = "api-config"',
        "[api]",
        'schemas = ["public", "api_two"]',
        'extra_search_path = ["extensions"]',
        "max_rows = 2",
      ].join("\n"),
    );
    const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
    const gateway = await startGateway({
      databaseUrl: db.url,
      jwtSecret: LOCAL_JWT_SECRET,
      apiKeys,
      functionsDir: join(project, "supabase", "functions"),
      configPath: join(project, "supabase", "config.toml"),
      port: 0,
    });
    try {
      const supabase = createClient(gateway.url, apiKeys.anonKey, { auth: { persistSession: false } });
      assert.deepEqual((await supabase.rpc("series", { n: 5 })).data, [1, 2]);
      const two = await supabase.schema("api_two").rpc("where_am_i");
      assert.deepEqual([two.error, two.data], [null, '"api_two", "extensions"']);
      const hidden = await supabase.schema("private").rpc("where_am_i");
      assert.equal(hidden.status, 406);
      assert.equal(hidden.error?.hint, "Only the following schemas are exposed: public, api_two");
    } finally {
      await gateway.close();
    }
  } finally {
    await db.close();
    Deno.removeSync(project, { recursive: true });
  }
});

Deno.test("rpc: the API roles' timeouts apply to each request, as PostgREST applies role settings", () =>
  withApi(async (api) => {
    // Supabase's: anon 3 s, authenticated 8 s, and PostgREST's own session (authenticator) 8 s.
    const asAnon = await api.client().rpc("timeouts");
    assert.deepEqual(asAnon.data, { statement: "3s", lock: "8s" });
    const asUser = await api.client({ accessToken: await userToken(crypto.randomUUID()) }).rpc("timeouts");
    assert.deepEqual(asUser.data, { statement: "8s", lock: "8s" });
    const asService = await api.client({ key: api.serviceRoleKey }).rpc("timeouts");
    assert.deepEqual(asService.data, { statement: "8s", lock: "8s" });

    // A statement that outlasts its role's timeout is cancelled.
    const role = `impatient_${crypto.randomUUID().replaceAll("-", "")}`;
    await api.db.sql.unsafe(`
      create role ${role} nologin;
      grant ${role} to authenticator;
      alter role ${role} set statement_timeout = '50ms';
      grant usage on schema public to ${role};
      grant execute on function public.nap() to ${role};
    `);
    try {
      const token = await userToken(crypto.randomUUID(), { role });
      const napped = await api.client({ accessToken: token }).rpc("nap");
      assert.equal(napped.status, 500);
      assert.equal(napped.error?.code, "57014");
      assert.equal(napped.error?.message, "canceling statement due to statement timeout");
    } finally {
      await api.db.sql.unsafe(`drop owned by ${role}; drop role ${role}`);
    }
  }));
