/**
 * The local Auth schema (local/bootstrap/20_auth.sql) keeps GoTrue's contract: auth.users with its
 * columns and unique constraints, the claim helpers reading PostgREST's settings, and Supabase's grants.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { createTestDatabase } from "../_support/db.ts";
import { asRole, failsWith } from "../_support/sql.ts";

type Sql = postgres.Sql | postgres.TransactionSql;

async function claims(tx: Sql) {
  const [row] =
    await tx`select auth.uid() as uid, auth.role() as role, auth.email() as email, auth.jwt() as jwt`;
  return row;
}

/** Inserts a user the way GoTrue's signup does (as supabase_auth_admin), returning its id. */
async function signUp(tx: Sql, fields: { email?: string; phone?: string; is_sso_user?: boolean }) {
  const [row] = await tx`
    insert into auth.users (instance_id, id, aud, role, email, phone, encrypted_password,
                            raw_app_meta_data, raw_user_meta_data, is_sso_user, created_at, updated_at)
    values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
            ${fields.email ?? null}, ${
    fields.phone ?? null
  }, '', '{"provider":"email","providers":["email"]}',
            '{}', ${fields.is_sso_user ?? false}, now(), now())
    returning id`;
  return row.id as string;
}

const USER_ID = "8d0fd2b3-9ca7-4d9e-a95f-9e13a4a4f2c1";
const CLAIMS = { sub: USER_ID, role: "authenticated", email: "a@example.com", aud: "authenticated" };

