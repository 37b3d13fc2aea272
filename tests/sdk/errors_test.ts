/**
 * The SDK's typed errors: each PostgREST error becomes a PluginsError subclass carrying its code,
 * message, details, hint, HTTP status and RPC name; SDK-side checks fail before any request.
 */
import assert from "node:assert/strict";
import {
  createPluginsClient,
  PluginsConflictError,
  PluginsError,
  PluginsNotFoundError,
  PluginsPermissionError,
  PluginsValidationError,
} from "../../sdk/mod.ts";
import type { AnySupabaseClient } from "../../sdk/mod.ts";

Deno.test("PluginsError.from picks the subclass for the codes callers branch on", () => {
  const cases = [
    ["42501", PluginsPermissionError],
    ["22023", PluginsValidationError],
    ["22P02", PluginsValidationError],
    ["22003", PluginsValidationError],
    ["PT404", PluginsNotFoundError],
    ["P0002", PluginsNotFoundError],
    ["23505", PluginsConflictError],
    ["PT409", PluginsConflictError],
    ["PGRST202", PluginsError],
  ] as const;
  for (const [code, Type] of cases) {
    const error = PluginsError.from(
      { code, message: `message ${code}`, details: "d", hint: "h" },
      "rpc_install_plugin",
      400,
    );
    assert.ok(error instanceof Type, code);
    assert.ok(error instanceof PluginsError);
    assert.equal(error.code, code);
    assert.equal(error.message, `message ${code}`);
    assert.equal(error.details, "d");
    assert.equal(error.hint, "h");
    assert.equal(error.status, 400);
    assert.equal(error.rpc, "rpc_install_plugin");
  }
});

Deno.test("PluginsError.from names an error that came without a code (a network failure) unknown", () => {
  const error = PluginsError.from(
    { code: "", message: "TypeError: fetch failed", details: "", hint: "" },
    "rpc_uninstall_plugin",
    0,
  );
  assert.equal(error.constructor, PluginsError);
  assert.equal(error.code, "unknown");
});

/** A supabase-js stand-in that records calls and answers like PostgREST. */
function fakeSupabase(answer: { data?: unknown; error?: unknown; status?: number }) {
  const calls: Array<[string, unknown]> = [];
  const client = {
    rpc(fn: string, args: unknown) {
      calls.push([fn, args]);
      return Promise.resolve({
        data: answer.data ?? null,
        error: answer.error ?? null,
        status: answer.status ?? 200,
      });
    },
  };
  return { supabase: client as unknown as AnySupabaseClient, calls };
}

Deno.test("client.plugins.* call the RPCs with the database's argument names", async () => {
  const { supabase, calls } = fakeSupabase({ data: "id-1" });
  const client = createPluginsClient(supabase, { tenantId: "t-1" });
  await client.plugins.install({
    pluginKey: "my_integration",
    secretRef: "my_integration_hmac_prod",
    config: { webhook_url: "https://integrations.example.com/hooks/cmms" },
  });
  await client.plugins.update({ installationId: "i-1", isActive: false });
  await client.plugins.upsertWebhookSubscription({
    installationId: "i-1",
    tableName: "work_orders",
    operations: ["UPDATE"],
    changedFieldsAllowlist: ["status"],
  });
  await client.plugins.listRecentDeliveries();
  await client.withTenant("t-2").plugins.listRecentDeliveries({ status: "dead", limit: 10 });
  assert.deepEqual(calls, [
    ["rpc_install_plugin", {
      p_tenant_id: "t-1",
      p_plugin_key: "my_integration",
      p_config: { webhook_url: "https://integrations.example.com/hooks/cmms" },
      p_secret_ref: "my_integration_hmac_prod",
    }],
    ["rpc_update_plugin_installation", { p_installation_id: "i-1", p_is_active: false }],
    ["rpc_upsert_webhook_subscription", {
      p_installation_id: "i-1",
      p_table_schema: "public",
      p_table_name: "work_orders",
      p_operations: ["UPDATE"],
      p_changed_fields_allowlist: ["status"],
      p_include_payload: false,
    }],
    ["rpc_list_recent_deliveries", { p_tenant_id: "t-1" }],
    ["rpc_list_recent_deliveries", { p_tenant_id: "t-2", p_status: "dead", p_limit: 10 }],
  ]);
});

Deno.test("a failed RPC throws the typed error with PostgREST's code and message", async () => {
  const { supabase } = fakeSupabase({
    error: {
      code: "42501",
      message: "permission denied: you need the tenant.admin role",
      details: null,
      hint: "h",
    },
    status: 403,
  });
  const client = createPluginsClient(supabase);
  await assert.rejects(client.plugins.uninstall("i-1"), (error) => {
    assert.ok(error instanceof PluginsPermissionError);
    assert.equal(error.code, "42501");
    assert.equal(error.status, 403);
    assert.equal(error.rpc, "rpc_uninstall_plugin");
    return true;
  });
});

Deno.test("tenant-scoped calls without a tenant fail before any request", async () => {
  const { supabase, calls } = fakeSupabase({});
  const client = createPluginsClient(supabase);
  await assert.rejects(
    () => client.plugins.listRecentDeliveries(),
    (error) => error instanceof PluginsError && error.code === "sdk_tenant_required",
  );
  await assert.rejects(
    () => client.plugins.redeliver(""),
    (error) => error instanceof PluginsError && error.code === "sdk_invalid_argument",
  );
  assert.equal(calls.length, 0);
});

Deno.test("an error status without an error body is a failure, not a null result", async () => {
  // supabase-js reports no error when a 5xx body is JSON null (a proxy's answer, not PostgREST's).
  const { supabase } = fakeSupabase({ data: null, error: null, status: 500 });
  const client = createPluginsClient(supabase, { tenantId: "t-1" });
  await assert.rejects(client.plugins.listRecentDeliveries(), (error) => {
    assert.ok(error instanceof PluginsError, String(error));
    assert.deepEqual([error.code, error.status, error.rpc], ["unknown", 500, "rpc_list_recent_deliveries"]);
    assert.match(error.message, /rpc_list_recent_deliveries answered HTTP 500/);
    return true;
  });
});

Deno.test("an error whose body had no message (empty or not JSON) still says what failed", () => {
  for (const [body, status] of [[{ message: "" }, 503], ["gateway timeout", 504]] as const) {
    const error = PluginsError.from(body as never, "rpc_install_plugin", status);
    assert.equal(error.code, "unknown");
    assert.match(error.message, new RegExp(`rpc_install_plugin answered HTTP ${status}`));
  }
  assert.match(
    PluginsError.from({ message: "" }, "rpc_install_plugin", 0).message,
    /rpc_install_plugin got no answer/,
  );
});
