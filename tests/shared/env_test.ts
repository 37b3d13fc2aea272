/**
 * supabase/functions/_shared/env.ts: required and optional variables, one error naming every missing
 * one, and the Supabase keys (new JSON variables first, legacy ones as fallback).
 */
import assert from "node:assert/strict";
import {
  EnvError,
  envFrom,
  intFromEnv,
  loadEnv,
  urlFromEnv,
  webhookSecretFromEnv,
} from "../../supabase/functions/_shared/env.ts";

Deno.test("loadEnv() returns required and present optional variables", () => {
  const env = loadEnv(
    { required: ["API_URL", "BACKEND_SECRET"], optional: ["TIMEOUT_MS", "ABSENT"] },
    envFrom({ API_URL: "http://x", BACKEND_SECRET: "s", TIMEOUT_MS: "10", ABSENT: "" }),
  );
  assert.equal(env.API_URL, "http://x");
  assert.equal(env.BACKEND_SECRET, "s");
  assert.equal(env.TIMEOUT_MS, "10");
  assert.equal(env.ABSENT, undefined, "an empty optional value counts as absent");
});

Deno.test("loadEnv() names every missing variable in one error and never a value", () => {
  try {
    loadEnv(
      { required: ["API_URL", "BACKEND_SECRET", "OTHER"], supabase: true },
      envFrom({ OTHER: "visible-value", BACKEND_SECRET: "  " }),
    );
    assert.fail("expected an EnvError");
  } catch (error) {
    assert.ok(error instanceof EnvError);
    assert.deepEqual(error.missing, [
      "API_URL",
      "BACKEND_SECRET",
      "SUPABASE_URL",
      "SUPABASE_SECRET_KEYS (or SUPABASE_SERVICE_ROLE_KEY)",
    ]);
    assert.match(
      error.message,
      /^Missing required environment variables: API_URL, BACKEND_SECRET, SUPABASE_URL/,
    );
    assert.match(error.message, /supabase secrets set/);
    assert.doesNotMatch(error.message, /visible-value/);
  }
});

Deno.test("loadEnv() prefers SUPABASE_SECRET_KEYS / SUPABASE_PUBLISHABLE_KEYS default entries", () => {
  const env = loadEnv(
    { required: [], supabase: true },
    envFrom({
      SUPABASE_URL: "http://127.0.0.1:54321",
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_new", other: "x" }),
      SUPABASE_SERVICE_ROLE_KEY: "legacy-service",
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: "sb_publishable_new" }),
      SUPABASE_ANON_KEY: "legacy-anon",
    }),
  );
  assert.deepEqual(env.supabase, {
    url: "http://127.0.0.1:54321",
    secretKey: "sb_secret_new",
    publishableKey: "sb_publishable_new",
  });
});

Deno.test("loadEnv() falls back to the legacy keys when the JSON is absent, invalid or has no default", () => {
  for (const json of [undefined, "not json", JSON.stringify({ other: "x" }), JSON.stringify(["x"]), "{}"]) {
    const env = loadEnv(
      { required: [], supabase: true },
      envFrom({
        SUPABASE_URL: "http://x",
        SUPABASE_SECRET_KEYS: json,
        SUPABASE_SERVICE_ROLE_KEY: "legacy-service",
      }),
    );
    assert.equal(env.supabase.secretKey, "legacy-service", `with SUPABASE_SECRET_KEYS=${json}`);
    assert.equal(env.supabase.publishableKey, undefined);
  }
});

Deno.test("intFromEnv() parses bounded whole numbers and names the variable when it cannot", () => {
  assert.equal(intFromEnv("T", undefined, 5000), 5000);
  assert.equal(intFromEnv("T", "250", 5000, { min: 100, max: 9000 }), 250);
  for (const bad of ["abc", "1.5", "50", "10000"]) {
    assert.throws(
      () => intFromEnv("T", bad, 5000, { min: 100, max: 9000 }),
      /^EnvError: T must be a whole number/,
    );
  }
});

Deno.test("urlFromEnv() accepts http(s) URLs and names the variable, never the value, when it cannot", () => {
  assert.equal(urlFromEnv("API_URL", "https://api.example.com/v2/"), "https://api.example.com/v2/");
  assert.equal(urlFromEnv("API_URL", "http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  for (const bad of ["api.example.com", "ftp://files.example.com", "https://", "not a url"]) {
    assert.throws(() => urlFromEnv("API_URL", bad), (error: unknown) => {
      assert.ok(error instanceof EnvError);
      assert.deepEqual(error.missing, ["API_URL"]);
      assert.match(error.message, /^API_URL must be an http\(s\) URL/);
      assert.ok(!error.message.includes(bad), "the value is not echoed");
      return true;
    });
  }
});

Deno.test("webhookSecretFromEnv() accepts whsec_, v1,whsec_ and raw secrets unchanged", () => {
  const whsec = `whsec_${btoa("sendry-signing-key")}`;
  const auth = `v1,whsec_${btoa("auth-hook-key")}`;
  assert.equal(webhookSecretFromEnv("SENDRY_WEBHOOK_SECRET", whsec), whsec);
  assert.equal(webhookSecretFromEnv("SENDRY_WEBHOOK_SECRET", "a raw secret"), "a raw secret");
  assert.equal(webhookSecretFromEnv("AUTH_HOOK_SECRET", auth), auth);
  assert.equal(
    webhookSecretFromEnv("AUTH_HOOK_SECRET", `${auth} | ${whsec}`, { list: true }),
    `${auth} | ${whsec}`,
  );
  assert.equal(webhookSecretFromEnv("AUTH_HOOK_SECRET", undefined, { list: true }), undefined);
});

Deno.test("webhookSecretFromEnv() refuses bad base64 after whsec_, naming the variable and never the value", () => {
  const good = `v1,whsec_${btoa("auth-hook-key")}`;
  const cases: Array<[string, boolean]> = [
    ["whsec_not*base64!", false],
    ["v1,whsec_%%%%", false],
    ["whsec_", false],
    [`${good}|v1,whsec_a`, true],
    [" | ", true],
  ];
  for (const [bad, list] of cases) {
    assert.throws(() => webhookSecretFromEnv("AUTH_HOOK_SECRET", bad, { list }), (error: unknown) => {
      assert.ok(error instanceof EnvError);
      assert.deepEqual(error.missing, ["AUTH_HOOK_SECRET"]);
      assert.match(error.message, /^AUTH_HOOK_SECRET /);
      if (bad !== "whsec_") assert.ok(!error.message.includes(bad.trim()), "the value is not echoed");
      assert.ok(!error.message.includes(btoa("auth-hook-key")), "no part of a good secret either");
      return true;
    }, bad);
  }
});
