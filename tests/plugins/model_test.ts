/**
 * The plugin platform's RPC surface through the API, as an app or a plugin backend uses it with
 * supabase-js: tenants, catalog, installations and subscriptions. Who may call what, the error JSON a
 * refused or invalid call gets, and that such a call writes nothing.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { Database } from "../../supabase/functions/_shared/database.types.ts";
import { startTestStack, type TestStack } from "../_support/stack.ts";

const PASSWORD = "correct horse battery staple";

type Client = SupabaseClient<Database>;

interface World {
  stack: TestStack;
  service: Client;
  anon: Client;
  /** Signed-in clients: the admin and a member of tenant A, and the admin of tenant B. */
  adminA: Client;
  memberA: Client;
  adminB: Client;
  tenantA: string;
  tenantB: string;
  /** Name of a Vault secret that exists (unique per world, so runs against a shared stack do not clash). */
  secretName: string;
  userIds: Record<"adminA" | "memberA" | "adminB", string>;
}

function clientFor(stack: TestStack, key: string, accessToken?: string): Client {
  return createClient<Database>(stack.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {} },
  });
}

/** Creates a confirmed user with the service role and returns a client signed in as them. */
async function signedInUser(
  stack: TestStack,
  service: Client,
  email: string,
): Promise<{ id: string; client: Client }> {
  const created = await service.auth.admin.createUser({ email, password: PASSWORD, email_confirm: true });
  assert.equal(created.error, null, `createUser ${email}: ${created.error?.message}`);
  const anon = clientFor(stack, stack.anonKey);
  const { data, error } = await anon.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(error, null, `signIn ${email}: ${error?.message}`);
  return { id: created.data.user!.id, client: clientFor(stack, stack.anonKey, data.session!.access_token) };
}

/** A stack with two tenants (A: admin + member, B: admin), one registered plugin and one Vault secret. */
async function withWorld(fn: (world: World) => Promise<void>): Promise<void> {
  const stack = await startTestStack({ netWorker: false });
  try {
    const service = clientFor(stack, stack.serviceRoleKey);
    const suffix = crypto.randomUUID().slice(0, 8);
    const adminA = await signedInUser(stack, service, `admin-a-${suffix}@example.com`);
    const memberA = await signedInUser(stack, service, `member-a-${suffix}@example.com`);
    const adminB = await signedInUser(stack, service, `admin-b-${suffix}@example.com`);

    const a = await service.rpc("rpc_create_tenant", { p_name: "Tenant A", p_admin_user_id: adminA.id });
    const b = await service.rpc("rpc_create_tenant", { p_name: "Tenant B", p_admin_user_id: adminB.id });
    assert.equal(a.error, null);
    assert.equal(b.error, null);
    const added = await adminA.client.rpc("rpc_add_tenant_member", {
      p_tenant_id: a.data!,
      p_user_id: memberA.id,
    });
    assert.equal(added.error, null);
    const registered = await service.rpc("rpc_register_plugin", { p_key: "crm_sync", p_name: "CRM sync" });
    assert.equal(registered.error, null);
    const secretName = `model_test_hmac_${suffix}`;
    await stack.sql`select vault.create_secret('signing-key-for-tests', ${secretName})`;

    await fn({
      stack,
      service,
      anon: clientFor(stack, stack.anonKey),
      adminA: adminA.client,
      memberA: memberA.client,
      adminB: adminB.client,
      tenantA: a.data!,
      tenantB: b.data!,
      secretName,
      userIds: { adminA: adminA.id, memberA: memberA.id, adminB: adminB.id },
    });
  } finally {
    await stack.close();
  }
}

/** Everything the plugin RPCs can write, to prove that a refused call wrote nothing. */
async function snapshot(stack: TestStack): Promise<unknown> {
  const [row] = await stack.sql`
    select
      (select json_agg(t order by t.key) from int.plugins t) as plugins,
      (select json_agg(t order by t.id) from int.plugin_installations t) as installations,
      (select json_agg(t order by t.id) from int.plugin_subscriptions t) as subscriptions,
      (select json_agg(t order by t.tenant_id, t.user_id) from public.tenant_memberships t) as memberships,
      (select json_agg(t order by t.id) from public.tenants t) as tenants`;
  return row;
}

