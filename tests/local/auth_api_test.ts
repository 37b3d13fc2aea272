/**
 * The local Auth (GoTrue) stand-in under `/auth/v1`, driven by real supabase-js and by raw HTTP where
 * the exact body or status matters.
 */
import assert from "node:assert/strict";
import { AuthWeakPasswordError, createClient, type SupabaseClient } from "@supabase/supabase-js";
import { createAuthHandler } from "../../local/gateway/auth.ts";
import { createRestHandler } from "../../local/gateway/rest.ts";
import { verifyJwt } from "../../local/jwt.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../../local/keys.ts";
import { createTestDatabase, type TestDatabase } from "../_support/db.ts";

const PASSWORD = "correct horse battery";

interface Api {
  db: TestDatabase;
  url: string;
  anonKey: string;
  serviceRoleKey: string;
  // deno-lint-ignore no-explicit-any
  client(key?: string): SupabaseClient<any, any, any>;
  /** Raw request with the anon key as apikey. */
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

async function withApi(fn: (api: Api) => Promise<void>, jwtExpirySeconds?: number): Promise<void> {
  const db = await createTestDatabase();
  const apiKeys = await localApiKeys(LOCAL_JWT_SECRET);
  const options = { sql: db.sql, jwtSecret: LOCAL_JWT_SECRET, apiKeys, log: () => {} };
  const auth = createAuthHandler({ ...options, jwtExpirySeconds });
  const rest = createRestHandler(options);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const match = /^\/(rest|auth)\/v1(\/.*)?$/.exec(new URL(req.url).pathname);
    if (!match) return Response.json({ message: "no route" }, { status: 404 });
    return (match[1] === "rest" ? rest : auth)(req, match[2] ?? "/");
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const api: Api = {
    db,
    url,
    ...apiKeys,
    client: (key = apiKeys.anonKey) =>
      createClient(url, key, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      }),
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("apikey")) headers.set("apikey", apiKeys.anonKey);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    close: async () => {
      await server.shutdown();
      await db.close();
    },
  };
  try {
    await fn(api);
  } finally {
    await api.close();
  }
}

Deno.test("auth: signUp autoconfirms and returns GoTrue's session and user", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const { data, error } = await supabase.auth.signUp({
      email: "Ada@Example.com",
      password: PASSWORD,
      options: { data: { full_name: "Ada Lovelace" } },
    });
    assert.equal(error, null);
    const { user, session } = data;
    assert.ok(user && session);
    assert.equal(user.email, "ada@example.com");
    assert.equal(user.aud, "authenticated");
    assert.equal(user.role, "authenticated");
    assert.ok(user.email_confirmed_at && user.last_sign_in_at && user.created_at);
    assert.deepEqual(user.app_metadata, { provider: "email", providers: ["email"] });
    assert.deepEqual(user.user_metadata, { full_name: "Ada Lovelace", email_verified: true });
    assert.equal(user.identities?.length, 1);
    assert.equal(user.identities![0].provider, "email");
    assert.equal(user.identities![0].identity_data?.sub, user.id);
    assert.equal(user.is_anonymous, false);

    assert.equal(session.token_type, "bearer");
    assert.equal(session.expires_in, 3600);
    assert.ok(session.refresh_token.length >= 16);
    const claims = await verifyJwt(session.access_token, LOCAL_JWT_SECRET);
    assert.equal(claims.sub, user.id);
    assert.equal(claims.role, "authenticated");
    assert.equal(claims.aud, "authenticated");
    assert.equal(claims.email, "ada@example.com");
    assert.equal(claims.iss, `${api.url}/auth/v1`);
    assert.equal(claims.is_anonymous, false);
    assert.equal(typeof claims.session_id, "string");
    assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    assert.deepEqual(claims.user_metadata, user.user_metadata);

    // The row is what GoTrue writes.
    const [row] = await api.db.sql`
      select instance_id, aud, role, encrypted_password,
        encrypted_password = extensions.crypt(${PASSWORD}, encrypted_password) as password_matches,
        raw_app_meta_data, raw_user_meta_data, email_confirmed_at is not null as confirmed,
        last_sign_in_at is not null as signed_in, created_at is not null and updated_at is not null as stamped
      from auth.users where id = ${user.id}`;
    assert.equal(row.instance_id, "00000000-0000-0000-0000-000000000000");
    assert.deepEqual([row.aud, row.role], ["authenticated", "authenticated"]);
    assert.match(row.encrypted_password, /^\$2a\$10\$/);
    assert.equal(row.password_matches, true);
    assert.deepEqual(row.raw_app_meta_data, { provider: "email", providers: ["email"] });
    assert.deepEqual([row.confirmed, row.signed_in, row.stamped], [true, true, true]);
    const [identity] = await api.db
      .sql`select provider, provider_id, email from auth.identities where user_id = ${user.id}`;
    assert.deepEqual({ ...identity }, { provider: "email", provider_id: user.id, email: "ada@example.com" });
  }));

