/**
 * handleNewUser's app through app.request(), with a fake backend (an injected fetch) and a fake
 * status recorder: the database-webhook path and the before_user_created Auth hook path.
 */
import assert from "node:assert/strict";
import { createApp, type HandleNewUserDeps } from "../../supabase/functions/handleNewUser/app.ts";
import { backendUser } from "../../supabase/functions/handleNewUser/backend.ts";
import { standardWebhookHeaders } from "../../supabase/functions/_shared/webhook_signature.ts";

const WEBHOOK_SECRET = "db-webhook-secret-for-tests";
const BACKEND_SECRET = "backend-api-key-for-tests";
const AUTH_HOOK_SECRET = `v1,whsec_${btoa("auth-hook-key-bytes-for-tests!!")}`;
const USER_ID = "5b0f3a52-7d3c-4a8e-9d55-0e2f4c1b9a77";

interface BackendCall {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

type BackendBehaviour = "ok" | "conflict" | "unavailable" | "refuse" | "hang" | "unreachable";

function harness(behaviour: BackendBehaviour = "ok", overrides: Partial<HandleNewUserDeps> = {}) {
  const calls: BackendCall[] = [];
  const recorded: Array<{ userId: string; status: string; error?: string }> = [];
  const logs: string[] = [];
  const fakeFetch: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    calls.push({ url: req.url, method: req.method, headers: req.headers, body: await req.json() });
    switch (behaviour) {
      case "ok":
        return Response.json({ id: USER_ID }, { status: 201 });
      case "conflict":
        return Response.json({ message: "exists" }, { status: 409 });
      case "unavailable":
        return new Response("down for maintenance", { status: 503 });
      case "refuse":
        return Response.json({ message: "email domain not allowed" }, { status: 422 });
      case "unreachable":
        throw new TypeError("error sending request: connection refused");
      case "hang":
        return await new Promise<Response>((_, reject) => {
          const signal = init?.signal;
          signal?.addEventListener("abort", () => reject(signal.reason));
        });
    }
  };
  const app = createApp({
    apiUrl: "http://backend.test/api/",
    backendSecret: BACKEND_SECRET,
    webhookSecret: WEBHOOK_SECRET,
    authHookSecret: AUTH_HOOK_SECRET,
    recordStatus: (userId, status, error) => {
      recorded.push({ userId, status, ...(error !== undefined ? { error } : {}) });
      return Promise.resolve();
    },
    backendTimeoutMs: 200,
    hookBackendTimeoutMs: 100,
    fetch: fakeFetch,
    log: (line) => logs.push(line),
    ...overrides,
  });
  return { app, calls, recorded, logs };
}

function dbPayload(record: Record<string, unknown> = {}) {
  return {
    type: "INSERT",
    table: "users",
    schema: "auth",
    record: {
      id: USER_ID,
      email: "ada@example.com",
      raw_user_meta_data: { first_name: " Ada ", last_name: "Lovelace", email_verified: true },
      created_at: "2026-11-25T10:00:00Z",
      ...record,
    },
    old_record: null,
  };
}

function fromDatabase(body: unknown, secret = WEBHOOK_SECRET): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

async function fromAuthHook(
  body: unknown,
  { secret = AUTH_HOOK_SECRET, timestamp = new Date() }: { secret?: string; timestamp?: Date } = {},
): Promise<RequestInit> {
  const text = JSON.stringify(body);
  const headers = await standardWebhookHeaders(secret, {
    id: `msg_${crypto.randomUUID()}`,
    timestamp,
    body: text,
  });
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: text };
}

function hookPayload(user: Record<string, unknown> = {}) {
  return {
    metadata: {
      uuid: crypto.randomUUID(),
      time: new Date().toISOString(),
      name: "before-user-created",
      ip_address: "127.0.0.1",
    },
    user: {
      id: USER_ID,
      aud: "authenticated",
      role: "",
      email: "grace@example.com",
      user_metadata: { given_name: "Grace", family_name: "Hopper" },
      app_metadata: { provider: "email" },
      ...user,
    },
  };
}

// --- database webhook ------------------------------------------------------------------------------