interface ApiError {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

function assertApiError(
  result: { error: ApiError | null; status: number },
  expected: { status: number; code: string; message: RegExp | string },
  what: string,
): void {
  assert.ok(result.error, `${what}: expected an error, got status ${result.status}`);
  assert.equal(result.status, expected.status, `${what}: status (${result.error.message})`);
  assert.equal(result.error.code, expected.code, `${what}: code (${result.error.message})`);
  if (typeof expected.message === "string") assert.equal(result.error.message, expected.message, what);
  else assert.match(result.error.message, expected.message, what);
}

const WEBHOOK = { webhook_url: "https://hooks.example.com/cmms" };

Deno.test("a tenant admin installs, updates, subscribes and uninstalls a plugin through the API", () =>
  withWorld(async ({ stack, adminA, tenantA, userIds, secretName }) => {
    const installed = await adminA.rpc("rpc_install_plugin", {
      p_tenant_id: tenantA,
      p_plugin_key: "crm_sync",
      p_config: { ...WEBHOOK, headers: { "X-Tenant": "acme" } },
      p_secret_ref: secretName,
    });
    assert.equal(installed.error, null);
    const installationId = installed.data!;
    const [row] = await stack.sql`
      select tenant_id, plugin_key, config, secret_ref, is_active, max_attempts, created_by
      from int.plugin_installations where id = ${installationId}`;
    assert.deepEqual({ ...row }, {
      tenant_id: tenantA,
      plugin_key: "crm_sync",
      config: { ...WEBHOOK, headers: { "X-Tenant": "acme" }, timeout_ms: 5000 },
      secret_ref: secretName,
      is_active: true,
      max_attempts: 8,
      created_by: userIds.adminA,
    });

    const updated = await adminA.rpc("rpc_update_plugin_installation", {
      p_installation_id: installationId,
      p_config: { webhook_url: "https://hooks.example.com/v2", timeout_ms: 2000 },
      p_is_active: false,
    });
    assert.equal(updated.error, null);
    assert.equal(updated.status, 204);
    const [after] = await stack
      .sql`select config, is_active from int.plugin_installations where id = ${installationId}`;
    assert.deepEqual(after.config, { webhook_url: "https://hooks.example.com/v2", timeout_ms: 2000 });
    assert.equal(after.is_active, false);

    const subscribed = await adminA.rpc("rpc_upsert_webhook_subscription", {
      p_installation_id: installationId,
      p_table_schema: "public",
      p_table_name: "work_orders",
      p_operations: ["INSERT", "UPDATE"],
      p_changed_fields_allowlist: ["status"],
    });
    assert.equal(subscribed.error, null);
    const [subscription] = await stack.sql`
      select operations, changed_fields_allowlist, include_payload from int.plugin_subscriptions
      where id = ${subscribed.data!}`;
    assert.deepEqual({ ...subscription }, {
      operations: ["INSERT", "UPDATE"],
      changed_fields_allowlist: ["status"],
      include_payload: false,
    });

    const deleted = await adminA.rpc("rpc_delete_webhook_subscription", {
      p_subscription_id: subscribed.data!,
    });
    assert.equal(deleted.error, null);
    const uninstalled = await adminA.rpc("rpc_uninstall_plugin", { p_installation_id: installationId });
    assert.equal(uninstalled.error, null);
    const [{ n }] = await stack.sql`select count(*)::int as n from int.plugin_installations`;
    assert.equal(n, 0);
  }));

Deno.test("members and other tenants' admins are refused with 403 and a clear message, and nothing is written", () =>
  withWorld(async ({ stack, adminA, memberA, adminB, tenantA, userIds, secretName }) => {
    const installed = await adminA.rpc("rpc_install_plugin", {
      p_tenant_id: tenantA,
      p_plugin_key: "crm_sync",
      p_config: WEBHOOK,
      p_secret_ref: secretName,
    });
    assert.equal(installed.error, null);
    const installationId = installed.data!;
    const subscribed = await adminA.rpc("rpc_upsert_webhook_subscription", {
      p_installation_id: installationId,
      p_table_schema: "public",
      p_table_name: "work_orders",
      p_operations: ["INSERT"],
    });
    assert.equal(subscribed.error, null);
    const before = await snapshot(stack);

    const denied = {
      status: 403,
      code: "42501",
      message: `permission denied: you need the tenant.admin role in tenant ${tenantA}`,
    };
    for (const [who, client] of [["a member", memberA], ["another tenant's admin", adminB]] as const) {
      assertApiError(
        await client.rpc("rpc_install_plugin", {
          p_tenant_id: tenantA,
          p_plugin_key: "crm_sync",
          p_config: WEBHOOK,
          p_secret_ref: secretName,
        }),
        // The plugin is installed already, but the role check comes first.
        denied,
        `${who}: install`,
      );
      assertApiError(
        await client.rpc("rpc_update_plugin_installation", {
          p_installation_id: installationId,
          p_config: { webhook_url: "https://attacker.example.com/steal" },
        }),
        denied,
        `${who}: update`,
      );
      assertApiError(
        await client.rpc("rpc_upsert_webhook_subscription", {
          p_installation_id: installationId,
          p_table_schema: "public",
          p_table_name: "work_orders",
          p_operations: ["INSERT", "UPDATE", "DELETE"],
          p_include_payload: true,
        }),
        denied,
        `${who}: subscribe`,
      );
      assertApiError(
        await client.rpc("rpc_delete_webhook_subscription", { p_subscription_id: subscribed.data! }),
        denied,
        `${who}: unsubscribe`,
      );
      assertApiError(
        await client.rpc("rpc_uninstall_plugin", { p_installation_id: installationId }),
        denied,
        `${who}: uninstall`,
      );
      assertApiError(
        await client.rpc("rpc_add_tenant_member", {
          p_tenant_id: tenantA,
          p_user_id: userIds.adminB,
          p_role: "tenant.admin",
        }),
        denied,
        `${who}: add a member`,
      );
    }
    assert.deepEqual(await snapshot(stack), before, "refused calls changed nothing");
  }));

Deno.test("only the service role registers plugins and creates tenants", () =>
  withWorld(async ({ stack, anon, adminA, service, userIds, secretName }) => {
    const before = await snapshot(stack);
    assertApiError(
      await anon.rpc("rpc_register_plugin", { p_key: "sneaky", p_name: "Sneaky" }),
      { status: 401, code: "42501", message: "permission denied for function rpc_register_plugin" },
      "anon registers a plugin",
    );
    assertApiError(
      await adminA.rpc("rpc_register_plugin", { p_key: "sneaky", p_name: "Sneaky" }),
      { status: 403, code: "42501", message: "permission denied for function rpc_register_plugin" },
      "a tenant admin registers a plugin",
    );
    assertApiError(
      await adminA.rpc("rpc_create_tenant", { p_name: "Mine", p_admin_user_id: userIds.adminA }),
      { status: 403, code: "42501", message: "permission denied for function rpc_create_tenant" },
      "a user creates a tenant",
    );
    assertApiError(
      await anon.rpc("rpc_install_plugin", {
        p_tenant_id: crypto.randomUUID(),
        p_plugin_key: "crm_sync",
        p_config: WEBHOOK,
        p_secret_ref: secretName,
      }),
      { status: 401, code: "42501", message: "permission denied for function rpc_install_plugin" },
      "anon installs a plugin",
    );
    assert.deepEqual(await snapshot(stack), before, "refused calls changed nothing");

    // The same registration twice is one plugin.
    for (let i = 0; i < 2; i++) {
      const { data, error } = await service.rpc("rpc_register_plugin", {
        p_key: "second_plugin",
        p_name: "Second plugin",
        p_description: "Registered twice",
      });
      assert.equal(error, null);
      assert.equal(data, "second_plugin");
    }
    const [{ n }] = await stack.sql`select count(*)::int as n from int.plugins where key = 'second_plugin'`;
    assert.equal(n, 1);
  }));

Deno.test("every invalid RPC argument gets a clear error and writes nothing", () =>
  withWorld(async ({ stack, adminA, service, tenantA, userIds, secretName }) => {
    const installed = await adminA.rpc("rpc_install_plugin", {
      p_tenant_id: tenantA,
      p_plugin_key: "crm_sync",
      p_config: WEBHOOK,
      p_secret_ref: secretName,
    });
    assert.equal(installed.error, null);
    const installationId = installed.data!;
    const subscribed = await adminA.rpc("rpc_upsert_webhook_subscription", {
      p_installation_id: installationId,
      p_table_schema: "public",
      p_table_name: "work_orders",
      p_operations: ["INSERT"],
    });
    assert.equal(subscribed.error, null);
    const before = await snapshot(stack);

    // Calls with arguments the types would not allow, as a client without them could send.
    const loose = adminA as unknown as SupabaseClient;
    const install = (args: Record<string, unknown>) =>
      loose.rpc("rpc_install_plugin", {
        p_tenant_id: tenantA,
        p_plugin_key: "crm_sync",
        p_config: WEBHOOK,
        p_secret_ref: secretName,
        ...args,
      });
    const subscribe = (args: Record<string, unknown>) =>
      loose.rpc("rpc_upsert_webhook_subscription", {
        p_installation_id: installationId,
        p_table_schema: "public",
        p_table_name: "work_orders",
        p_operations: ["UPDATE"],
        ...args,
      });
    const bad = (message: string | RegExp) => ({ status: 400, code: "22023", message });

    const cases: Array<[string, () => PromiseLike<{ error: ApiError | null; status: number }>, {
      status: number;
      code: string;
      message: string | RegExp;
    }]> = [
      [
        "an already installed plugin",
        () => install({}),
        { status: 409, code: "23505", message: /^plugin 'crm_sync' is already installed in this tenant/ },
      ],
      [
        "a plugin key with capitals",
        () => install({ p_plugin_key: "CRM" }),
        bad(/may contain only lowercase/),
      ],
      [
        "a one-letter plugin key",
        () => install({ p_plugin_key: "c" }),
        bad("plugin key must be 2 to 80 characters, got 1"),
      ],
      [
        "an unregistered plugin",
        () => install({ p_plugin_key: "nope" }),
        bad("plugin 'nope' is not registered"),
      ],
      [
        "a config that is a string",
        () => install({ p_config: "https://hooks.example.com" }),
        bad("config must be a JSON object with at least webhook_url"),
      ],
      [
        "a config without webhook_url",
        () => install({ p_config: {} }),
        bad("config.webhook_url is required and must be a string"),
      ],
      [
        "an http webhook_url",
        () => install({ p_config: { webhook_url: "http://hooks.example.com/x" } }),
        bad("webhook_url must use https, not http"),
      ],
      [
        "a loopback webhook_url",
        () => install({ p_config: { webhook_url: "https://127.0.0.1/x" } }),
        bad("webhook_url must not point at 127.0.0.1 (loopback address)"),
      ],
      [
        "a private webhook_url",
        () => install({ p_config: { webhook_url: "https://10.0.0.5/x" } }),
        bad("webhook_url must not point at 10.0.0.5 (private address)"),
      ],
      [
        "the cloud metadata address",
        () => install({ p_config: { webhook_url: "https://169.254.169.254/latest" } }),
        bad("webhook_url must not point at 169.254.169.254 (link-local address)"),
      ],
      [
        "an IPv6 unique-local webhook_url",
        () => install({ p_config: { webhook_url: "https://[fd00::1]/x" } }),
        bad("webhook_url must not point at fd00::1 (unique-local address)"),
      ],
      [
        "a timeout of 50 ms",
        () => install({ p_config: { ...WEBHOOK, timeout_ms: 50 } }),
        bad("config.timeout_ms must be a whole number of milliseconds from 500 to 30000"),
      ],
      [
        "an Authorization header",
        () => install({ p_config: { ...WEBHOOK, headers: { Authorization: "Bearer abc" } } }),
        bad("config.headers: Authorization is set by the platform and cannot be configured"),
      ],
      [
        "a secret_ref that names no Vault secret",
        () => install({ p_secret_ref: "does_not_exist" }),
        bad("secret_ref 'does_not_exist' does not name a Vault secret"),
      ],
      ["max_attempts of 50", () => install({ p_max_attempts: 50 }), bad("max_attempts must be from 1 to 20")],
      [
        "a tenant id that is not a uuid",
        () => install({ p_tenant_id: "tenant-a" }),
        { status: 400, code: "22P02", message: /invalid input syntax for type uuid/ },
      ],
      [
        "an unknown argument name",
        () => install({ p_colour: "blue" }),
        { status: 404, code: "PGRST202", message: /Could not find the function public\.rpc_install_plugin/ },
      ],
      [
        "an update of an installation that does not exist",
        () =>
          loose.rpc("rpc_update_plugin_installation", {
            p_installation_id: crypto.randomUUID(),
            p_is_active: false,
          }),
        { status: 404, code: "PT404", message: /^plugin installation [0-9a-f-]{36} does not exist$/ },
      ],
      [
        "an update without changes",
        () => loose.rpc("rpc_update_plugin_installation", { p_installation_id: installationId }),
        bad("nothing to update: pass config, secret_ref, is_active or max_attempts"),
      ],
      [
        "an update to an https URL with credentials",
        () =>
          loose.rpc("rpc_update_plugin_installation", {
            p_installation_id: installationId,
            p_config: { webhook_url: "https://user:pw@hooks.example.com/" },
          }),
        bad("webhook_url must not contain credentials (user:password@): keep secrets in Vault"),
      ],
      [
        "an uninstall of an installation that does not exist",
        () => loose.rpc("rpc_uninstall_plugin", { p_installation_id: crypto.randomUUID() }),
        { status: 404, code: "PT404", message: /does not exist$/ },
      ],
      [
        "a subscription to a table that does not exist",
        () => subscribe({ p_table_name: "spaceships" }),
        bad("table public.spaceships does not exist"),
      ],
      [
        "a subscription to a table that is not audited",
        () => subscribe({ p_table_name: "tenants" }),
        bad("table public.tenants is not audited, so it has no changes to subscribe to"),
      ],
      [
        "a subscription without operations",
        () => subscribe({ p_operations: [] }),
        bad("operations must list at least one of INSERT, UPDATE, DELETE"),
      ],
      [
        "a subscription to TRUNCATE",
        () => subscribe({ p_operations: ["TRUNCATE"] }),
        bad("operations may only contain INSERT, UPDATE and DELETE, got {TRUNCATE}"),
      ],
      [
        "an allowlist with a column the table lacks",
        () => subscribe({ p_changed_fields_allowlist: ["status", "colour"] }),
        bad("changed_fields_allowlist names columns that public.work_orders does not have: colour"),
      ],
      [
        "a delete of a subscription that does not exist",
        () => loose.rpc("rpc_delete_webhook_subscription", { p_subscription_id: crypto.randomUUID() }),
        { status: 404, code: "PT404", message: /^webhook subscription [0-9a-f-]{36} does not exist$/ },
      ],
      [
        "a member with an unknown role",
        () =>
          loose.rpc("rpc_add_tenant_member", {
            p_tenant_id: tenantA,
            p_user_id: userIds.adminB,
            p_role: "owner",
          }),
        bad("role must be tenant.admin or tenant.member, not 'owner'"),
      ],
      [
        "a member who does not exist",
        () => loose.rpc("rpc_add_tenant_member", { p_tenant_id: tenantA, p_user_id: crypto.randomUUID() }),
        bad(/^user [0-9a-f-]{36} does not exist$/),
      ],
    ];
    for (const [what, call, expected] of cases) assertApiError(await call(), expected, what);

    const serviceLoose = service as unknown as SupabaseClient;
    const serviceCases: typeof cases = [
      [
        "a plugin key with a dash",
        () => serviceLoose.rpc("rpc_register_plugin", { p_key: "crm-sync", p_name: "CRM" }),
        bad("plugin key 'crm-sync' may contain only lowercase letters a-z, digits and underscores"),
      ],
      [
        "an 81-character plugin key",
        () => serviceLoose.rpc("rpc_register_plugin", { p_key: "k".repeat(81), p_name: "Long" }),
        bad("plugin key must be 2 to 80 characters, got 81"),
      ],
      [
        "a plugin without a name",
        () => serviceLoose.rpc("rpc_register_plugin", { p_key: "nameless", p_name: "" }),
        bad("plugin name must be 1 to 200 characters"),
      ],
      [
        "a tenant with an unknown admin",
        () =>
          serviceLoose.rpc("rpc_create_tenant", { p_name: "Ghost", p_admin_user_id: crypto.randomUUID() }),
        bad(/^user [0-9a-f-]{36} does not exist$/),
      ],
    ];
    for (const [what, call, expected] of serviceCases) assertApiError(await call(), expected, what);

    assert.deepEqual(await snapshot(stack), before, "no invalid call changed anything");
  }));