Deno.test("auth: triggers on auth.users see GoTrue's role and statement sequence", () =>
  withApi(async (api) => {
    await api.db.sql.unsafe(`
      create table public.seen (who text, confirmed boolean, meta jsonb);
      grant insert on public.seen to supabase_auth_admin;
      create function public.record_new_user() returns trigger language plpgsql as $$
      begin
        insert into public.seen values (current_user, new.email_confirmed_at is not null, new.raw_user_meta_data);
        return new;
      end $$;
      create trigger on_auth_user_created after insert on auth.users
        for each row execute function public.record_new_user();
    `);
    const { error } = await api.client().auth.signUp({
      email: "grace@example.com",
      password: PASSWORD,
      options: { data: { plan: "pro" } },
    });
    assert.equal(error, null);
    const seen = await api.db.sql`select who, confirmed, meta from public.seen`;
    assert.deepEqual(seen.map((r) => ({ ...r })), [{
      who: "supabase_auth_admin",
      confirmed: false,
      meta: { plan: "pro" },
    }]);
  }));

Deno.test("auth: GoTrue's statements run with search_path auth, so names in triggers need their schema", () =>
  withApi(async (api) => {
    await api.db.sql.unsafe(`
      create table public.seen (search_path text);
      grant insert on public.seen to supabase_auth_admin;
      create function public.record_search_path() returns trigger language plpgsql as $$
      begin
        insert into public.seen values (current_setting('search_path'));
        return new;
      end $$;
      create trigger record_search_path after insert on auth.users
        for each row execute function public.record_search_path();
    `);
    const ada = await api.client().auth.signUp({ email: "ada@example.com", password: PASSWORD });
    assert.equal(ada.error, null);
    const seen = await api.db.sql`select search_path from public.seen`;
    assert.deepEqual(seen.map((r) => r.search_path), ["auth"]);

    // An unqualified name does not resolve in schema auth: the signup fails, as on Supabase.
    await api.db.sql.unsafe(`
      create function public.unqualified() returns trigger language plpgsql as $$
      begin
        insert into seen values ('unqualified');
        return new;
      end $$;
      create trigger unqualified after insert on auth.users
        for each row execute function public.unqualified();
    `);
    const bob = await api.client().auth.signUp({ email: "bob@example.com", password: PASSWORD });
    assert.equal(bob.error?.status, 500);
    assert.equal(bob.error?.message, "Database error saving new user");
  }));

Deno.test("auth: a failing trigger blocks signup with GoTrue's 500 and leaves no user", () =>
  withApi(async (api) => {
    await api.db.sql.unsafe(`
      create function public.explode() returns trigger language plpgsql as $$
      begin raise exception 'backend unreachable'; end $$;
      create trigger explode after insert on auth.users for each row execute function public.explode();
    `);
    const { data, error } = await api.client().auth.signUp({ email: "x@example.com", password: PASSWORD });
    assert.equal(data.user, null);
    assert.equal(error?.status, 500);
    assert.equal(error?.message, "Database error saving new user");
    const [{ count }] = await api.db.sql`select count(*)::int as count from auth.users`;
    assert.equal(count, 0);
  }));

