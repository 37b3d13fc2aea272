/**
 * Sendry sync on the local stack: signup -> trigger -> pg_net -> a loopback fake Sendry API, the sync
 * log reconciled from net._http_response, a bad key visible in the failure view, key rotation with
 * vault.update_secret, the retry RPC, and a 1,000-user backfill in resumable batches.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { startTestStack } from "../_support/stack.ts";
import { client, fakeServer, localOnly, type RecordedRequest, setSecret, waitFor } from "./_support.ts";

const GOOD_KEY = "sn_live_good_key";
const ROTATED_KEY = "sn_live_rotated_key";
const AUDIENCE = "aud_test_123";
const PASSWORD = "correct horse battery staple";

/** A fake Sendry: POST /v1/contacts answers 201 for the keys it knows and 401 otherwise. */
function fakeSendry(validKeys: Set<string>) {
  return fakeServer((req: RecordedRequest) => {
    if (req.method !== "POST" || req.path !== "/v1/contacts") {
      return Response.json({ message: "not found" }, { status: 404 });
    }
    const key = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
    if (!validKeys.has(key)) return Response.json({ message: "Invalid API key" }, { status: 401 });
    return Response.json({ id: `con_${crypto.randomUUID()}` }, { status: 201 });
  });
}

async function reconcile(sql: postgres.Sql) {
  const [row] = await sql`select private.sendry_reconcile_sync_log() as result`;
  return row.result as { ok: number; failed: number; lost: number };
}

/** Waits until pg_net has answered every logged request, then reconciles the log. */
async function settle(sql: postgres.Sql) {
  await waitFor("pg_net responses for every logged request", async () => {
    const [{ open }] = await sql`
      select count(*)::int as open from public.sendry_sync_log l
      where l.status = 'pending' and not exists (select 1 from net._http_response r where r.id = l.request_id)`;
    return open === 0;
  }, 30_000);
  return await reconcile(sql);
}

