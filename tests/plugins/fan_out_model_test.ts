/**
 * The fan-out under transactions and concurrency, on a database cloned from the migrated template:
 * deliveries commit and roll back with their change, a concurrent uninstall never leaves deliveries
 * behind, and a large statement queues every delivery with a unique id that its body carries.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { createTestDatabase, type TestDatabase } from "../_support/db.ts";
import { isRemote } from "../_support/stack.ts";

/** Tests of the database alone: they need the local template (LOCAL_PG_*). */
const localOnly = { ignore: isRemote };

interface Setup {
  tenantId: string;
  installationIds: string[];
}

/** A tenant with `plugins` installed plugins, each subscribed to every work order change. */
async function setUp(sql: postgres.Sql, plugins: number): Promise<Setup> {
  const [{ id: userId }] = await sql`
    insert into auth.users (id, email) values (gen_random_uuid(), 'fan-out-admin@example.com') returning id`;
  const [{ tenant_id: tenantId }] =
    await sql`select public.rpc_create_tenant('Fan-out tenant', ${userId}) as tenant_id`;
  await sql`select vault.create_secret('fan-out-signing-key', 'fan_out_hmac')`;
  const installationIds: string[] = [];
  for (let n = 1; n <= plugins; n++) {
    await sql`select public.rpc_register_plugin(${`fan_out_${n}`}, ${`Fan-out ${n}`})`;
    const [{ id }] = await sql`
      select public.rpc_install_plugin(${tenantId}, ${`fan_out_${n}`},
        ${sql.json({ webhook_url: `https://hooks.example.com/${n}` })}, 'fan_out_hmac') as id`;
    await sql`
      select public.rpc_upsert_webhook_subscription(${id}, 'public', 'work_orders', array['INSERT', 'UPDATE', 'DELETE'])`;
    installationIds.push(id);
  }
  return { tenantId, installationIds };
}

async function withDatabase(fn: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await createTestDatabase();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function count(sql: postgres.Sql | postgres.TransactionSql, table: string): Promise<number> {
  const [{ n }] = await sql.unsafe(`select count(*)::int as n from ${table}`);
  return n;
}

Deno.test({
  name: "deliveries commit and roll back together with the change that queued them",
  ...localOnly,
  fn: () =>
    withDatabase(async ({ sql }) => {
      const { tenantId } = await setUp(sql, 1);
      await sql.begin(async (tx) => {
        await tx`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Rolled back')`;
        assert.equal(await count(tx, "int.plugin_deliveries"), 1, "queued inside the transaction");
        await tx`select 1/0`;
      }).catch((e: postgres.PostgresError) => assert.equal(e.code, "22012"));
      assert.equal(await count(sql, "audit.entity_changes"), 0);
      assert.equal(await count(sql, "int.plugin_deliveries"), 0, "nothing queued for a rolled-back change");

      await sql`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Committed')`;
      assert.equal(await count(sql, "int.plugin_deliveries"), 1, "one delivery for a committed change");
    }),
});

Deno.test({
  name: "uninstalling while a change is being fanned out waits for it and then removes its deliveries",
  ...localOnly,
  fn: () =>
    withDatabase(async ({ sql }) => {
      const { tenantId, installationIds: [installationId] } = await setUp(sql, 1);
      let releaseWriter!: () => void;
      const writerMayCommit = new Promise<void>((resolve) => (releaseWriter = resolve));
      let writerQueued!: () => void;
      const queued = new Promise<void>((resolve) => (writerQueued = resolve));

      const writer = sql.begin(async (tx) => {
        await tx`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Racing the uninstall')`;
        writerQueued();
        await writerMayCommit;
      });
      let uninstall: Promise<unknown> | undefined;
      try {
        await queued;
        // postgres.js queries are lazy: execute() sends it now, while the writer is still open.
        uninstall = sql`select public.rpc_uninstall_plugin(${installationId})`.execute();
        // The uninstall must wait for the writer (its delivery holds a key-share lock on the installation).
        let waiting = false;
        for (let i = 0; i < 100 && !waiting; i++) {
          const [{ n }] = await sql`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
              and query like '%rpc_uninstall_plugin%'`;
          waiting = n === 1;
          if (!waiting) await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(waiting, "the uninstall waits for the transaction that queued a delivery");
      } finally {
        releaseWriter();
        await writer;
        await uninstall;
      }

      assert.equal(await count(sql, "int.plugin_installations"), 0);
      assert.equal(await count(sql, "int.plugin_deliveries"), 0, "no delivery outlives its installation");
      assert.equal(await count(sql, "audit.entity_changes"), 1, "the change itself is kept");
    }),
});

Deno.test({
  name: "a 10,000-row insert queues 30,000 deliveries for three subscriptions, each body carrying its own id",
  ...localOnly,
  fn: () =>
    withDatabase(async ({ sql }) => {
      const { tenantId, installationIds } = await setUp(sql, 3);
      await sql`
        insert into public.work_orders (tenant_id, title)
        select ${tenantId}, 'Bulk ' || g from generate_series(1, 10000) g`;
      const [stats] = await sql`
        select count(*)::int as deliveries,
          count(distinct d.id)::int as ids,
          count(distinct d.audit_id)::int as changes,
          count(*) filter (where d.payload ->> 'id' <> d.id::text)::int as wrong_ids,
          count(*) filter (where d.payload ->> 'installation_id' <> d.installation_id::text)::int as wrong_installations,
          count(*) filter (where d.payload #>> '{data,record_id}' <> c.record_id)::int as wrong_records,
          max(octet_length(d.payload::text))::int as largest_body
        from int.plugin_deliveries d join audit.entity_changes c on c.id = d.audit_id`;
      assert.deepEqual({ ...stats, largest_body: stats.largest_body < 1024 }, {
        deliveries: 30000,
        ids: 30000,
        changes: 10000,
        wrong_ids: 0,
        wrong_installations: 0,
        wrong_records: 0,
        largest_body: true,
      });
      const perInstallation = await sql`
        select installation_id, count(*)::int as n from int.plugin_deliveries group by 1 order by 1`;
      assert.deepEqual(
        perInstallation.map((r) => ({ id: r.installation_id, n: r.n })),
        [...installationIds].sort().map((id) => ({ id, n: 10000 })),
      );
    }),
});
