/**
 * The SDK against the stack: the plugin guide's examples work as written (registration with
 * supabase.rpc on a server, install with client.plugins.install), every client.plugins.* call works
 * for a tenant admin, and refusals arrive as typed errors with PostgREST's code and message while
 * writing nothing.
 */
import assert from "node:assert/strict";
import {
  createPluginsClient,
  PluginsConflictError,
  PluginsNotFoundError,
  PluginsPermissionError,
  PluginsValidationError,
} from "../../sdk/mod.ts";
import { startTestStack } from "../_support/stack.ts";
import { insertWorkOrder, setVaultSecret, signedInUser, supabaseClient } from "../plugins/inbound_fixture.ts";

Deno.test("sdk: the plugin guide's steps work as written, and refusals are typed errors", async (t) => {
  const stack = await startTestStack({ netWorker: false });
  try {
    // A trusted server: supabase-js with the secret (service role) key.
    const supabase = supabaseClient(stack, stack.serviceRoleKey);
    const admin = await signedInUser(stack, "guide-admin");
    const member = await signedInUser(stack, "guide-member");
    const created = await supabase.rpc("rpc_create_tenant", {
      p_name: "Guide tenant",
      p_admin_user_id: admin.userId,
    });
    assert.equal(created.error, null);
    const tenantId: string = created.data!;
    // The tenant admin's session, with the tenant as context.
    const adminClient = createPluginsClient(admin.supabase, { tenantId });
    const installed = async () => {
      const [{ n }] = await stack.sql`select count(*)::int as n from int.plugin_installations`;
      return n;
    };

    await t.step("1. register in the catalog (backend only), exactly as in the guide", async () => {
      const { error } = await supabase.rpc("rpc_register_plugin", {
        p_key: "my_integration",
        p_name: "My integration",
        p_description: "Syncs work orders with an external system",
        p_is_integration: true,
        p_is_active: true,
      });
      assert.equal(error, null);
    });

    await t.step("2. store the secret in Vault", async () => {
      await setVaultSecret(stack.sql, "my_integration_hmac_prod", "plaintext-shared-hmac-key");
    });

    await t.step("3. install for a tenant, exactly as in the guide", async () => {
      const client = adminClient;
      const installationId = await client.plugins.install({
        tenantId,
        pluginKey: "my_integration",
        secretRef: "my_integration_hmac_prod",
        config: {
          webhook_url: "https://integrations.example.com/hooks/cmms",
        },
      });
      assert.match(installationId, /^[0-9a-f-]{36}$/);
    });

    const [{ id: installationId }] = await stack.sql`select id from int.plugin_installations`;
    let subscriptionId = "";

    await t.step("5. subscribe to entity changes with upsertWebhookSubscription", async () => {
      subscriptionId = await adminClient.plugins.upsertWebhookSubscription({
        installationId,
        tableName: "work_orders",
        operations: ["INSERT", "UPDATE"],
        changedFieldsAllowlist: ["status"],
      });
      const [row] = await stack.sql`
        select operations, changed_fields_allowlist, include_payload from int.plugin_subscriptions
        where id = ${subscriptionId}`;
      assert.deepEqual(row, {
        operations: ["INSERT", "UPDATE"],
        changed_fields_allowlist: ["status"],
        include_payload: false,
      });
    });

    await t.step("7. monitor with client.plugins.listRecentDeliveries() and redeliver", async () => {
      const workOrderId = await insertWorkOrder(stack.sql, tenantId);
      const deliveries = await adminClient.plugins.listRecentDeliveries();
      assert.equal(deliveries.length, 1);
      assert.equal(deliveries[0].event_type, "work_orders.insert");
      assert.equal(deliveries[0].status, "pending");
      assert.equal((deliveries[0].payload as { data: { record_id: string } }).data.record_id, workOrderId);
      assert.equal(deliveries[0].attempts, 0);
      assert.deepEqual(await adminClient.plugins.listRecentDeliveries({ status: "dead" }), []);

      // The processor writes the queued delivery as a row (its step 1; no pg_net worker runs here),
      // under the id and with the body it was listed with.
      const [{ written }] = await stack.sql`select private.expand_plugin_delivery_batches(100) as written`;
      assert.equal(written, 1);
      const [listedAgain, ...more] = await adminClient.plugins.listRecentDeliveries();
      assert.deepEqual(more, [], "listed once, not once queued and once written");
      assert.deepEqual(
        [listedAgain.id, listedAgain.status, listedAgain.payload],
        [deliveries[0].id, "pending", deliveries[0].payload],
      );

      await stack.sql`update int.plugin_deliveries set status = 'dead' where id = ${deliveries[0].id}`;
      const redelivered = await adminClient.plugins.redeliver(deliveries[0].id);
      assert.equal(redelivered.status, "pending");
      await assert.rejects(adminClient.plugins.redeliver(deliveries[0].id), (error) => {
        assert.ok(error instanceof PluginsConflictError, String(error));
        assert.deepEqual([error.code, error.status], ["PT409", 409]);
        return true;
      });
      await assert.rejects(adminClient.plugins.redeliver(crypto.randomUUID()), (error) => {
        assert.ok(error instanceof PluginsNotFoundError, String(error));
        assert.deepEqual([error.code, error.status], ["PT404", 404]);
        return true;
      });
    });

    await t.step("update and uninstall manage the installation", async () => {
      await adminClient.plugins.update({
        installationId,
        config: { webhook_url: "https://hooks.example.org/v2" },
      });
      const [row] = await stack.sql`select config from int.plugin_installations where id = ${installationId}`;
      assert.equal(row.config.webhook_url, "https://hooks.example.org/v2");
      await adminClient.plugins.deleteWebhookSubscription(subscriptionId);
      const [{ n }] = await stack.sql`select count(*)::int as n from int.plugin_subscriptions`;
      assert.equal(n, 0);
    });

    await t.step("a plain member gets PluginsPermissionError (42501) and nothing is written", async () => {
      const client = createPluginsClient(member.supabase);
      const before = await installed();
      await assert.rejects(
        client.plugins.install({
          tenantId: tenantId,
          pluginKey: "my_integration",
          secretRef: "my_integration_hmac_prod",
          config: { webhook_url: "https://integrations.example.com/x" },
        }),
        (error) => {
          assert.ok(error instanceof PluginsPermissionError, String(error));
          assert.equal(error.code, "42501");
          assert.match(error.message, /tenant\.admin/);
          assert.equal(error.status, 403);
          assert.equal(error.rpc, "rpc_install_plugin");
          return true;
        },
      );
      assert.equal(await installed(), before);
    });

    await t.step("a browser client cannot register plugins", async () => {
      const anon = createPluginsClient(supabaseClient(stack));
      await assert.rejects(
        anon.plugins.register({ key: "sneaky", name: "Sneaky" }),
        (error) => error instanceof PluginsPermissionError && error.code === "42501",
      );
      await assert.rejects(
        createPluginsClient(admin.supabase).plugins.register({ key: "sneaky", name: "Sneaky" }),
        (error) => error instanceof PluginsPermissionError,
      );
    });

    await t.step("bad input gets PluginsValidationError (22023) with the database's message", async () => {
      await adminClient.plugins.uninstall(installationId);
      await assert.rejects(
        adminClient.plugins.install({
          pluginKey: "my_integration",
          secretRef: "my_integration_hmac_prod",
          config: { webhook_url: "http://integrations.example.com/hooks" },
        }),
        (error) => {
          assert.ok(error instanceof PluginsValidationError);
          assert.equal(error.code, "22023");
          assert.equal(error.message, "webhook_url must use https, not http");
          return true;
        },
      );
      assert.equal(await installed(), 0);
    });

    await t.step("an id that is not a uuid gets PluginsValidationError (22P02)", async () => {
      await assert.rejects(adminClient.plugins.uninstall("not-a-uuid"), (error) => {
        assert.ok(error instanceof PluginsValidationError, String(error));
        assert.equal(error.code, "22P02");
        assert.equal(error.status, 400);
        return true;
      });
      await assert.rejects(
        adminClient.plugins.listRecentDeliveries({ limit: 1.5 }),
        (error) => error instanceof PluginsValidationError && error.code === "22P02",
      );
    });

    await t.step("missing rows and duplicates get their own error types", async () => {
      await assert.rejects(
        adminClient.plugins.uninstall(crypto.randomUUID()),
        (error) => error instanceof PluginsNotFoundError && error.code === "PT404",
      );
      const input = {
        pluginKey: "my_integration",
        secretRef: "my_integration_hmac_prod",
        config: { webhook_url: "https://integrations.example.com/hooks/cmms" },
      };
      await adminClient.plugins.install(input);
      await assert.rejects(
        adminClient.plugins.install(input),
        (error) => error instanceof PluginsConflictError && error.code === "23505",
      );
    });
  } finally {
    await stack.close();
  }
});