Deno.test({
  name: "Sendry sync end to end: signup, failures, rotation and retry",
  ...localOnly,
  fn: async (t) => {
    const validKeys = new Set([GOOD_KEY]);
    const sendry = fakeSendry(validKeys);
    const stack = await startTestStack();
    const { sql } = stack;
    const anon = client(stack, stack.anonKey);
    const service = client(stack, stack.serviceRoleKey);
    try {
      const keyId = await setSecret(sql, "sendry_api_key", GOOD_KEY);
      await setSecret(sql, "sendry_audience_id", AUDIENCE);
      await setSecret(sql, "sendry_api_base_url", `${sendry.url}/`);

      await t.step(
        "a signup creates the Sendry contact with the bearer key and the documented body",
        async () => {
          const { data, error } = await anon.auth.signUp({
            email: "ada@example.com",
            password: PASSWORD,
            options: { data: { first_name: "Ada", last_name: "Lovelace" } },
          });
          assert.equal(error, null);
          const userId = data.user!.id;
          const request = await waitFor("the contact request", () => sendry.requests[0]);
          assert.equal(request.method, "POST");
          assert.equal(request.path, "/v1/contacts");
          assert.equal(request.headers.get("authorization"), `Bearer ${GOOD_KEY}`);
          assert.equal(request.headers.get("content-type"), "application/json");
          assert.deepEqual(request.json, {
            email: "ada@example.com",
            first_name: "Ada",
            last_name: "Lovelace",
            audience_id: AUDIENCE,
            properties: { supabase_user_id: userId, signup_source: "supabase" },
          });
          assert.deepEqual(await settle(sql), { ok: 1, failed: 0, lost: 0 });
          const [log] =
            await sql`select source, attempt, status, status_code, error from public.sendry_sync_log
          where user_id = ${userId}`;
          assert.deepEqual({ ...log }, {
            source: "signup",
            attempt: 1,
            status: "ok",
            status_code: 201,
            error: null,
          });
        },
      );

      let failedUserId = "";
      await t.step("a bad key: Sendry's 401 shows in the failure view after reconcile", async () => {
        await sql`select vault.update_secret(${keyId}, 'sn_live_revoked')`;
        const { data } = await anon.auth.signUp({ email: "bob@example.com", password: PASSWORD });
        failedUserId = data.user!.id;
        assert.deepEqual(await settle(sql), { ok: 0, failed: 1, lost: 0 });
        const failures = await sql.begin(async (tx) => {
          await tx`set local role service_role`;
          return await tx`select user_id, status_code, error, source from public.v_sendry_sync_failures`;
        });
        assert.equal(failures.length, 1);
        assert.equal(failures[0].user_id, failedUserId);
        assert.equal(failures[0].status_code, 401);
        assert.match(failures[0].error, /^Sendry answered HTTP 401: .*Invalid API key/);
        assert.doesNotMatch(failures[0].error, /sn_live/);
        const last = sendry.requests.at(-1)!;
        assert.equal(last.headers.get("authorization"), "Bearer sn_live_revoked");
      });

      await t.step(
        "vault.update_secret rotation takes effect on the next call, and retry fixes the failure",
        async () => {
          validKeys.add(ROTATED_KEY);
          await sql`select vault.update_secret(${keyId}, ${ROTATED_KEY})`;
          const before = sendry.requests.length;
          const { data, error } = await service.rpc("rpc_sendry_retry_failed", {});
          assert.equal(error, null);
          assert.deepEqual(data, { queued: 1, still_failed: 0 });
          await settle(sql);
          const retried = sendry.requests.slice(before);
          assert.equal(retried.length, 1);
          assert.equal(retried[0].headers.get("authorization"), `Bearer ${ROTATED_KEY}`);
          assert.equal((retried[0].json as { email: string }).email, "bob@example.com");
          const rows = await sql`select source, attempt, status from public.sendry_sync_log
          where user_id = ${failedUserId} order by id`;
          assert.deepEqual(rows.map((r) => [r.source, r.attempt, r.status]), [
            ["signup", 1, "failed"],
            ["retry", 2, "ok"],
          ]);
          const [{ count }] = await sql`select count(*)::int from public.v_sendry_sync_failures`;
          assert.equal(count, 0);
        },
      );

      await t.step("missing Vault secrets: the signup still succeeds and nothing is sent", async () => {
        await sql`delete from vault.secrets where name = 'sendry_audience_id'`;
        const before = sendry.requests.length;
        const { data, error } = await anon.auth.signUp({ email: "carol@example.com", password: PASSWORD });
        assert.equal(error, null);
        const [{ count }] = await sql`select count(*)::int from public.sendry_sync_log where user_id = ${
          data.user!.id
        }`;
        assert.equal(count, 0);
        assert.equal(sendry.requests.length, before);
        await setSecret(sql, "sendry_audience_id", AUDIENCE);
      });

      await t.step("anon and authenticated clients cannot run the backfill or the retry", async () => {
        const visitor = client(stack, stack.anonKey);
        assert.equal((await visitor.rpc("rpc_sendry_backfill", {})).error?.code, "42501");
        assert.equal((await anon.rpc("rpc_sendry_retry_failed", {})).error?.code, "42501");
      });
    } finally {
      await stack.close();
      await sendry.close();
    }
  },
});

