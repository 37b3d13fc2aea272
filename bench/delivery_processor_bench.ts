/**
 * The delivery processor in SQL, for the 20,000 deliveries a 20,000-row insert queued, with no pg_net
 * worker running (nothing is sent; only the database side is measured):
 * - the whole run: write the delivery rows from the batches + claim (for update skip locked) + sign
 *   (HMAC-SHA256 twice, key from Vault) + hand to net.http_post (target: at least 5,000 deliveries per
 *   second);
 * - the same run when the rows are already written (claim + sign + send only);
 * - side by side: that claim + net.http_post + update loop without signing (no Vault read, no HMAC;
 *   constant header values of the same size), to show what signing costs.
 * Writes bench/results/delivery_processor.json.
 *
 * Run with `deno task bench delivery_processor` (it starts a throwaway cluster and sets
 * LOCAL_PG_ADMIN_URL and LOCAL_PG_TEMPLATE, as the tests get them).
 */
import type postgres from "postgres";
import { createTestDatabase } from "../tests/_support/db.ts";
import { median, writeResult } from "./_support.ts";

const DELIVERIES = 20_000;
const RUNS = 3;
const TARGET_PER_SECOND = 5_000;

if (!Deno.env.get("LOCAL_PG_ADMIN_URL") || !Deno.env.get("LOCAL_PG_TEMPLATE")) {
  console.error("Run this with `deno task bench delivery_processor`, which starts a cluster for it.");
  Deno.exit(2);
}

/**
 * A tenant with one installation subscribed to work_orders INSERTs, and one insert that queued
 * DELIVERIES deliveries. The batch is saved, so that every run can start from the same queue.
 */
async function setUp(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    const [{ id: tenantId }] = await tx`insert into public.tenants (name) values ('Bench') returning id`;
    await tx`select vault.create_secret('bench-secret-0123456789abcdef', 'bench_delivery_secret')`;
    await tx`select public.rpc_register_plugin('bench_receiver', 'Bench', 'benchmark', true, true)`;
    const [{ id: installationId }] = await tx`
      select public.rpc_install_plugin(${tenantId}, 'bench_receiver',
        '{"webhook_url": "https://hooks.example.com/bench", "headers": {"X-Partner": "bench"}}'::jsonb,
        'bench_delivery_secret') as id`;
    await tx`select public.rpc_upsert_webhook_subscription(${installationId}, 'public', 'work_orders', array['INSERT'])`;
    await tx`
      insert into public.work_orders (tenant_id, title)
      select ${tenantId}, 'Bench order ' || n from generate_series(1, ${DELIVERIES}::int) as n`;
  });
  await sql.unsafe(`create table bench_batches as select * from int.plugin_delivery_batches`);
  // The baseline: the processor's claim and send step with the signing taken out (same header names,
  // constant values of the same length), so the difference between the two is the cost of signing.
  await sql.unsafe(`
    create schema bench;
    create function bench.send_unsigned(p_limit int) returns int language plpgsql as $$
    declare
      v_claimed uuid[];
      v_sent int;
    begin
      select array_agg(c.id) into v_claimed from (
        select d.id from int.plugin_deliveries d
        where d.status in ('pending', 'failed') and d.next_attempt_at <= now()
          and exists (
            select 1 from int.plugin_installations i join int.plugins p on p.key = i.plugin_key
            where i.id = d.installation_id and i.is_active and p.is_active)
        order by d.next_attempt_at
        limit p_limit
        for update of d skip locked
      ) c;
      with installation as materialized (
        select i.id, i.config ->> 'webhook_url' as url,
          private.plugin_delivery_timeout_ms(i.config) as timeout_ms,
          private.plugin_delivery_custom_headers(i.config -> 'headers') as custom_headers
        from int.plugin_installations i
        where i.id in (select d.installation_id from int.plugin_deliveries d where d.id = any (v_claimed))
      ),
      sent as materialized (
        select d.id, inst.timeout_ms,
          net.http_post(
            url := inst.url,
            body := d.payload,
            headers := inst.custom_headers || jsonb_build_object(
              'Content-Type', 'application/json',
              'X-Plugin-Delivery-Id', d.id,
              'X-Plugin-Event-Type', d.event_type,
              'X-Plugin-Signature', repeat('0', 64),
              'webhook-id', d.id,
              'webhook-timestamp', '1700000000',
              'webhook-signature', 'v1,' || repeat('A', 44)),
            timeout_milliseconds := inst.timeout_ms
          ) as request_id
        from int.plugin_deliveries d
        join installation inst on inst.id = d.installation_id
        where d.id = any (v_claimed)
      )
      update int.plugin_deliveries d
      set status = 'in_flight', attempts = d.attempts + 1, net_request_id = s.request_id,
        lease_expires_at = now() + make_interval(secs => s.timeout_ms / 1000.0) + interval '30 seconds',
        updated_at = now()
      from sent s where d.id = s.id;
      get diagnostics v_sent = row_count;
      return v_sent;
    end
    $$;`);
}