Deno.test("database webhook: the backend is called once with the key, idempotency key and body", async () => {
  const { app, calls, recorded } = harness("ok");
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    user_id: USER_ID,
    status: "provisioned",
    already_provisioned: false,
    status_recorded: true,
  });
  assert.equal(calls.length, 1);
  const [call] = calls;
  assert.equal(call.method, "POST");
  assert.equal(call.url, "http://backend.test/api/users");
  assert.equal(call.headers.get("x-api-key"), BACKEND_SECRET);
  assert.equal(call.headers.get("idempotency-key"), USER_ID);
  assert.equal(call.headers.get("content-type"), "application/json");
  assert.deepEqual(call.body, {
    id: USER_ID,
    email: "ada@example.com",
    first_name: "Ada",
    last_name: "Lovelace",
  });
  assert.deepEqual(recorded, [{ userId: USER_ID, status: "provisioned" }]);
});

Deno.test("database webhook: without names in the metadata only id and email are sent", async () => {
  const { app, calls } = harness("ok");
  const res = await app.request(
    "/handleNewUser",
    fromDatabase(dbPayload({ raw_user_meta_data: null, email: null })),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(calls[0].body, { id: USER_ID, email: null });
});

Deno.test("a handle_new_user_url with a trailing slash reaches the function, from the database and the hook", async () => {
  const { app, calls } = harness("ok");
  const fromTrigger = await app.request("/handleNewUser/", fromDatabase(dbPayload()));
  assert.equal(fromTrigger.status, 200);
  assert.equal((await fromTrigger.json()).status, "provisioned");
  const fromHook = await app.request("/handleNewUser/", await fromAuthHook(hookPayload()));
  assert.equal(fromHook.status, 200);
  assert.deepEqual(await fromHook.json(), {});
  assert.equal(calls.length, 2);
});

Deno.test("database webhook: a 409 from the backend means already provisioned, which is success", async () => {
  const { app, recorded } = harness("conflict");
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).already_provisioned, true);
  assert.deepEqual(recorded, [{ userId: USER_ID, status: "provisioned" }]);
});

Deno.test("database webhook: a backend 503 answers 500 backend_unavailable and records failed", async () => {
  const { app, recorded } = harness("unavailable");
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), {
    error: "backend_unavailable",
    message: `Provisioning user ${USER_ID} failed: the backend answered HTTP 503`,
  });
  assert.deepEqual(recorded, [{ userId: USER_ID, status: "failed", error: "the backend answered HTTP 503" }]);
});

Deno.test("database webhook: a backend that does not answer in time gives 500 after the timeout", async () => {
  const { app, recorded } = harness("hang");
  const started = performance.now();
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  const elapsed = performance.now() - started;
  assert.equal(res.status, 500);
  assert.match((await res.json()).message, /did not answer within 200 ms/);
  assert.ok(elapsed >= 190 && elapsed < 2000, `took ${elapsed} ms`);
  assert.equal(recorded[0].status, "failed");
});

Deno.test("database webhook: an unreachable backend gives 500 and records failed", async () => {
  const { app, recorded } = harness("unreachable");
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), {
    error: "backend_unavailable",
    message: `Provisioning user ${USER_ID} failed: the backend could not be reached`,
  });
  assert.deepEqual(recorded, [{
    userId: USER_ID,
    status: "failed",
    error: "the backend could not be reached",
  }]);
});

Deno.test("database webhook: a redirect is a failure, never followed as a GET that looks like success", async () => {
  const seen: string[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    seen.push(`${req.method} ${pathname} ${req.headers.get("x-api-key") ?? "-"}`);
    if (pathname === "/api/users") {
      return new Response(null, { status: 301, headers: { location: "/moved/users" } });
    }
    return Response.json([], { status: 200 }); // a list of users: not a provisioning
  });
  const { app, recorded } = harness("ok", {
    apiUrl: `http://127.0.0.1:${server.addr.port}/api`,
    fetch: globalThis.fetch,
  });
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 500);
  assert.equal((await res.json()).error, "backend_unavailable");
  assert.deepEqual(recorded, [{ userId: USER_ID, status: "failed", error: "the backend answered HTTP 301" }]);
  assert.deepEqual(seen, [`POST /api/users ${BACKEND_SECRET}`], "the key goes nowhere else");
});

