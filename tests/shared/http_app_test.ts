/**
 * supabase/functions/_shared/http_app.ts: base path, request ids, the one error shape (no internal
 * text to callers), one log line per request without secrets, body limits and zod validation.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  addLogFields,
  createHttpApp,
  HttpError,
  parseJson,
  readBody,
} from "../../supabase/functions/_shared/http_app.ts";

function testApp() {
  const lines: Record<string, unknown>[] = [];
  const app = createHttpApp({ functionName: "demo", log: (line) => lines.push(JSON.parse(line)) });
  app.get("/ok", (c) => {
    addLogFields(c, { user_id: "u1" });
    return c.json({ ok: true });
  });
  app.get("/teapot", () => {
    throw new HttpError(418, "teapot", "I am a teapot");
  });
  app.get("/boom", () => {
    throw new Error("database password is hunter2");
  });
  app.post("/echo", async (c) => {
    const body = parseJson(await readBody(c, 64), z.object({ name: z.string().min(1), n: z.number().int() }));
    return c.json(body);
  });
  return { app, lines };
}

Deno.test("routes live under /<function-name> and answer with an X-Request-Id", async () => {
  const { app } = testApp();
  const res = await app.request("/demo/ok");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  assert.match(res.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const outside = await app.request("/ok");
  assert.equal(outside.status, 404);
  assert.deepEqual(await outside.json(), { error: "not_found", message: "No route for GET /ok" });
});

Deno.test("a trailing slash reaches the same route, for the base path and below it", async () => {
  const { app } = testApp();
  app.get("/", (c) => c.json({ root: true }));
  const root = await app.request("/demo/");
  assert.equal(root.status, 200);
  assert.deepEqual(await root.json(), { root: true });
  const below = await app.request("/demo/ok/");
  assert.equal(below.status, 200);
  assert.deepEqual(await below.json(), { ok: true });
  assert.equal((await app.request("/demo/missing/")).status, 404);
});

Deno.test("a sane incoming X-Request-Id is kept, anything else is replaced", async () => {
  const { app } = testApp();
  const kept = await app.request("/demo/ok", { headers: { "x-request-id": "req-123.abc" } });
  assert.equal(kept.headers.get("x-request-id"), "req-123.abc");
  const replaced = await app.request("/demo/ok", { headers: { "x-request-id": "bad id\twith spaces" } });
  assert.notEqual(replaced.headers.get("x-request-id"), "bad id\twith spaces");
});

Deno.test("an HttpError answers its status with { error, message }", async () => {
  const { app } = testApp();
  const res = await app.request("/demo/teapot");
  assert.equal(res.status, 418);
  assert.deepEqual(await res.json(), { error: "teapot", message: "I am a teapot" });
});

Deno.test("an unexpected error answers 500 without its text; the log has it with the request id", async () => {
  const { app, lines } = testApp();
  const res = await app.request("/demo/boom", { headers: { "x-request-id": "r-500" } });
  assert.equal(res.status, 500);
  const body = await res.json();
  assert.equal(body.error, "internal_error");
  assert.doesNotMatch(body.message, /hunter2/);
  assert.match(body.message, /r-500/);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].status, 500);
  assert.equal(lines[0].level, "error");
  assert.equal(lines[0].request_id, "r-500");
  assert.match(String(lines[0].error_detail), /^Error: /);
});

Deno.test("one log line per request with stable keys and handler fields, no headers or query", async () => {
  const { app, lines } = testApp();
  await app.request("/demo/ok?token=very-secret", {
    headers: { authorization: "Bearer very-secret", "x-request-id": "r-1" },
  });
  assert.equal(lines.length, 1);
  const line = lines[0];
  assert.deepEqual(Object.keys(line).sort(), [
    "duration_ms",
    "fn",
    "level",
    "method",
    "path",
    "request_id",
    "status",
    "user_id",
  ]);
  assert.equal(line.fn, "demo");
  assert.equal(line.path, "/demo/ok");
  assert.equal(line.user_id, "u1");
  assert.doesNotMatch(JSON.stringify(lines), /very-secret/);
});

Deno.test("parseJson() answers 400 invalid_json and 400 invalid_payload naming the fields", async () => {
  const { app } = testApp();
  const notJson = await app.request("/demo/echo", { method: "POST", body: "{nope" });
  assert.equal(notJson.status, 400);
  assert.deepEqual(await notJson.json(), {
    error: "invalid_json",
    message: "The request body is not valid JSON",
  });
  const invalid = await app.request("/demo/echo", { method: "POST", body: '{"name":"","n":1.5}' });
  assert.equal(invalid.status, 400);
  const body = await invalid.json();
  assert.equal(body.error, "invalid_payload");
  assert.match(body.message, /name: /);
  assert.match(body.message, /n: /);
  const ok = await app.request("/demo/echo", { method: "POST", body: '{"name":"x","n":2}' });
  assert.deepEqual(await ok.json(), { name: "x", n: 2 });
});

Deno.test("readBody() answers 413 beyond its limit, even without a Content-Length", async () => {
  const { app } = testApp();
  const big = await app.request("/demo/echo", {
    method: "POST",
    body: JSON.stringify({ name: "x".repeat(100), n: 1 }),
  });
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error, "payload_too_large");
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("x".repeat(100)));
      controller.close();
    },
  });
  const streamed = await app.request("/demo/echo", { method: "POST", body: stream });
  assert.equal(streamed.status, 413);
});

Deno.test("readBody() returns the exact bytes sent: a leading byte order mark is kept, not dropped", async () => {
  const app = createHttpApp({ functionName: "demo", log: () => {} });
  app.post("/raw", async (c) => c.json({ text: await readBody(c, 64) }));
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"a":1}')]);
  const res = await app.request("/demo/raw", { method: "POST", body: bytes });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).text, '\uFEFF{"a":1}');
});