Deno.test("auth: duplicate email, weak password and bad email are refused like GoTrue", () =>
  withApi(async (api) => {
    const supabase = api.client();
    assert.equal((await supabase.auth.signUp({ email: "ada@example.com", password: PASSWORD })).error, null);
    const duplicate = await supabase.auth.signUp({ email: "ADA@example.com", password: PASSWORD });
    assert.equal(duplicate.error?.status, 422);
    assert.equal(duplicate.error?.code, "user_already_exists");
    assert.equal(duplicate.error?.message, "User already registered");

    const weak = await supabase.auth.signUp({ email: "bob@example.com", password: "123" });
    assert.ok(weak.error instanceof AuthWeakPasswordError);
    assert.equal(weak.error.status, 422);
    assert.deepEqual(weak.error.reasons, ["length"]);

    const badEmail = await supabase.auth.signUp({ email: "not-an-email", password: PASSWORD });
    assert.equal(badEmail.error?.status, 400);
    assert.equal(badEmail.error?.code, "validation_failed");
    assert.equal(badEmail.error?.message, "Unable to validate email address: invalid format");

    const [{ count }] = await api.db.sql`select count(*)::int as count from auth.users`;
    assert.equal(count, 1);
  }));

Deno.test("auth: signInWithPassword issues a session; wrong credentials get invalid_credentials", () =>
  withApi(async (api) => {
    await api.client().auth.signUp({ email: "ada@example.com", password: PASSWORD });

    const supabase = api.client();
    const ok = await supabase.auth.signInWithPassword({ email: "ada@example.com", password: PASSWORD });
    assert.equal(ok.error, null);
    assert.equal(ok.data.user?.email, "ada@example.com");
    assert.equal((await verifyJwt(ok.data.session!.access_token, LOCAL_JWT_SECRET)).sub, ok.data.user?.id);

    for (
      const [email, password] of [["ada@example.com", "wrong password"], ["nobody@example.com", PASSWORD]]
    ) {
      const bad = await supabase.auth.signInWithPassword({ email, password });
      assert.equal(bad.error?.status, 400);
      assert.equal(bad.error?.code, "invalid_credentials");
      assert.equal(bad.error?.message, "Invalid login credentials");
      assert.equal(bad.data.session, null);
    }

    // The body depends on the API version the client asks for, as in GoTrue.
    const attempt = (headers: Record<string, string>) =>
      api.request("/auth/v1/token?grant_type=password", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ email: "ada@example.com", password: "wrong password" }),
      });
    const legacy = await attempt({});
    assert.equal(legacy.status, 400);
    assert.deepEqual(await legacy.json(), {
      code: 400,
      error_code: "invalid_credentials",
      msg: "Invalid login credentials",
    });
    const versioned = await attempt({ "x-supabase-api-version": "2024-01-01" });
    assert.equal(versioned.headers.get("x-supabase-api-version"), "2024-01-01");
    assert.deepEqual(await versioned.json(), {
      code: "invalid_credentials",
      message: "Invalid login credentials",
    });
  }));

Deno.test("auth: getUser needs a valid access token of an existing user", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const { data } = await supabase.auth.signUp({ email: "ada@example.com", password: PASSWORD });
    const got = await supabase.auth.getUser();
    assert.equal(got.error, null);
    assert.equal(got.data.user?.id, data.user?.id);
    assert.deepEqual(got.data.user?.user_metadata, { email_verified: true });

    const forged = await supabase.auth.getUser("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl");
    assert.equal(forged.error?.status, 403);
    assert.equal(forged.error?.code, "bad_jwt");

    const anonKeyAsToken = await supabase.auth.getUser(api.anonKey);
    assert.equal(anonKeyAsToken.error?.status, 403);
    assert.equal(anonKeyAsToken.error?.message, "invalid claim: missing sub claim");

    const noBearer = await api.request("/auth/v1/user", {
      headers: { "x-supabase-api-version": "2024-01-01" },
    });
    assert.equal(noBearer.status, 401);
    assert.deepEqual(await noBearer.json(), {
      code: "no_authorization",
      message: "This endpoint requires a valid Bearer token",
    });
  }));