Deno.test("database webhook: a backend refusal gives 500 backend_refused and records failed", async () => {
  const { app, recorded } = harness("refuse");
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 500);
  assert.equal((await res.json()).error, "backend_refused");
  assert.equal(recorded[0].error, "the backend refused the user (HTTP 422)");
});

Deno.test("database webhook: a missing or wrong bearer secret gives 401 and calls nothing", async () => {
  const { app, calls, recorded } = harness("ok");
  for (
    const init of [
      fromDatabase(dbPayload(), "wrong-secret"),
      fromDatabase(dbPayload(), ""),
      { method: "POST", body: JSON.stringify(dbPayload()) },
      { method: "POST", headers: { authorization: WEBHOOK_SECRET }, body: JSON.stringify(dbPayload()) },
    ]
  ) {
    const res = await app.request("/handleNewUser", init);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "unauthorized");
  }
  assert.equal(calls.length, 0);
  assert.equal(recorded.length, 0);
});

Deno.test("database webhook: malformed JSON and wrong shapes give 400 and call nothing", async () => {
  const { app, calls, recorded } = harness("ok");
  const notJson = await app.request("/handleNewUser", fromDatabase("{not json"));
  assert.equal(notJson.status, 400);
  assert.equal((await notJson.json()).error, "invalid_json");
  const cases: unknown[] = [
    { ...dbPayload(), type: "UPDATE" },
    { ...dbPayload(), table: "profiles" },
    { ...dbPayload(), record: { email: "x@example.com" } },
    { ...dbPayload(), record: { id: "not-a-uuid" } },
    [],
  ];
  for (const body of cases) {
    const res = await app.request("/handleNewUser", fromDatabase(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    const answer = await res.json();
    assert.equal(answer.error, "invalid_payload");
  }
  assert.equal(calls.length, 0);
  assert.equal(recorded.length, 0);
});

Deno.test("database webhook: a failing status RPC does not turn a provisioned user into an error", async () => {
  const { app } = harness("ok", { recordStatus: () => Promise.reject(new Error("rpc down")) });
  const res = await app.request("/handleNewUser", fromDatabase(dbPayload()));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status_recorded, false);
});

Deno.test("logs carry outcome and user id but no secret, key or payload", async () => {
  const { app, logs } = harness("unavailable");
  await app.request("/handleNewUser", fromDatabase(dbPayload()));
  await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
  assert.equal(logs.length, 2);
  const first = JSON.parse(logs[0]);
  assert.equal(first.user_id, USER_ID);
  assert.equal(first.outcome, "failed");
  assert.equal(first.backend_status, 503);
  const all = logs.join("\n");
  for (const secret of [WEBHOOK_SECRET, BACKEND_SECRET, AUTH_HOOK_SECRET, "ada@example.com", "Lovelace"]) {
    assert.ok(!all.includes(secret), `log contains ${secret}`);
  }
});

// --- Auth hook -------------------------------------------------------------------------------------

Deno.test("auth hook: a signed before-user-created call provisions the user and allows with {}", async () => {
  const { app, calls, recorded } = harness("ok");
  const res = await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, {
    id: USER_ID,
    email: "grace@example.com",
    first_name: "Grace",
    last_name: "Hopper",
  });
  assert.equal(recorded.length, 0, "the user does not exist yet: nothing to record");
});

Deno.test('auth hook: a user without an email (Auth sends "") reaches the backend with email null', async () => {
  const { app, calls } = harness("ok");
  const res = await app.request(
    "/handleNewUser",
    await fromAuthHook(hookPayload({ email: "", phone: "4915112345678" })),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(calls[0].body, { id: USER_ID, email: null, first_name: "Grace", last_name: "Hopper" });
});

Deno.test("auth hook: a backend refusal rejects the signup with 200 and Auth's error shape", async () => {
  const { app } = harness("refuse");
  const res = await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.error.http_code, 403);
  assert.equal(typeof body.error.message, "string");
});

