/**
 * The plugins client: typed calls of the plugin RPCs over a supabase-js client. Tenant-scoped calls
 * run with the client's session, so a signed-in tenant admin manages their own tenant; the database
 * checks the role (tenant.admin) on every call. `register` and `processDeliveries` need a client made
 * with the secret (service role) key and belong on a server, never in a browser.
 *
 * @example
 * ```ts
 * import { createClient } from "@supabase/supabase-js";
 * import { createPluginsClient } from "./sdk/mod.ts";
 *
 * const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY); // signed in as a tenant admin
 * const client = createPluginsClient(supabase, { tenantId });
 * const installationId = await client.plugins.install({
 *   tenantId,
 *   pluginKey: "my_integration",
 *   secretRef: "my_integration_hmac_prod",
 *   config: { webhook_url: "https://integrations.example.com/hooks/cmms" },
 * });
 * await client.plugins.upsertWebhookSubscription({
 *   installationId,
 *   tableName: "work_orders",
 *   operations: ["INSERT", "UPDATE"],
 *   changedFieldsAllowlist: ["status"],
 * });
 * const dead = await client.plugins.listRecentDeliveries({ status: "dead" });
 * ```
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Database, Json } from "../supabase/functions/_shared/database.types.ts";
import { PluginsError, type PostgrestErrorLike } from "./errors.ts";
import {
  type HeadersLike,
  type VerifiedDelivery,
  verifyWebhook,
  type VerifyWebhookOptions,
} from "./webhooks.ts";

type Functions = Database["public"]["Functions"];
type RpcName = keyof Functions;

/** A delivery as tenant admins see it (public.v_plugin_deliveries). */
export type PluginDelivery = Database["public"]["Views"]["v_plugin_deliveries"]["Row"];
/** A logged inbound webhook request (public.v_plugin_inbound_webhooks). */
export type InboundWebhookLogEntry = Database["public"]["Views"]["v_plugin_inbound_webhooks"]["Row"];

export type DeliveryStatus = "pending" | "in_flight" | "delivered" | "failed" | "dead";
export type Operation = "INSERT" | "UPDATE" | "DELETE";

/** Non-secret settings of an installation. */
export interface InstallationConfig {
  /** Where deliveries are POSTed: https and a public host. */
  webhook_url: string;
  /** Per-request timeout, 500 to 30000 ms (default 5000). */
  timeout_ms?: number;
  /** Extra non-secret headers sent with every delivery. */
  headers?: Record<string, string>;
  [key: string]: Json | undefined;
}

export interface RegisterPluginInput {
  /** Stable key: `^[a-z0-9_]+$`, 2 to 80 characters. */
  key: string;
  name: string;
  description?: string;
  /** True when the plugin talks to an external system (default true). */
  isIntegration?: boolean;
  isActive?: boolean;
}

export interface InstallInput {
  /** Defaults to the client's tenant. */
  tenantId?: string;
  pluginKey: string;
  config: InstallationConfig;
  /** The NAME of the Vault secret whose plaintext is the HMAC key (never the secret itself). */
  secretRef: string;
  /** Delivery attempts before a delivery is dead, 1 to 20 (default 8). */
  maxAttempts?: number;
}

export interface UpdateInstallationInput {
  installationId: string;
  /** Replaces the whole config when given. */
  config?: InstallationConfig;
  secretRef?: string;
  isActive?: boolean;
  maxAttempts?: number;
}

export interface WebhookSubscriptionInput {
  installationId: string;
  /** Default `public`. */
  tableSchema?: string;
  tableName: string;
  operations: Operation[];
  /** UPDATEs are delivered only when they change one of these columns (default: any change). */
  changedFieldsAllowlist?: string[];
  /** Also send old_data and new_data (default false: record_id and changed_fields only). */
  includePayload?: boolean;
}