Deno.test("auth schema stand-in", async (t) => {
  const db = await createTestDatabase();
  const { sql } = db;
  try {
    await t.step("auth.uid(), role(), email() and jwt() read request.jwt.claims", async () => {
      for (const role of ["postgres", "anon", "authenticated", "service_role"]) {
        await asRole(sql, role, async (tx) => {
          await tx`select set_config('request.jwt.claims', ${JSON.stringify(CLAIMS)}, true)`;
          const row = await claims(tx);
          assert.equal(row.uid, USER_ID);
          assert.equal(row.role, "authenticated");
          assert.equal(row.email, "a@example.com");
          assert.deepEqual(row.jwt, CLAIMS);
        });
      }
    });

    await t.step("without claims they return null, and the settings are transaction-local", async () => {
      await sql.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', ${JSON.stringify(CLAIMS)}, true)`;
      });
      const row = await claims(sql);
      assert.deepEqual([row.uid, row.role, row.email, row.jwt], [null, null, null, null]);
      await asRole(sql, "anon", async (tx) => {
        await tx`select set_config('request.jwt.claims', '', true)`;
        assert.equal((await claims(tx)).uid, null);
      });
    });

    await t.step("the legacy request.jwt.claim.* settings are read first, as GoTrue does", async () => {
      const legacy = "11111111-2222-4333-8444-555555555555";
      await asRole(sql, "authenticated", async (tx) => {
        await tx`select set_config('request.jwt.claim.sub', ${legacy}, true),
                        set_config('request.jwt.claim.role', 'service_role', true),
                        set_config('request.jwt.claim.email', 'legacy@example.com', true)`;
        let row = await claims(tx);
        assert.deepEqual([row.uid, row.role, row.email, row.jwt], [
          legacy,
          "service_role",
          "legacy@example.com",
          null,
        ]);
        // With both forms present the legacy one wins; auth.jwt() reads the legacy `request.jwt.claim`.
        await tx`select set_config('request.jwt.claims', ${JSON.stringify(CLAIMS)}, true)`;
        row = await claims(tx);
        assert.equal(row.uid, legacy);
        assert.deepEqual(row.jwt, CLAIMS);
        await tx`select set_config('request.jwt.claim', '{"sub":"x"}', true)`;
        assert.deepEqual((await claims(tx)).jwt, { sub: "x" });
      });
    });

    await t.step("the API roles can use schema auth but not read or write its tables", async () => {
      for (const role of ["anon", "authenticated", "service_role"]) {
        for (
          const query of [
            (tx: Sql) => tx`select * from auth.users`,
            (tx: Sql) => tx`select * from auth.identities`,
            (tx: Sql) => tx`insert into auth.users (id) values (gen_random_uuid())`,
            (tx: Sql) => tx`delete from auth.users`,
          ]
        ) {
          await asRole(sql, role, (tx) => failsWith(query(tx), "42501"));
        }
      }
    });

    await t.step("auth.users has GoTrue's columns in GoTrue's order", async () => {
      const rows = await sql`
        select column_name, is_generated from information_schema.columns
        where table_schema = 'auth' and table_name = 'users' order by ordinal_position`;
      assert.deepEqual(rows.map((r) => r.column_name), [
        "instance_id",
        "id",
        "aud",
        "role",
        "email",
        "encrypted_password",
        "email_confirmed_at",
        "invited_at",
        "confirmation_token",
        "confirmation_sent_at",
        "recovery_token",
        "recovery_sent_at",
        "email_change_token_new",
        "email_change",
        "email_change_sent_at",
        "last_sign_in_at",
        "raw_app_meta_data",
        "raw_user_meta_data",
        "is_super_admin",
        "created_at",
        "updated_at",
        "phone",
        "phone_confirmed_at",
        "phone_change",
        "phone_change_token",
        "phone_change_sent_at",
        "confirmed_at",
        "email_change_token_current",
        "email_change_confirm_status",
        "banned_until",
        "reauthentication_token",
        "reauthentication_sent_at",
        "is_sso_user",
        "deleted_at",
        "is_anonymous",
      ]);
      assert.deepEqual(rows.filter((r) => r.is_generated === "ALWAYS").map((r) => r.column_name), [
        "confirmed_at",
      ]);
    });

    await t.step(
      "signup as supabase_auth_admin: defaults, confirmed_at, unique email and phone",
      async () => {
        await asRole(sql, "supabase_auth_admin", async (tx) => {
          const id = await signUp(tx, { email: "new@example.com" });
          const [user] = await tx`select * from auth.users where id = ${id}`;
          assert.equal(user.is_anonymous, false);
          assert.equal(user.is_sso_user, false);
          assert.equal(user.confirmed_at, null);
          assert.equal(user.phone_change, "");
          assert.deepEqual(user.raw_app_meta_data, { provider: "email", providers: ["email"] });

          await tx`update auth.users set email_confirmed_at = '2026-01-02T00:00:00Z',
                                       phone_confirmed_at = '2026-01-01T00:00:00Z' where id = ${id}`;
          const [confirmed] = await tx`select confirmed_at from auth.users where id = ${id}`;
          assert.equal(confirmed.confirmed_at.toISOString(), "2026-01-01T00:00:00.000Z");

          await tx`savepoint s`;
          const dup = await failsWith(signUp(tx, { email: "new@example.com" }), "23505");
          assert.equal(dup.constraint_name, "users_email_partial_key");
          await tx`rollback to savepoint s`;
          // SSO accounts may share an email.
          await signUp(tx, { email: "new@example.com", is_sso_user: true });

          await signUp(tx, { phone: "15550001111" });
          await tx`savepoint s`;
          const phone = await failsWith(signUp(tx, { phone: "15550001111" }), "23505");
          assert.equal(phone.constraint_name, "users_phone_key");
          await tx`rollback to savepoint s`;

          // Several users without email or phone are fine (anonymous sign-ins).
          await signUp(tx, {});
          await signUp(tx, {});
        });
      },
    );

    await t.step(
      "identities: generated lowercase email, unique per provider, deleted with the user",
      async () => {
        await asRole(sql, "supabase_auth_admin", async (tx) => {
          const id = await signUp(tx, { email: "mixed@example.com" });
          await tx`
          insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
          values (${id}, ${id}, ${tx.json({ sub: id, email: "Mixed@Example.com" })}, 'email', now(), now())`;
          const [identity] = await tx`select email from auth.identities where user_id = ${id}`;
          assert.equal(identity.email, "mixed@example.com");
          await tx`savepoint s`;
          const err = await failsWith(
            tx`insert into auth.identities (provider_id, user_id, identity_data, provider)
             values (${id}, ${id}, '{}', 'email')`,
            "23505",
          );
          assert.equal(err.constraint_name, "identities_provider_id_provider_unique");
          await tx`rollback to savepoint s`;
          await tx`delete from auth.users where id = ${id}`;
          const [left] = await tx`select count(*)::int as n from auth.identities where user_id = ${id}`;
          assert.equal(left.n, 0);
        });
      },
    );

    await t.step("triggers on auth.users run as supabase_auth_admin, as on Supabase", async () => {
      await sql.begin(async (tx) => {
        await tx`create table public.t_profiles (id uuid primary key)`;
        await tx`create function public.t_invoker() returns trigger language plpgsql as $$
                 begin insert into public.t_profiles (id) values (new.id); return new; end $$`;
        await tx`create function public.t_definer() returns trigger language plpgsql security definer
                 set search_path = '' as $$
                 begin insert into public.t_profiles (id) values (new.id); return new; end $$`;
      });
      try {
        await sql`create trigger t_invoker after insert on auth.users
                  for each row execute function public.t_invoker()`;
        // A security invoker trigger function fails signup: GoTrue's role has no rights on public tables.
        await asRole(
          sql,
          "supabase_auth_admin",
          (tx) => failsWith(signUp(tx, { email: "x@example.com" }), "42501"),
        );
        await sql`drop trigger t_invoker on auth.users`;
        await sql`create trigger t_definer after insert on auth.users
                  for each row execute function public.t_definer()`;
        await asRole(sql, "supabase_auth_admin", async (tx) => {
          const id = await signUp(tx, { email: "y@example.com" });
          await tx`reset role`;
          const rows = await tx`select id from public.t_profiles where id = ${id}`;
          assert.equal(rows.length, 1);
        });
      } finally {
        await sql`drop trigger if exists t_invoker on auth.users`;
        await sql`drop trigger if exists t_definer on auth.users`;
        await sql`drop function public.t_invoker(), public.t_definer()`;
        await sql`drop table public.t_profiles`;
      }
    });

    await t.step("claim helpers pin an empty search_path and anon may execute them", async () => {
      const rows = await sql`
        select p.proname, p.proconfig, has_function_privilege('anon', p.oid, 'execute') as anon_exec
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' order by p.proname`;
      assert.deepEqual(rows.map((r) => [r.proname, r.proconfig, r.anon_exec]), [
        ["email", ['search_path=""'], true],
        ["jwt", ['search_path=""'], true],
        ["role", ['search_path=""'], true],
        ["uid", ['search_path=""'], true],
      ]);
    });
  } finally {
    await db.close();
  }
});
