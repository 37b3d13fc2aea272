/**
 * The fan-out under transactions and concurrency, on a database cloned from the migrated template:
 * deliveries commit and roll back with their change, an uninstall racing a change leaves no delivery
 * to send or list, and a large statement queues every delivery with a unique id that its body carries.
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

/** Writes the queued deliveries as delivery rows (the processor's step 1); returns how many. */
async function expand(sql: postgres.Sql): Promise<number> {
  const [{ n }] = await sql`select private.expand_plugin_delivery_batches(100000) as n`;
  return n;
}

/** rpc_list_recent_deliveries of a tenant as the service role calls it (through the API). */
async function listRecent(
  sql: postgres.Sql,
  tenantId: string,
): Promise<{ id: string; installation_id: string }[]> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
    await tx`set local role service_role`;
    return await tx<{ id: string; installation_id: string }[]>`
      select id, installation_id from public.rpc_list_recent_deliveries(${tenantId}, null, null, 500)`;
  });
}

Deno.test({
  name: "deliveries commit and roll back together with the change that queued them",
  ...localOnly,
  fn: () =>
    withDatabase(async ({ sql }) => {
      const { tenantId } = await setUp(sql, 1);
      await sql.begin(async (tx) => {
        await tx`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Rolled back')`;
        assert.equal(await count(tx, "int.plugin_queued_deliveries"), 1, "queued inside the transaction");
        await tx`select 1/0`;
      }).then(
        () => assert.fail("the transaction should have failed"),
        (e: postgres.PostgresError) => assert.equal(e.code, "22012"),
      );
      assert.equal(await count(sql, "audit.entity_changes"), 0);
      assert.equal(
        await count(sql, "int.plugin_queued_deliveries"),
        0,
        "nothing queued for a rolled-back change",
      );
      assert.equal(await count(sql, "int.plugin_delivery_batches"), 0);
      assert.equal(await expand(sql), 0, "the processor finds nothing to write");
      assert.equal(await count(sql, "int.plugin_deliveries"), 0, "no delivery for a rolled-back change");

      await sql`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Committed')`;
      const [queued] = await sql`select id, payload from int.plugin_queued_deliveries`;
      assert.equal(
        await count(sql, "int.plugin_queued_deliveries"),
        1,
        "one delivery for a committed change",
      );
      assert.equal(await expand(sql), 1);
      const written = await sql`select id, payload from int.plugin_deliveries`;
      assert.deepEqual(written.map((d) => ({ ...d })), [{ ...queued }], "written as it was queued");
      assert.equal(await count(sql, "int.plugin_queued_deliveries"), 0);
    }),
});

