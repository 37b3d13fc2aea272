/**
 * The plugins SDK: a typed client over the plugin RPCs (`client.plugins.*`) and webhook helpers for
 * plugin backends. See README.md, section "Plugins".
 *
 * @module
 */
export {
  type AnySupabaseClient,
  createPluginsClient,
  type DeliveryStatus,
  type InboundWebhookLogEntry,
  type InstallationConfig,
  type InstallInput,
  type ListDeliveriesInput,
  type ListInboundInput,
  type Operation,
  type PluginDelivery,
  type PluginsApi,
  type PluginsClient,
  type PluginsClientOptions,
  type ProcessResult,
  type RegisterPluginInput,
  type UpdateInstallationInput,
  type WebhookSubscriptionInput,
} from "./client.ts";
export {
  PluginsConflictError,
  PluginsError,
  PluginsNotFoundError,
  PluginsPermissionError,
  PluginsValidationError,
  type PostgrestErrorLike,
} from "./errors.ts";
export {
  type HeadersLike,
  type InboundWebhook,
  type PluginDeliveryPayload,
  signInboundWebhook,
  type VerifiedDelivery,
  verifyWebhook,
  type VerifyWebhookOptions,
  WebhookError,
  type WebhookErrorCode,
} from "./webhooks.ts";