Deno.test("auth hook: a backend outage does not block the signup", async () => {
  for (const behaviour of ["unavailable", "hang", "unreachable"] as const) {
    const { app } = harness(behaviour);
    const res = await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
    assert.equal(res.status, 200, behaviour);
    assert.deepEqual(await res.json(), {}, behaviour);
  }
});

Deno.test("auth hook: a bad signature, another key or a stale timestamp give 401 and call nothing", async () => {
  const { app, calls } = harness("ok");
  const wrongKey = await fromAuthHook(hookPayload(), { secret: `v1,whsec_${btoa("some other key")}` });
  const stale = await fromAuthHook(hookPayload(), { timestamp: new Date(Date.now() - 10 * 60_000) });
  const tampered = await fromAuthHook(hookPayload());
  tampered.body = JSON.stringify(hookPayload({ email: "mallory@example.com" }));
  for (const init of [wrongKey, stale, tampered]) {
    const res = await app.request("/handleNewUser", init);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "invalid_signature");
  }
  assert.equal(calls.length, 0);
});

Deno.test("auth hook: another hook's payload is refused with 400", async () => {
  const { app, calls } = harness("ok");
  const payload = hookPayload();
  payload.metadata.name = "send-email";
  const res = await app.request("/handleNewUser", await fromAuthHook(payload));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "invalid_payload");
  assert.equal(calls.length, 0);
});

Deno.test("auth hook: without AUTH_HOOK_SECRET hook calls are refused with a clear error", async () => {
  const { app, calls } = harness("ok", { authHookSecret: undefined });
  const res = await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), {
    error: "auth_hook_not_configured",
    message: "AUTH_HOOK_SECRET is not set for this function",
  });
  assert.equal(calls.length, 0);
});

Deno.test("other methods and paths get the JSON 404", async () => {
  const { app } = harness("ok");
  const get = await app.request("/handleNewUser");
  assert.equal(get.status, 404);
  assert.equal((await get.json()).error, "not_found");
});

Deno.test("auth hook: AUTH_HOOK_SECRET may list two secrets separated by | while one is rotated", async () => {
  const next = `v1,whsec_${btoa("the next auth hook key")}`;
  const { app } = harness("ok", { authHookSecret: `${next}|${AUTH_HOOK_SECRET}` });
  const res = await app.request("/handleNewUser", await fromAuthHook(hookPayload()));
  assert.equal(res.status, 200);
  const signedWithNext = await app.request(
    "/handleNewUser",
    await fromAuthHook(hookPayload(), { secret: next }),
  );
  assert.equal(signedWithNext.status, 200);
});

Deno.test("backendUser takes only non-blank string names from metadata, as the profiles trigger does", () => {
  assert.deepEqual(
    backendUser("00000000-0000-4000-8000-0000000000e5", "eve@example.com", {
      first_name: { evil: true },
      given_name: " Eve ",
      last_name: "  ",
      family_name: 42,
    }),
    { id: "00000000-0000-4000-8000-0000000000e5", email: "eve@example.com", first_name: "Eve" },
  );
});

Deno.test("backendUser trims names as the profile does: spaces, tabs and line breaks, nothing else", () => {
  const user = backendUser("00000000-0000-4000-8000-0000000000e7", null, {
    first_name: "\tGrace\r\n",
    last_name: " \t\n",
    family_name: "\u00a0Hopper",
  });
  assert.deepEqual([user.first_name, user.last_name], ["Grace", "\u00a0Hopper"]);
});

Deno.test("backendUser cuts long names at 200 characters, as the profile does, never inside one", () => {
  // 199 letters, then an emoji (two UTF-16 code units), then more: the 200th character is the emoji.
  const long = `${"a".repeat(199)}😀${"b".repeat(50)}`;
  const user = backendUser("00000000-0000-4000-8000-0000000000e6", null, { first_name: long });
  assert.equal(user.first_name, `${"a".repeat(199)}😀`);
  assert.ok(user.first_name!.isWellFormed(), "no lone surrogate reaches the backend");
});
