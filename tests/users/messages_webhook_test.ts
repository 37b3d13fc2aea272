/**
 * The messages webhook on the local stack: an insert into public.messages reaches the URL held in
 * Vault with the Vault token; a rotated token is used by the next insert; a missing secret never
 * blocks the insert; a rolled back insert sends nothing.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { startTestStack } from "../_support/stack.ts";
import { fakeServer, localOnly, setSecret, sleep, waitFor } from "./_support.ts";

Deno.test({
  name: "messages webhook end to end: delivery, token rotation, missing secrets and rollbacks",
  ...localOnly,
  fn: async (t) => {
    const receiver = fakeServer(() => new Response(null, { status: 204 }));
    const stack = await startTestStack();
    const { sql } = stack;
    const insertMessage = async (text: string, db: postgres.Sql | postgres.TransactionSql = sql) => {
      const [row] = await db`insert into public.messages (message) values (${text}) returning id`;
      return Number(row.id);
    };
    try {
      await setSecret(sql, "messages_webhook_url", `${receiver.url}/hooks/messages`);
      const tokenId = await setSecret(sql, "messages_webhook_token", "token-one");

      await t.step("an insert posts {id, message} with the bearer token from Vault", async () => {
        const id = await insertMessage("Hello world");
        const req = await waitFor("the webhook call", () => receiver.requests[0]);
        assert.equal(req.method, "POST");
        assert.equal(req.path, "/hooks/messages");
        assert.equal(req.headers.get("authorization"), "Bearer token-one");
        assert.equal(req.headers.get("content-type"), "application/json");
        assert.deepEqual(req.json, { id, message: "Hello world" });
      });

      await t.step("after vault.update_secret the next insert carries the rotated token", async () => {
        await sql`select vault.update_secret(${tokenId}, 'token-two')`;
        const id = await insertMessage("after rotation");
        const req = await waitFor("the second call", () => receiver.requests[1]);
        assert.equal(req.headers.get("authorization"), "Bearer token-two");
        assert.deepEqual(req.json, { id, message: "after rotation" });
      });

      await t.step(
        "an authenticated user's insert is sent too (the trigger reads Vault as definer)",
        async () => {
          const [user] =
            await sql`insert into auth.users (id, email) values (extensions.gen_random_uuid(), 'm@example.com')
          returning id`;
          const id = await sql.begin(async (tx) => {
            await tx`set local role authenticated`;
            await tx`select set_config('request.jwt.claims', ${
              JSON.stringify({ sub: user.id, role: "authenticated" })
            }, true)`;
            return await insertMessage("from a user", tx);
          });
          const req = await waitFor("the third call", () => receiver.requests[2]);
          assert.deepEqual(req.json, { id, message: "from a user" });
          const [row] = await sql`select user_id from public.messages where id = ${id}`;
          assert.equal(row.user_id, user.id);
        },
      );

      await t.step("a rolled back insert sends nothing", async () => {
        await sql.begin(async (tx) => {
          await insertMessage("never committed", tx);
          throw new Error("rollback");
        }).catch((e) => assert.equal(e.message, "rollback"));
        await sleep(300);
        assert.equal(receiver.requests.length, 3);
      });

      await t.step(
        "without the token secret the insert succeeds, warns naming the secret, sends nothing",
        async () => {
          await sql`delete from vault.secrets where name = 'messages_webhook_token'`;
          const notices: string[] = [];
          const watcher = postgres(stack.dbUrl, { max: 1, onnotice: (n) => notices.push(n.message) });
          try {
            const [row] = await watcher`insert into public.messages (message) values ('unsent') returning id`;
            assert.ok(row.id);
          } finally {
            await watcher.end();
          }
          assert.equal(notices.length, 1);
          assert.match(
            notices[0],
            /^messages webhook: message \d+ not sent: Vault secret "messages_webhook_token"/,
          );
          assert.doesNotMatch(notices[0], /token-two|127\.0\.0\.1/);
          await sleep(300);
          assert.equal(receiver.requests.length, 3);
        },
      );
    } finally {
      await stack.close();
      await receiver.close();
    }
  },
});
