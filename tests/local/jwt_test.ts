import assert from "node:assert/strict";
import { base64UrlEncode, JwtError, signJwt, verifyJwt } from "../../local/jwt.ts";
import { LOCAL_JWT_SECRET, localApiKeys } from "../../local/keys.ts";

const SUPABASE_DEMO_ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const SUPABASE_DEMO_SERVICE_ROLE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";

const SECRET = "a-test-secret-that-is-at-least-32-characters";
const encode = (value: unknown) => base64UrlEncode(new TextEncoder().encode(JSON.stringify(value)));

async function rejects(promise: Promise<unknown>, kind: JwtError["kind"], message: string | RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof JwtError, `expected a JwtError, got ${error}`);
    assert.equal(error.kind, kind);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

Deno.test("localApiKeys reproduces the demo keys that `supabase start` prints", async () => {
  const { anonKey, serviceRoleKey } = await localApiKeys();
  assert.equal(anonKey, SUPABASE_DEMO_ANON_KEY);
  assert.equal(serviceRoleKey, SUPABASE_DEMO_SERVICE_ROLE_KEY);
  assert.deepEqual(await verifyJwt(anonKey, LOCAL_JWT_SECRET), {
    iss: "supabase-demo",
    role: "anon",
    exp: 1983812996,
  });
});

Deno.test("localApiKeys signs with another secret when given one", async () => {
  const { anonKey } = await localApiKeys(SECRET);
  assert.notEqual(anonKey, SUPABASE_DEMO_ANON_KEY);
  assert.equal((await verifyJwt(anonKey, SECRET)).role, "anon");
});

Deno.test("signJwt and verifyJwt round-trip a payload", async () => {
  const payload = {
    sub: "u1",
    role: "authenticated",
    exp: Math.floor(Date.now() / 1000) + 60,
    nested: { a: [1] },
  };
  const token = await signJwt(payload, SECRET);
  assert.deepEqual(await verifyJwt(token, SECRET), payload);
});

Deno.test("verifyJwt rejects a token signed with another secret", async () => {
  const token = await signJwt({ role: "anon" }, "another-secret-that-is-32-characters-long");
  await rejects(verifyJwt(token, SECRET), "signature", "JWT cryptographic operation failed");
});

Deno.test("verifyJwt rejects a token whose payload was altered", async () => {
  const [header, , signature] = (await signJwt({ role: "anon" }, SECRET)).split(".");
  const forged = `${header}.${encode({ role: "service_role" })}.${signature}`;
  await rejects(verifyJwt(forged, SECRET), "signature", "JWT cryptographic operation failed");
});

Deno.test("verifyJwt rejects algorithms other than HS256, including none", async () => {
  const [, payload, signature] = (await signJwt({ role: "anon" }, SECRET)).split(".");
  for (const alg of ["none", "HS512", "RS256"]) {
    const token = `${encode({ alg, typ: "JWT" })}.${payload}.${alg === "none" ? "" : signature}`;
    await rejects(verifyJwt(token, SECRET), "algorithm", "Wrong or unsupported encoding algorithm");
  }
});

Deno.test("verifyJwt rejects an expired token, with optional clock skew", async () => {
  const now = 1_700_000_000;
  const token = await signJwt({ role: "anon", exp: now - 10 }, SECRET);
  await rejects(verifyJwt(token, SECRET, now), "claims", "JWT expired");
  await rejects(verifyJwt(token, SECRET, { now, clockSkewSeconds: 5 }), "claims", "JWT expired");
  assert.equal((await verifyJwt(token, SECRET, { now, clockSkewSeconds: 30 })).role, "anon");
  assert.equal((await verifyJwt(token, SECRET, now - 10)).role, "anon");
});

Deno.test("verifyJwt rejects tokens not yet valid or issued in the future", async () => {
  const now = 1_700_000_000;
  await rejects(
    verifyJwt(await signJwt({ nbf: now + 100 }, SECRET), SECRET, now),
    "claims",
    "JWT not yet valid",
  );
  await rejects(
    verifyJwt(await signJwt({ iat: now + 100 }, SECRET), SECRET, now),
    "claims",
    "JWT issued at future",
  );
  await rejects(
    verifyJwt(await signJwt({ exp: "tomorrow" }, SECRET), SECRET, now),
    "claims",
    "The JWT 'exp' claim must be a number",
  );
});

Deno.test("verifyJwt rejects malformed tokens with a clear message", async () => {
  await rejects(verifyJwt("", SECRET), "malformed", "Empty JWT is sent in Authorization header");
  await rejects(verifyJwt("abc", SECRET), "malformed", "Expected 3 parts in JWT; got 1");
  await rejects(verifyJwt("a.b.c.d", SECRET), "malformed", "Expected 3 parts in JWT; got 4");
  await rejects(verifyJwt("%%%.e30.sig", SECRET), "malformed", "JWT couldn't be decoded");
  await rejects(verifyJwt(`${encode([1])}.e30.sig`, SECRET), "malformed", "JWT couldn't be decoded");
  const [header, payload] = (await signJwt({}, SECRET)).split(".");
  await rejects(verifyJwt(`${header}.${payload}.not*base64`, SECRET), "malformed", "JWT couldn't be decoded");
});