Deno.test("auth: admin.createUser needs the service role and writes the user as asked", () =>
  withApi(async (api) => {
    const admin = api.client(api.serviceRoleKey).auth.admin;
    const created = await admin.createUser({
      email: "Carol@Example.com",
      password: PASSWORD,
      email_confirm: true,
      user_metadata: { team: "red" },
      app_metadata: { tier: "gold" },
    });
    assert.equal(created.error, null);
    const user = created.data.user!;
    assert.equal(user.email, "carol@example.com");
    assert.ok(user.email_confirmed_at);
    assert.equal(user.last_sign_in_at, undefined);
    assert.deepEqual(user.user_metadata, { team: "red", email_verified: true });
    assert.deepEqual(user.app_metadata, { provider: "email", providers: ["email"], tier: "gold" });
    assert.equal(
      (await api.client().auth.signInWithPassword({ email: "carol@example.com", password: PASSWORD })).error,
      null,
    );

    const unconfirmed = await admin.createUser({ email: "dan@example.com", password: PASSWORD });
    assert.equal(unconfirmed.data.user?.email_confirmed_at, undefined);
    const notConfirmed = await api.client().auth.signInWithPassword({
      email: "dan@example.com",
      password: PASSWORD,
    });
    assert.equal(notConfirmed.error?.code, "email_not_confirmed");

    const duplicate = await admin.createUser({ email: "carol@example.com", password: PASSWORD });
    assert.equal(duplicate.error?.status, 422);
    assert.equal(duplicate.error?.code, "email_exists");

    const asAnon = await api.client().auth.admin.createUser({ email: "eve@example.com", password: PASSWORD });
    assert.equal(asAnon.error?.status, 403);
    assert.equal(asAnon.error?.code, "not_admin");

    assert.equal((await admin.getUserById(user.id)).data.user?.email, "carol@example.com");
    assert.equal((await admin.deleteUser(user.id)).error, null);
    assert.equal((await admin.getUserById(user.id)).error?.status, 404);
  }));

Deno.test("auth: refreshSession rotates the refresh token and signOut ends the session", () =>
  withApi(async (api) => {
    const supabase = api.client();
    const { data } = await supabase.auth.signUp({ email: "ada@example.com", password: PASSWORD });
    const first = data.session!;

    const refreshed = await supabase.auth.refreshSession();
    assert.equal(refreshed.error, null);
    assert.notEqual(refreshed.data.session?.refresh_token, first.refresh_token);
    const [before, after] = await Promise.all([
      verifyJwt(first.access_token, LOCAL_JWT_SECRET),
      verifyJwt(refreshed.data.session!.access_token, LOCAL_JWT_SECRET),
    ]);
    assert.equal(after.session_id, before.session_id);

    const reused = await api.client().auth.refreshSession({ refresh_token: first.refresh_token });
    assert.equal(reused.error?.code, "refresh_token_already_used");

    assert.equal((await supabase.auth.signOut()).error, null);
    // session_not_found, which supabase-js reports as a missing session.
    const stale = await api.client().auth.getUser(first.access_token);
    assert.equal(stale.error?.name, "AuthSessionMissingError");
    const raw = await api.request("/auth/v1/user", {
      headers: { authorization: `Bearer ${first.access_token}` },
    });
    assert.equal(raw.status, 403);
    assert.equal((await raw.json()).error_code, "session_not_found");
    const again = await api.client().auth.refreshSession({
      refresh_token: refreshed.data.session!.refresh_token,
    });
    assert.equal(again.error?.code, "refresh_token_not_found");
  }));

Deno.test("auth: access tokens expire after jwtExpirySeconds", () =>
  withApi(async (api) => {
    const { data } = await api.client().auth.signUp({ email: "ada@example.com", password: PASSWORD });
    assert.equal(data.session?.expires_in, 120);
    const claims = await verifyJwt(data.session!.access_token, LOCAL_JWT_SECRET);
    assert.equal((claims.exp as number) - (claims.iat as number), 120);
  }, 120));

Deno.test("auth: requests without a valid apikey are refused like Supabase's gateway", () =>
  withApi(async (api) => {
    const res = await fetch(`${api.url}/auth/v1/signup`, {
      method: "POST",
      body: JSON.stringify({ email: "ada@example.com", password: PASSWORD }),
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).message, "No API key found in request");
    const [{ count }] = await api.db.sql`select count(*)::int as count from auth.users`;
    assert.equal(count, 0);
  }));
