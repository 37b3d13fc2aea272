/**
 * Batches that name several subscription versions (one statement, many subscribers): the processor
 * writes them a slice at a time, and the slices together write exactly what was listed, with the
 * listed ids; a subscription deleted while its delivery is being written does not fail the run.
 * (What a slice costs is measured by bench/fan_out_slices_bench.ts.)
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../_support/db.ts";
import { heldTransaction, waitUntilBlocked } from "../_support/held_transaction.ts";
import { isRemote } from "../_support/stack.ts";

/** Tests of the database alone: they need the local template (LOCAL_PG_*). */
const localOnly = { ignore: isRemote };

const TENANTS = 100;
const CHANGES = 10_000;
/** Tenant 1 also has these plugins installed, each subscribed to work order INSERTs. */
const MORE_PLUGINS = 6;
// Not a multiple of tenant 1's 7 versions, so that slices end in the middle of a change's deliveries.
const SLICE = 333;

Deno.test({
  name:
    "a statement across 100 subscribed tenants queues one batch per tenant, and slices of them write exactly the listed deliveries, with the listed ids",
  ...localOnly,
  fn: async () => {
    const db = await createTestDatabase();
    const { sql } = db;
    try {
      // 100 tenants, each with the same plugin installed and subscribed to work order INSERTs; tenant 1
      // has six more such plugins.
      await sql.unsafe(`
        set client_min_messages = error;
        do $$
        declare
          v_tenant uuid;
          v_installation uuid;
        begin
          perform public.rpc_register_plugin('versions_review', 'Versions review');
          perform public.rpc_register_plugin('versions_review_' || p, 'Versions review ' || p)
          from generate_series(1, ${MORE_PLUGINS}) p;
          for k in 1..${TENANTS} loop
            insert into public.tenants (name) values ('Review tenant ' || k) returning id into v_tenant;
            perform vault.create_secret('review-signing-key-' || k, 'versions_review_' || k);
            v_installation := public.rpc_install_plugin(v_tenant, 'versions_review',
              '{"webhook_url": "https://hooks.example.com/review"}', 'versions_review_' || k);
            perform public.rpc_upsert_webhook_subscription(v_installation, 'public', 'work_orders', array['INSERT']);
            if k = 1 then
              perform public.rpc_upsert_webhook_subscription(
                public.rpc_install_plugin(v_tenant, 'versions_review_' || p,
                  '{"webhook_url": "https://hooks.example.com/review"}', 'versions_review_1'),
                'public', 'work_orders', array['INSERT'])
              from generate_series(1, ${MORE_PLUGINS}) p;
            end if;
          end loop;
        end
        $$;`);
      // One statement (an admin's bulk import, say) writing 100 work orders in each tenant.
      await sql`
        insert into public.work_orders (tenant_id, title)
        select t.id, 'Imported ' || n
        from generate_series(1, ${CHANGES}::int) as n
        join (select id, row_number() over (order by name) - 1 as k from public.tenants
              where name like 'Review tenant %') t on t.k = n % ${TENANTS}::int`;
      const batches = await sql<{ changes: number; versions: number; n: number }[]>`
        select cardinality(audit_ids) as changes, cardinality(subscription_version_ids) as versions,
          count(*)::int as n
        from int.plugin_delivery_batches group by 1, 2 order by 2`;
      assert.deepEqual(
        batches.map((b) => ({ ...b })),
        [{ changes: 100, versions: 1, n: TENANTS - 1 }, { changes: 100, versions: 1 + MORE_PLUGINS, n: 1 }],
        "one batch per tenant, holding that tenant's 100 changes and naming its subscriptions",
      );

      const listed = await sql<{ id: string; installation_id: string; audit_id: string }[]>`
        select id, installation_id, audit_id from int.plugin_queued_deliveries`;
      assert.equal(
        listed.length,
        CHANGES + 100 * MORE_PLUGINS,
        "each change is queued to each of its tenant's subscriptions",
      );

      // What the processor does every run, one slice per call, until the queue is empty.
      let written = 0;
      for (let n = 0; n < 100; n++) {
        const [{ w }] = await sql`select private.expand_plugin_delivery_batches(${SLICE}::int) as w`;
        if (w === 0) break;
        written += w;
      }
      assert.equal(written, listed.length, "the slices write every listed delivery once");
      const rows = await sql<{ id: string; installation_id: string; audit_id: string }[]>`
        select id, installation_id, audit_id from int.plugin_deliveries`;
      assert.deepEqual(
        rows.map((r) => `${r.id} ${r.installation_id} ${r.audit_id}`).sort(),
        listed.map((q) => `${q.id} ${q.installation_id} ${q.audit_id}`).sort(),
        "with the ids they were listed with",
      );
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "a subscription deleted while the processor writes its queued delivery does not fail the run: the delivery is written without a subscription",
  ...localOnly,
  fn: async () => {
    const db = await createTestDatabase();
    const { sql } = db;
    try {
      const [{ tenant_id: tenantId }] = await sql`
        insert into public.tenants (name) values ('Review delete race') returning id as tenant_id`;
      await sql`select vault.create_secret('review-delete-key', 'versions_review_delete')`;
      await sql`select public.rpc_register_plugin('versions_review_delete', 'Versions review delete')`;
      const [{ id: installationId }] = await sql`
        select public.rpc_install_plugin(${tenantId}, 'versions_review_delete',
          ${sql.json({ webhook_url: "https://hooks.example.com/review" })}, 'versions_review_delete') as id`;
      const [{ id: subscriptionId }] = await sql`
        select public.rpc_upsert_webhook_subscription(${installationId}, 'public', 'work_orders',
          array['INSERT']) as id`;
      await sql`insert into public.work_orders (tenant_id, title) values (${tenantId}, 'Queued')`;

      // A tenant admin deletes the subscription; its transaction has not committed yet.
      const deletion = heldTransaction(sql, async (tx) => {
        await tx`delete from int.plugin_subscriptions where id = ${subscriptionId}`;
      });
      await deletion.result;
      // The processor's step 1 meanwhile: it still sees the subscription and waits for the deletion.
      const connection = await sql.reserve();
      try {
        const [{ pid }] = await connection`select pg_backend_pid() as pid`;
        const expanding = connection`select private.expand_plugin_delivery_batches(100) as written`
          .then((rows) => ({ written: rows[0].written as number }), (e: Error) => ({ error: e.message }));
        await waitUntilBlocked(sql, pid, "the processor to wait for the deletion");
        deletion.release();
        await deletion.done;
        const outcome = await expanding;
        assert.deepEqual(outcome, { written: 1 }, "the run writes the queued delivery instead of failing");
      } finally {
        connection.release();
      }
      const rows = await sql`select subscription_id from int.plugin_deliveries`;
      assert.deepEqual(rows.map((r) => r.subscription_id), [null], "as the delete RPC promises: still sent");
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "a subscription created while its installation is switched on or off in another transaction follows the installation's final state",
  ...localOnly,
  fn: async () => {
    const db = await createTestDatabase();
    const { sql } = db;
    try {
      const [{ installation_id }] = await sql<{ installation_id: string }[]>`
        with t as (insert into public.tenants (name) values ('Live race') returning id),
        s as (select vault.create_secret('live-race-signing-key', 'live_race_key')),
        p as (select public.rpc_register_plugin('live_race', 'Live race'))
        select public.rpc_install_plugin(t.id, 'live_race', '{"webhook_url": "https://hooks.example.com/race"}',
          'live_race_key') as installation_id
        from t, s, p`;
      const liveAndActive = async () => {
        const [row] = await sql<{ is_live: boolean; is_active: boolean }[]>`
          select s.is_live, i.is_active from int.plugin_subscriptions s
          join int.plugin_installations i on i.id = s.installation_id where i.id = ${installation_id}`;
        return row;
      };
      for (const [from, to] of [[false, true], [true, false]]) {
        await sql`delete from int.plugin_subscriptions where installation_id = ${installation_id}`;
        await sql`update int.plugin_installations set is_active = ${from} where id = ${installation_id}`;
        // The subscription is written (is_live worked out from the installation as it is now) and its
        // transaction stays open while another one switches the installation.
        const held = heldTransaction(
          sql,
          (tx) =>
            tx`insert into int.plugin_subscriptions (installation_id, tenant_id, table_schema, table_name, operations)
            select id, tenant_id, 'public', 'work_orders', '{INSERT}' from int.plugin_installations
            where id = ${installation_id}`,
        );
        await held.result;
        const connection = await sql.reserve();
        try {
          const [{ pid }] = await connection<{ pid: number }[]>`select pg_backend_pid() as pid`;
          let ended = false;
          const switched = connection`
            update int.plugin_installations set is_active = ${to} where id = ${installation_id}`
            .finally(() => ended = true);
          // The switch either waits for the subscription's transaction or ends first: both are fine,
          // as long as the subscription then says what the installation says.
          await waitUntilBlocked(sql, pid, "the switch to wait or end", { orEnded: () => ended });
          held.release();
          await held.done;
          await switched;
        } finally {
          connection.release();
        }
        assert.deepEqual(
          { ...(await liveAndActive()) },
          { is_live: to, is_active: to },
          `installation switched from ${from} to ${to}: the subscription is live exactly when it is active`,
        );
      }
    } finally {
      await db.close();
    }
  },
});
