/**
 * sendry-unsub on the local stack: a signed Sendry webhook through /functions/v1/sendry-unsub marks
 * the profile unsubscribed via the RPC; bad signatures, replays and malformed bodies change nothing.
 */
import assert from "node:assert/strict";
import { startTestStack } from "../_support/stack.ts";
import { standardWebhookHeaders } from "../../supabase/functions/_shared/webhook_signature.ts";
import { client, localOnly } from "./_support.ts";

const SECRET = `whsec_${btoa("sendry-integration-signing-key-0001")}`;

Deno.test({
  name: "sendry-unsub end to end: valid, bad signature, replayed and malformed webhooks",
  ...localOnly,
  fn: async (t) => {
    const stack = await startTestStack({ functionEnv: { SENDRY_WEBHOOK_SECRET: SECRET } });
    const { sql } = stack;
    const url = `${stack.apiUrl}/functions/v1/sendry-unsub`;
    const send = async (body: unknown, id: string, secret = SECRET) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const headers = await standardWebhookHeaders(secret, { id, timestamp: new Date(), body: text });
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: text,
      });
      return { status: res.status, body: await res.json() };
    };
    const event = (email: string) => ({
      type: "contact.unsubscribed",
      created_at: "2026-11-25T09:30:00Z",
      data: { email, audience_id: "aud_1" },
    });
    const profile = async (id: string) => {
      const [row] = await sql`select unsubscribed, unsubscribed_at from public.profiles where id = ${id}`;
      return row;
    };
    try {
      const { data } = await client(stack, stack.anonKey).auth.signUp({
        email: "ada@example.com",
        password: "correct horse battery staple",
      });
      const userId = data.user!.id;
      assert.equal((await profile(userId)).unsubscribed, false, "signup created the profile");

      await t.step("a bad signature gives 401 and changes nothing", async () => {
        const res = await send(event("ada@example.com"), "msg_bad", `whsec_${btoa("an attacker's key")}`);
        assert.equal(res.status, 401);
        assert.equal(res.body.error, "invalid_signature");
        assert.equal((await profile(userId)).unsubscribed, false);
      });

      await t.step("a malformed body gives 400 and changes nothing", async () => {
        const res = await send({ type: "contact.unsubscribed", data: { email: "nope" } }, "msg_malformed");
        assert.equal(res.status, 400);
        assert.equal(res.body.error, "invalid_payload");
        const notJson = await send("{oops", "msg_not_json");
        assert.equal(notJson.status, 400);
        assert.equal((await profile(userId)).unsubscribed, false);
      });

      await t.step(
        "a valid webhook marks the profile unsubscribed (address matched case-insensitively)",
        async () => {
          const res = await send(event("ADA@Example.com"), "msg_valid");
          assert.equal(res.status, 200);
          assert.deepEqual(res.body, { received: true, duplicate: false, matched_users: 1 });
          const row = await profile(userId);
          assert.equal(row.unsubscribed, true);
          assert.equal(row.unsubscribed_at.toISOString(), "2026-11-25T09:30:00.000Z");
        },
      );

      await t.step("a replay with the same webhook-id is acknowledged and not processed again", async () => {
        await sql`update public.profiles set unsubscribed = false where id = ${userId}`;
        const res = await send(event("ada@example.com"), "msg_valid");
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, { received: true, duplicate: true, matched_users: 1 });
        assert.equal((await profile(userId)).unsubscribed, false, "the replay did not process again");
        const [{ count }] = await sql`select count(*)::int from private.sendry_webhook_events`;
        assert.equal(count, 1);
      });

      await t.step("an unknown address and an unknown event type are acknowledged", async () => {
        const unknown = await send(event("nobody@example.com"), "msg_unknown_email");
        assert.equal(unknown.status, 200);
        assert.equal(unknown.body.matched_users, 0);
        const other = await send(
          { type: "contact.created", data: { email: "ada@example.com" } },
          "msg_other",
        );
        assert.deepEqual(other, { status: 200, body: { received: true, ignored: true } });
      });
    } finally {
      await stack.close();
    }
  },
});