Deno.test({
  name:
    "an uninstall that commits while a change is being fanned out leaves none of that installation's deliveries to send or list: the processor skips its part of the batch",
  ...localOnly,
  fn: () =>
    withDatabase(async ({ sql }) => {
      // Two installations see the same change; only the first is uninstalled.
      const { tenantId, installationIds: [uninstalledId, keptId] } = await setUp(sql, 2);
      let releaseWriter!: () => void;
      const writerMayCommit = new Promise<void>((resolve) => (releaseWriter = resolve));
      let writerQueued!: () => void;
      const queued = new Promise<void>((resolve) => (writerQueued = resolve));

      const writer = sql.begin(async (tx) => {
        await tx`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Racing the uninstall')`;
        assert.equal(await count(tx, "int.plugin_queued_deliveries"), 2, "queued for both installations");
        writerQueued();
        await writerMayCommit;
      });
      try {
        await queued;
        // Batches carry no foreign key, so the uninstall does not wait for the open transaction: it
        // commits first (taking its subscription versions with it), and the change commits after it
        // with a batch that still names the removed installation's version.
        const uninstall = sql`select public.rpc_uninstall_plugin(${uninstalledId})`.execute();
        const outcome = await Promise.race([
          uninstall.then(() => "committed"),
          new Promise((resolve) => setTimeout(resolve, 5_000, "still waiting")),
        ]);
        assert.equal(outcome, "committed", "the uninstall commits while the change is still open");
      } finally {
        releaseWriter();
        await writer;
      }
      assert.equal(await count(sql, "int.plugin_installations"), 1);

      // Listed: only the kept installation's delivery, although the batch still names both.
      assert.deepEqual(
        (await sql`select cardinality(subscription_version_ids) as n from int.plugin_delivery_batches`).map((
          b,
        ) => b.n),
        [2],
      );
      assert.deepEqual((await listRecent(sql, tenantId)).map((d) => d.installation_id), [keptId]);

      // Sent: the processor skips the removed installation and sends only the kept one's delivery.
      const [{ counts }] = await sql`select public.rpc_process_plugin_deliveries(500) as counts`;
      assert.deepEqual([counts.queued, counts.sent, counts.not_sent], [1, 1, 0]);
      const requests = await sql`select url from net.http_request_queue`;
      assert.deepEqual(requests.map((r) => r.url), ["https://hooks.example.com/2"]);
      assert.equal(await count(sql, "int.plugin_delivery_batches"), 0, "the written batch is deleted");
      assert.equal(await count(sql, "int.plugin_queued_deliveries"), 0);
      const rows = await sql`select installation_id from int.plugin_deliveries`;
      assert.deepEqual(rows.map((r) => r.installation_id), [keptId], "no delivery outlives its installation");
      assert.deepEqual((await listRecent(sql, tenantId)).map((d) => d.installation_id), [keptId]);
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

      // Queued with the statement, and then written as delivery rows exactly as queued.
      const stats = (table: string) =>
        sql.unsafe(`
          select count(*)::int as deliveries,
            count(distinct d.id)::int as ids,
            count(distinct d.audit_id)::int as changes,
            count(*) filter (where d.payload ->> 'id' <> d.id::text)::int as wrong_ids,
            count(*) filter (where d.payload ->> 'installation_id' <> d.installation_id::text)::int
              as wrong_installations,
            count(*) filter (where d.payload #>> '{data,record_id}' <> c.record_id)::int as wrong_records,
            max(octet_length(d.payload::text))::int as largest_body,
            md5(string_agg(d.id::text || d.payload::text, ',' order by d.id)) as digest
          from ${table} d join audit.entity_changes c on c.id = d.audit_id`);
      const perInstallation = (table: string) =>
        sql.unsafe(`select installation_id, count(*)::int as n from ${table} group by 1 order by 1`);
      const expected = {
        deliveries: 30000,
        ids: 30000,
        changes: 10000,
        wrong_ids: 0,
        wrong_installations: 0,
        wrong_records: 0,
        largest_body: true,
      };
      const expectedPerInstallation = [...installationIds].sort().map((id) => ({ id, n: 10000 }));

      const [{ digest: queuedDigest, ...queued }] = await stats("int.plugin_queued_deliveries");
      assert.deepEqual({ ...queued, largest_body: queued.largest_body < 1024 }, expected);
      assert.deepEqual(
        (await perInstallation("int.plugin_queued_deliveries")).map((r) => ({
          id: r.installation_id,
          n: r.n,
        })),
        expectedPerInstallation,
      );

      assert.equal(await expand(sql), 30000);
      assert.equal(await count(sql, "int.plugin_queued_deliveries"), 0);
      const [{ digest: writtenDigest, ...written }] = await stats("int.plugin_deliveries");
      assert.deepEqual({ ...written, largest_body: written.largest_body < 1024 }, expected);
      assert.equal(
        writtenDigest,
        queuedDigest,
        "every delivery was written with the id and body it was queued with",
      );
      assert.deepEqual(
        (await perInstallation("int.plugin_deliveries")).map((r) => ({ id: r.installation_id, n: r.n })),
        expectedPerInstallation,
      );
    }),
});
