/**
 * What the processor pays to write one slice of a large queued statement, side by side for three
 * shapes of the same 10,000-change INSERT:
 * - one: all in one tenant with one subscription (one batch naming one subscription version);
 * - tenants: spread over 100 tenants with one subscription each (a bulk import: one batch per tenant);
 * - wide: all in one tenant with 20 subscriptions (one batch naming 20 versions).
 * Each run writes 20 slices of 500 positions with private.expand_plugin_delivery_batches, as pg_cron's
 * runs would; in every shape a position is a delivery, so each slice writes 500 rows. A slice should
 * cost about the same in all three: its work grows with the slice, not with the batch.
 * Writes bench/results/fan_out_slices.json.
 *
 * Run with `deno task bench fan_out_slices` (it starts a throwaway cluster and sets
 * LOCAL_PG_ADMIN_URL and LOCAL_PG_TEMPLATE, as the tests get them).
 */
import type postgres from "postgres";
import { createTestDatabase } from "../tests/_support/db.ts";
import { fmt, median, timeRuns, writeResult } from "./_support.ts";

const CHANGES = 10_000;
const TENANTS = 100;
const WIDE = 20;
const SLICE = 500;
const SLICES = 20;
const RUNS = 5;
const SHAPES = ["one", "tenants", "wide"] as const;
type Shape = typeof SHAPES[number];

if (!Deno.env.get("LOCAL_PG_ADMIN_URL") || !Deno.env.get("LOCAL_PG_TEMPLATE")) {
  console.error("Run this with `deno task bench fan_out_slices`, which starts a cluster for it.");
  Deno.exit(2);
}

/** The three statements, each queued alone and its batches saved, so every run starts from them. */
async function setUp(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(`
    set client_min_messages = error;
    select public.rpc_register_plugin('bench_slices_' || p, 'Bench slices ' || p) from generate_series(1, ${WIDE}) p;
    create temp table bench_tenants as
    with t as (insert into public.tenants (name) select 'Bench tenant ' || k from generate_series(1, ${TENANTS} + 1) k
               returning id, name)
    select substr(name, 14)::int as k, id from t;
    select vault.create_secret('bench-slices-key-' || k, 'bench_slices_key_' || k) from bench_tenants;
    -- tenants 1 to ${TENANTS}: one subscription each; tenant ${TENANTS} + 1: ${WIDE}
    select public.rpc_upsert_webhook_subscription(
      public.rpc_install_plugin(t.id, 'bench_slices_' || p, '{"webhook_url": "https://hooks.example.com/slices"}',
        'bench_slices_key_' || t.k),
      'public', 'work_orders', array['INSERT'])
    from bench_tenants t
    cross join generate_series(1, case when t.k > ${TENANTS} then ${WIDE} else 1 end) p;
    create table bench_slice_batches (shape text, like int.plugin_delivery_batches);

    insert into public.work_orders (tenant_id, title)
    select t.id, 'One ' || n from generate_series(1, ${CHANGES}) n, bench_tenants t where t.k = 1;
    insert into bench_slice_batches select 'one', * from int.plugin_delivery_batches;
    delete from int.plugin_delivery_batches;

    insert into public.work_orders (tenant_id, title)
    select t.id, 'Tenants ' || n from generate_series(1, ${CHANGES}) n join bench_tenants t on t.k = 1 + n % ${TENANTS};
    insert into bench_slice_batches select 'tenants', * from int.plugin_delivery_batches;
    delete from int.plugin_delivery_batches;

    insert into public.work_orders (tenant_id, title)
    select t.id, 'Wide ' || n from generate_series(1, ${CHANGES}) n, bench_tenants t where t.k = ${TENANTS} + 1;
    insert into bench_slice_batches select 'wide', * from int.plugin_delivery_batches;
    delete from int.plugin_delivery_batches;
  `);
  const shapes = await sql<{ shape: string; batches: number; versions: number }[]>`
    select shape, count(*)::int as batches, max(cardinality(subscription_version_ids))::int as versions
    from bench_slice_batches group by shape order by shape`;
  const expected = [
    { shape: "one", batches: 1, versions: 1 },
    { shape: "tenants", batches: TENANTS, versions: 1 },
    { shape: "wide", batches: 1, versions: WIDE },
  ];
  if (JSON.stringify(shapes.map((s) => ({ ...s }))) !== JSON.stringify(expected)) {
    throw new Error(`unexpected batches: ${JSON.stringify(shapes)}`);
  }
}

/** Writes SLICES slices of the saved batches of one shape; returns the milliseconds it took. */
async function writeSlices(sql: postgres.Sql, shape: Shape): Promise<number> {
  await sql`truncate int.plugin_deliveries, int.plugin_delivery_batches cascade`;
  await sql`
    insert into int.plugin_delivery_batches overriding system value
    select id, subscription_version_ids, audit_ids, expanded, delivery_id_seed, created_at
    from bench_slice_batches where shape = ${shape}`;
  const [elapsed] = await timeRuns(1, async () => {
    for (let n = 0; n < SLICES; n++) await sql`select private.expand_plugin_delivery_batches(${SLICE}::int)`;
  });
  const [{ written }] = await sql<
    { written: number }[]
  >`select count(*)::int as written from int.plugin_deliveries`;
  if (written !== SLICE * SLICES) {
    throw new Error(`${shape}: expected ${SLICE * SLICES} rows, wrote ${written}`);
  }
  return elapsed;
}

async function main() {
  const db = await createTestDatabase();
  const sql = db.sql;
  try {
    await setUp(sql);
    const runs: Record<Shape, number[]> = { one: [], tenants: [], wide: [] };
    for (const shape of SHAPES) await writeSlices(sql, shape); // warm-up
    for (let run = 0; run < RUNS; run++) {
      // Rotate the order so that no shape always runs on a warmer machine.
      for (let i = 0; i < SHAPES.length; i++) {
        const shape = SHAPES[(run + i) % SHAPES.length];
        runs[shape].push(await writeSlices(sql, shape));
      }
    }
    const perSlice = (shape: Shape) => median(runs[shape]) / SLICES;
    const ratio = (shape: Shape) => perSlice(shape) / perSlice("one");
    console.log(
      `a slice of ${SLICE} deliveries of a ${CHANGES}-change INSERT: one tenant and subscription ` +
        `${fmt(perSlice("one"))}; across ${TENANTS} tenants ${fmt(perSlice("tenants"))} (${
          ratio("tenants").toFixed(2)
        }x); one tenant with ${WIDE} subscriptions ${fmt(perSlice("wide"))} (${ratio("wide").toFixed(2)}x)`,
    );
    writeResult("fan_out_slices", {
      changes: CHANGES,
      slice: SLICE,
      slices: SLICES,
      ms_per_slice: { one: perSlice("one"), tenants: perSlice("tenants"), wide: perSlice("wide") },
      ratio_to_one: { tenants: ratio("tenants"), wide: ratio("wide") },
      runs_ms: runs,
    });
  } finally {
    await db.close();
  }
}

await main();