export interface ListDeliveriesInput {
  /** Defaults to the client's tenant. */
  tenantId?: string;
  installationId?: string;
  status?: DeliveryStatus;
  /** 1 to 500 (default 50). */
  limit?: number;
}

export interface ListInboundInput {
  tenantId?: string;
  installationId?: string;
  outcome?: "applied" | "rejected" | "duplicate" | "failed";
  limit?: number;
}

/** Counts of what one processor run did (see rpc_process_plugin_deliveries). */
export type ProcessResult = Record<string, number>;

export interface PluginsApi {
  /** Server only (service role): registers or updates a catalog entry; returns the key. */
  register(input: RegisterPluginInput): Promise<string>;
  /** Tenant admins: installs a plugin in the tenant; returns the installation id. */
  install(input: InstallInput): Promise<string>;
  /** Tenant admins: changes an installation (config, secret, active, max attempts). */
  update(input: UpdateInstallationInput): Promise<void>;
  /** Tenant admins: removes an installation with its subscriptions and queued deliveries. */
  uninstall(installationId: string): Promise<void>;
  /** Tenant admins: subscribes an installation to an audited table (or replaces it); returns its id. */
  upsertWebhookSubscription(input: WebhookSubscriptionInput): Promise<string>;
  /** Tenant admins: deletes a subscription. */
  deleteWebhookSubscription(subscriptionId: string): Promise<void>;
  /** Tenant admins: the newest deliveries, optionally of one installation or status. */
  listRecentDeliveries(input?: ListDeliveriesInput): Promise<PluginDelivery[]>;
  /** Tenant admins: sends a dead or delivered delivery again. */
  redeliver(deliveryId: string): Promise<PluginDelivery>;
  /** Tenant admins: the newest inbound webhook requests (applied, rejected, duplicate, failed). */
  listInboundWebhooks(input?: ListInboundInput): Promise<InboundWebhookLogEntry[]>;
  /** Server only (service role): runs the delivery processor once, as pg_cron does. */
  processDeliveries(limit?: number): Promise<ProcessResult>;
  /** Verifies a delivery on its raw body with the shared secret (see webhooks.ts). */
  verifyWebhook(
    rawBody: string | Uint8Array,
    headers: HeadersLike,
    secret: string | Uint8Array,
    options?: VerifyWebhookOptions,
  ): Promise<VerifiedDelivery>;
}

export interface PluginsClient {
  plugins: PluginsApi;
  /** The same client bound to another tenant. */
  withTenant(tenantId: string): PluginsClient;
}

export interface PluginsClientOptions {
  /** The tenant used when a call names none (the "tenant context"). */
  tenantId?: string;
}

/** Any supabase-js client; typed calls use the project's generated {@link Database}. */
// deno-lint-ignore no-explicit-any
export type AnySupabaseClient = SupabaseClient<any, any, any>;