Deno.test({
  name: "Sendry backfill: 1,000 existing users in resumable batches, with progress and no duplicates",
  ...localOnly,
  fn: async () => {
    const sendry = fakeSendry(new Set([GOOD_KEY]));
    const stack = await startTestStack();
    const { sql } = stack;
    const service = client(stack, stack.serviceRoleKey);
    try {
      // Users that existed before the sync was configured: no Vault secrets yet, so the trigger only warns.
      await sql`
        insert into auth.users (id, email, raw_user_meta_data, created_at, aud, role)
        select extensions.gen_random_uuid(), 'user' || g || '@example.com',
          jsonb_build_object('first_name', 'User', 'last_name', g::text), now(), 'authenticated', 'authenticated'
        from generate_series(1, 1000) g`;
      const [{ logged }] = await sql`select count(*)::int as logged from public.sendry_sync_log`;
      assert.equal(logged, 0);

      await setSecret(sql, "sendry_api_key", GOOD_KEY);
      await setSecret(sql, "sendry_audience_id", AUDIENCE);
      await setSecret(sql, "sendry_api_base_url", sendry.url);
      // One user signs up after configuration: the trigger syncs it and the backfill must skip it.
      await sql`insert into auth.users (id, email, created_at) values (extensions.gen_random_uuid(), 'late@example.com', now())`;

      const started = performance.now();
      const progress: Array<{ queued: number; skipped: number; remaining: number; done: boolean }> = [];
      for (let call = 0; call < 10; call++) {
        const { data, error } = await service.rpc("rpc_sendry_backfill", { p_batch_size: 300 });
        assert.equal(error, null);
        const step = data as { queued: number; skipped: number; remaining: number; done: boolean };
        progress.push(step);
        if (step.done) break;
      }
      const queuedIn = performance.now() - started;
      assert.deepEqual(progress.map((p) => p.remaining), [701, 401, 101, 0]);
      assert.equal(progress.reduce((n, p) => n + p.queued, 0), 1000);
      assert.equal(progress.reduce((n, p) => n + p.skipped, 0), 1);
      assert.equal(progress.at(-1)!.done, true);

      await waitFor(
        "1,001 contact requests at the fake Sendry",
        () => sendry.requests.length >= 1001,
        60_000,
      );
      const deliveredIn = performance.now() - started;
      const emails = sendry.requests.map((r) => (r.json as { email: string }).email);
      assert.equal(emails.length, 1001);
      assert.equal(new Set(emails).size, 1001, "no user was sent twice");
      const outcome = await settle(sql);
      assert.deepEqual(outcome, { ok: 1001, failed: 0, lost: 0 });
      console.log(
        `backfill: 1,000 users queued in 4 calls in ${Math.round(queuedIn)} ms; ` +
          `all delivered to the fake Sendry after ${Math.round(deliveredIn)} ms`,
      );

      // Callable repeatedly: done stays done, and a restart skips everyone already synced.
      const again = await service.rpc("rpc_sendry_backfill", { p_batch_size: 300 });
      assert.equal((again.data as { scanned: number }).scanned, 0);
      let queuedOnRestart = 0;
      let restartCalls = 0;
      for (let first = true;; first = false) {
        const { data } = await service.rpc("rpc_sendry_backfill", { p_batch_size: 1000, p_restart: first });
        const step = data as { queued: number; done: boolean };
        queuedOnRestart += step.queued;
        restartCalls++;
        if (step.done) break;
      }
      assert.equal(queuedOnRestart, 0);
      assert.equal(restartCalls, 2);
      const [{ total }] = await sql`select count(*)::int as total from public.sendry_sync_log`;
      assert.equal(total, 1001);
    } finally {
      await stack.close();
      await sendry.close();
    }
  },
});

Deno.test({
  name: "Sendry backfill: bad batch sizes and missing secrets are clear errors that write nothing",
  ...localOnly,
  fn: async () => {
    const stack = await startTestStack();
    const service = client(stack, stack.serviceRoleKey);
    try {
      await stack
        .sql`insert into auth.users (id, email) values (extensions.gen_random_uuid(), 'x@example.com')`;
      const missing = await service.rpc("rpc_sendry_backfill", {});
      assert.equal(missing.error?.code, "P0002");
      assert.match(missing.error!.message, /Vault secret "sendry_api_key" is missing/);
      await setSecret(stack.sql, "sendry_api_key", GOOD_KEY);
      await setSecret(stack.sql, "sendry_audience_id", AUDIENCE);
      for (const size of [0, 1001]) {
        const bad = await service.rpc("rpc_sendry_backfill", { p_batch_size: size });
        assert.equal(bad.error?.code, "22023");
        assert.equal(bad.error?.message, "p_batch_size must be between 1 and 1000");
      }
      const [{ count }] = await stack.sql`select count(*)::int from public.sendry_sync_log`;
      assert.equal(count, 0);
    } finally {
      await stack.close();
    }
  },
});
