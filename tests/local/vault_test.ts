/**
 * The local Vault stand-in (local/extensions/supabase_vault) keeps the contract of Supabase Vault 0.3:
 * create/update/read round trips, ciphertext only at rest, unique names, and Supabase's privileges.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { createTestDatabase } from "../_support/db.ts";
import { asRole, failsWith } from "../_support/sql.ts";

type Sql = postgres.Sql | postgres.TransactionSql;

async function createSecret(sql: Sql, secret: string, name: string | null = null, description = "") {
  const [row] = await sql`select vault.create_secret(${secret}, ${name}, ${description}) as id`;
  return row.id as string;
}

async function readSecret(sql: Sql, id: string) {
  const [row] = await sql`
    select name, description, secret, decrypted_secret, key_id, nonce, created_at, updated_at
    from vault.decrypted_secrets where id = ${id}`;
  return row;
}

Deno.test("vault stand-in", async (t) => {
  const db = await createTestDatabase();
  const { sql } = db;
  try {
    await t.step("create_secret returns an id and decrypted_secrets gives the plaintext back", async () => {
      const id = await createSecret(sql, "s3kr3t_k3y", "round_trip", "the round trip secret");
      assert.match(id, /^[0-9a-f-]{36}$/);
      const row = await readSecret(sql, id);
      assert.equal(row.decrypted_secret, "s3kr3t_k3y");
      assert.equal(row.name, "round_trip");
      assert.equal(row.description, "the round trip secret");
      assert.equal(row.key_id, null);
      assert.equal(row.nonce.length, 16);

      const unnamed = await createSecret(sql, "ünïcödé ✓ secret");
      const unnamedRow = await readSecret(sql, unnamed);
      assert.equal(unnamedRow.decrypted_secret, "ünïcödé ✓ secret");
      assert.equal(unnamedRow.name, null);
      assert.equal(unnamedRow.description, "");
    });

    await t.step("the view has the real column list", async () => {
      const cols = await sql`
        select table_name, array_agg(column_name::text order by ordinal_position) as cols
        from information_schema.columns
        where table_schema = 'vault' group by table_name order by table_name`;
      assert.deepEqual(cols.map((c) => [c.table_name, c.cols]), [
        ["decrypted_secrets", [
          "id",
          "name",
          "description",
          "secret",
          "decrypted_secret",
          "key_id",
          "nonce",
          "created_at",
          "updated_at",
        ]],
        ["secrets", ["id", "name", "description", "secret", "key_id", "nonce", "created_at", "updated_at"]],
      ]);
    });

    await t.step("the stored ciphertext never contains the plaintext", async () => {
      const plaintext = "plaintext-that-must-not-be-stored-0123456789";
      const id = await createSecret(sql, plaintext, "at_rest");
      const [row] = await sql`
        select secret,
               strpos(secret, ${plaintext}) as in_text,
               position(convert_to(${plaintext}, 'utf8') in decode(secret, 'base64')) as in_bytes,
               strpos(secret, encode(convert_to(${plaintext}, 'utf8'), 'base64')) as in_base64
        from vault.secrets where id = ${id}`;
      assert.equal(row.in_text, 0);
      assert.equal(row.in_bytes, 0);
      assert.equal(row.in_base64, 0);
      // Encryption is randomized: the same plaintext twice gives different ciphertexts.
      const again = await createSecret(sql, plaintext);
      const [other] = await sql`select secret from vault.secrets where id = ${again}`;
      assert.notEqual(other.secret, row.secret);
    });

    await t.step("a ciphertext copied onto another row does not decrypt", async () => {
      const a = await createSecret(sql, "secret-a");
      const b = await createSecret(sql, "secret-b");
      await asRole(sql, "postgres", async (tx) => {
        await tx`update vault.secrets set secret = (select secret from vault.secrets where id = ${a})
                 where id = ${b}`;
        await failsWith(tx`select decrypted_secret from vault.decrypted_secrets where id = ${b}`, "39000");
      });
      assert.equal((await readSecret(sql, b)).decrypted_secret, "secret-b");
    });

    await t.step("update_secret changes secret, name and description, and null keeps a field", async () => {
      const id = await createSecret(sql, "first", "upd_name", "first description");
      const before = await readSecret(sql, id);

      await sql`select vault.update_secret(${id}, new_secret => 'second')`;
      let row = await readSecret(sql, id);
      assert.equal(row.decrypted_secret, "second");
      assert.equal(row.name, "upd_name");
      assert.equal(row.description, "first description");
      assert.notEqual(row.secret, before.secret);
      assert.ok(row.updated_at >= before.updated_at);

      await sql`select vault.update_secret(${id}, new_name => 'upd_name_2')`;
      row = await readSecret(sql, id);
      assert.equal(row.name, "upd_name_2");
      assert.equal(row.decrypted_secret, "second");

      await sql`select vault.update_secret(${id}, new_description => 'second description')`;
      row = await readSecret(sql, id);
      assert.equal(row.description, "second description");
      assert.equal(row.name, "upd_name_2");
      assert.equal(row.decrypted_secret, "second");

      // All at once, positionally, as in Vault's own tests.
      await sql`select vault.update_secret(${id}, 'third', 'upd_name_3', 'third description')`;
      row = await readSecret(sql, id);
      assert.deepEqual([row.decrypted_secret, row.name, row.description], [
        "third",
        "upd_name_3",
        "third description",
      ]);
    });

    await t.step("names are unique, and the error does not carry the secret", async () => {
      await createSecret(sql, "original", "dup_name");
      const err = await failsWith(createSecret(sql, "duplicate-plaintext-xyz", "dup_name"), "23505");
      assert.equal(err.constraint_name, "secrets_name_idx");
      assert.ok(!JSON.stringify({ ...err, message: err.message }).includes("duplicate-plaintext-xyz"));
      // Renaming onto a taken name fails the same way; unnamed secrets never clash.
      const other = await createSecret(sql, "other", "dup_other");
      await failsWith(sql`select vault.update_secret(${other}, new_name => 'dup_name')`, "23505");
      await createSecret(sql, "n1");
      await createSecret(sql, "n2");
    });

    await t.step("anon and authenticated can neither read nor write the Vault", async () => {
      const id = await createSecret(sql, "api-roles-must-not-see", "api_roles");
      for (const role of ["anon", "authenticated"]) {
        for (
          const query of [
            (tx: Sql) => tx`select * from vault.secrets`,
            (tx: Sql) => tx`select decrypted_secret from vault.decrypted_secrets`,
            (tx: Sql) => tx`select vault.create_secret('x')`,
            (tx: Sql) => tx`select vault.update_secret(${id}, 'x')`,
            (tx: Sql) =>
              tx`select vault._crypto_aead_det_decrypt(decode('00', 'hex'), decode('00', 'hex'), 0)`,
          ]
        ) {
          await asRole(sql, role, (tx) => failsWith(query(tx), "42501"));
        }
      }
    });

    await t.step("service_role can create, update, read and delete secrets", async () => {
      await asRole(sql, "service_role", async (tx) => {
        const id = await createSecret(tx, "service-secret", "service_name", "by service_role");
        await tx`select vault.update_secret(${id}, new_secret => 'service-secret-2')`;
        const row = await readSecret(tx, id);
        assert.equal(row.decrypted_secret, "service-secret-2");
        const [count] = await tx`select count(*)::int as n from vault.secrets where id = ${id}`;
        assert.equal(count.n, 1);
        await tx`delete from vault.secrets where id = ${id}`;
      });
    });

    await t.step("service_role cannot bypass the API or reach the key", async () => {
      for (
        const query of [
          (tx: Sql) => tx`insert into vault.secrets (secret) values ('plaintext')`,
          (tx: Sql) => tx`update vault.secrets set name = 'x'`,
          (tx: Sql) => tx`select vault._read_key()`,
          (tx: Sql) => tx`select vault._crypto_aead_det_encrypt(decode('00', 'hex'), decode('00', 'hex'), 0)`,
        ]
      ) {
        await asRole(sql, "service_role", (tx) => failsWith(query(tx), "42501"));
      }
    });

    await t.step("security definer functions pin an empty search_path", async () => {
      const rows = await sql`
        select p.proname, p.proconfig
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'vault' and p.prosecdef`;
      assert.ok(rows.length >= 5);
      for (const row of rows) assert.deepEqual(row.proconfig, ['search_path=""'], row.proname);
    });

    await t.step("drop extension and create extension give a working, locked-down Vault again", async () => {
      await sql`drop extension supabase_vault`;
      const [gone] = await sql`select to_regclass('vault.secrets') as t`;
      assert.equal(gone.t, null);
      await sql`create extension supabase_vault`;
      const [ext] = await sql`
        select e.extversion, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'supabase_vault'`;
      assert.deepEqual([ext.extversion, ext.nspname], ["0.3.1", "vault"]);
      const [empty] = await sql`select count(*)::int as n from vault.secrets`;
      assert.equal(empty.n, 0);
      const id = await createSecret(sql, "after-recreate", "after_recreate");
      assert.equal((await readSecret(sql, id)).decrypted_secret, "after-recreate");
      await asRole(sql, "anon", (tx) => failsWith(tx`select * from vault.decrypted_secrets`, "42501"));
      await asRole(sql, "service_role", async (tx) => {
        assert.equal((await readSecret(tx, id)).decrypted_secret, "after-recreate");
      });
      // `if not exists` is a no-op, as the bootstrap and migrations rely on.
      await sql`create extension if not exists supabase_vault`;
    });
  } finally {
    await db.close();
  }
});