/**
 * Restores the queue as the insert left it (the batch, no delivery rows; with `written`, the rows
 * written as the processor's first step would) and empties pg_net's queue, then vacuums for a fair
 * next run.
 */
async function reset(sql: postgres.Sql, written: boolean): Promise<void> {
  await sql`truncate int.plugin_deliveries, int.plugin_delivery_batches cascade`;
  await sql`insert into int.plugin_delivery_batches overriding system value select * from bench_batches`;
  if (written) await sql`select private.expand_plugin_delivery_batches(${DELIVERIES}::int)`;
  await sql`truncate net.http_request_queue`;
  await sql.unsafe("vacuum analyze int.plugin_deliveries, int.plugin_delivery_batches");
}

/** Milliseconds for one call that must send every delivery. */
async function timeSend(
  sql: postgres.Sql,
  written: boolean,
  query: () => Promise<number>,
): Promise<number> {
  await reset(sql, written);
  const started = performance.now();
  const sent = await query();
  const elapsed = performance.now() - started;
  if (sent !== DELIVERIES) throw new Error(`expected ${DELIVERIES} deliveries sent, got ${sent}`);
  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from net.http_request_queue`;
  if (n !== DELIVERIES) throw new Error(`expected ${DELIVERIES} queued requests, found ${n}`);
  return elapsed;
}

const db = await createTestDatabase();
try {
  const { sql } = db;
  let t = performance.now();
  await setUp(sql);
  console.log(`${DELIVERIES} deliveries queued in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const process = async () => {
    const [{ counts }] = await sql<{ counts: { sent: number } }[]>`
      select public.rpc_process_plugin_deliveries(${DELIVERIES}::int) as counts`;
    return counts.sent;
  };
  const whole: number[] = [];
  const signed: number[] = [];
  const unsigned: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    whole.push(await timeSend(sql, false, process));
    signed.push(await timeSend(sql, true, process));
    unsigned.push(
      await timeSend(sql, true, async () => {
        const [{ sent }] = await sql<
          { sent: number }[]
        >`select bench.send_unsigned(${DELIVERIES}::int) as sent`;
        return sent;
      }),
    );
  }

  // One HMAC pass in isolation: what signing alone costs per delivery.
  await reset(sql, true);
  t = performance.now();
  await sql`
    select count(private.plugin_delivery_headers(
      d.id, d.event_type, d.payload::text, 1700000000, convert_to('bench-secret-0123456789abcdef', 'UTF8'), '{}'))
    from int.plugin_deliveries d`;
  const signOnlyMs = performance.now() - t;

  const wholeMs = median(whole);
  const signedMs = median(signed);
  const unsignedMs = median(unsigned);
  const perSecond = (ms: number) => Math.round(DELIVERIES / (ms / 1000));
  const result = {
    deliveries: DELIVERIES,
    runs: RUNS,
    whole_run_ms: Math.round(wholeMs),
    signed_ms: Math.round(signedMs),
    unsigned_ms: Math.round(unsignedMs),
    whole_run_per_second: perSecond(wholeMs),
    signed_per_second: perSecond(signedMs),
    unsigned_per_second: perSecond(unsignedMs),
    signing_cost_ratio: Number((signedMs / unsignedMs).toFixed(2)),
    sign_only_per_second: perSecond(signOnlyMs),
    target_per_second: TARGET_PER_SECOND,
    meets_target: perSecond(wholeMs) >= TARGET_PER_SECOND,
  };
  console.log(
    `write rows + claim + sign + net.http_post: ${result.whole_run_per_second} deliveries/s ` +
      `(${DELIVERIES} in ${result.whole_run_ms} ms, median of ${RUNS})`,
  );
  console.log(
    `claim + sign + net.http_post (rows written): ${result.signed_per_second} deliveries/s (${result.signed_ms} ms)`,
  );
  console.log(
    `same loop without signing:                  ${result.unsigned_per_second} deliveries/s (${result.unsigned_ms} ms)`,
  );
  console.log(
    `signing costs ${result.signing_cost_ratio}x the unsigned loop; signing alone runs at ` +
      `${result.sign_only_per_second} deliveries/s`,
  );
  console.log(
    `target >= ${TARGET_PER_SECOND}/s for the whole run: ${result.meets_target ? "met" : "NOT met"}`,
  );
  writeResult("delivery_processor", result);
} finally {
  await db.close();
}