export function createPluginsClient(
  supabase: AnySupabaseClient,
  options: PluginsClientOptions = {},
): PluginsClient {
  const db = supabase as unknown as SupabaseClient<Database>;

  async function call<N extends RpcName>(
    name: N,
    args: Functions[N]["Args"],
  ): Promise<Functions[N]["Returns"]> {
    // The generic rpc() overloads cannot follow N; the argument types are checked by this signature.
    const rpc = db.rpc.bind(db) as unknown as (
      fn: string,
      args: unknown,
    ) => PromiseLike<{ data: unknown; error: PostgrestErrorLike | null; status: number }>;
    const { data, error, status } = await rpc(name, args);
    // An error status counts even without an error body: supabase-js takes a JSON `null` body as none.
    if (error || status >= 400) throw PluginsError.from(error ?? { message: "" }, name, status);
    return data as Functions[N]["Returns"];
  }

  function tenantOf(tenantId: string | undefined, method: string): string {
    const id = tenantId ?? options.tenantId;
    if (!id) {
      throw new PluginsError(
        "sdk_tenant_required",
        `${method} needs a tenant: pass tenantId or create the client with { tenantId }`,
      );
    }
    return id;
  }

  function required(value: string | undefined, name: string, method: string): string {
    if (typeof value !== "string" || value === "") {
      throw new PluginsError("sdk_invalid_argument", `${method}: ${name} is required`);
    }
    return value;
  }

  const plugins: PluginsApi = {
    register: async (input) =>
      await call("rpc_register_plugin", {
        p_key: input.key,
        p_name: input.name,
        p_description: input.description,
        p_is_integration: input.isIntegration ?? true,
        p_is_active: input.isActive ?? true,
      }),

    install: async (input) =>
      await call("rpc_install_plugin", {
        p_tenant_id: tenantOf(input.tenantId, "install"),
        p_plugin_key: input.pluginKey,
        p_config: input.config as Json,
        p_secret_ref: input.secretRef,
        ...(input.maxAttempts === undefined ? {} : { p_max_attempts: input.maxAttempts }),
      }),

    update: async (input) => {
      const args: Functions["rpc_update_plugin_installation"]["Args"] = {
        p_installation_id: required(input.installationId, "installationId", "update"),
      };
      if (input.config !== undefined) args.p_config = input.config as Json;
      if (input.secretRef !== undefined) args.p_secret_ref = input.secretRef;
      if (input.isActive !== undefined) args.p_is_active = input.isActive;
      if (input.maxAttempts !== undefined) args.p_max_attempts = input.maxAttempts;
      await call("rpc_update_plugin_installation", args);
    },

    uninstall: async (installationId) => {
      await call("rpc_uninstall_plugin", {
        p_installation_id: required(installationId, "installationId", "uninstall"),
      });
    },

    upsertWebhookSubscription: async (input) =>
      await call("rpc_upsert_webhook_subscription", {
        p_installation_id: required(input.installationId, "installationId", "upsertWebhookSubscription"),
        p_table_schema: input.tableSchema ?? "public",
        p_table_name: input.tableName,
        p_operations: input.operations,
        ...(input.changedFieldsAllowlist === undefined
          ? {}
          : { p_changed_fields_allowlist: input.changedFieldsAllowlist }),
        p_include_payload: input.includePayload ?? false,
      }),

    deleteWebhookSubscription: async (subscriptionId) => {
      await call("rpc_delete_webhook_subscription", {
        p_subscription_id: required(subscriptionId, "subscriptionId", "deleteWebhookSubscription"),
      });
    },

    listRecentDeliveries: async (input = {}) =>
      await call("rpc_list_recent_deliveries", {
        p_tenant_id: tenantOf(input.tenantId, "listRecentDeliveries"),
        ...(input.installationId === undefined ? {} : { p_installation_id: input.installationId }),
        ...(input.status === undefined ? {} : { p_status: input.status }),
        ...(input.limit === undefined ? {} : { p_limit: input.limit }),
      }),

    redeliver: async (deliveryId) =>
      await call("rpc_redeliver_plugin_delivery", {
        p_delivery_id: required(deliveryId, "deliveryId", "redeliver"),
      }),

    listInboundWebhooks: async (input = {}) =>
      await call("rpc_list_inbound_webhooks", {
        p_tenant_id: tenantOf(input.tenantId, "listInboundWebhooks"),
        ...(input.installationId === undefined ? {} : { p_installation_id: input.installationId }),
        ...(input.outcome === undefined ? {} : { p_outcome: input.outcome }),
        ...(input.limit === undefined ? {} : { p_limit: input.limit }),
      }),

    processDeliveries: async (limit) =>
      (await call(
        "rpc_process_plugin_deliveries",
        limit === undefined ? {} : { p_limit: limit },
      )) as ProcessResult,

    verifyWebhook: (rawBody, headers, secret, verifyOptions) =>
      verifyWebhook(rawBody, headers, secret, verifyOptions),
  };

  return {
    plugins,
    withTenant: (tenantId) => createPluginsClient(supabase, { ...options, tenantId }),
  };
}
