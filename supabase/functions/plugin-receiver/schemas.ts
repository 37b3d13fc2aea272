/**
 * The outbound delivery body the database sends to plugins (fixed at enqueue time):
 * `{id, type, tenant_id, installation_id, audit_id, occurred_at, data: {table_schema, table_name, op,
 * record_id, changed_fields, [old_data, new_data]}}`.
 */
import { z } from "zod";

export const PluginDelivery = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(200),
  tenant_id: z.uuid(),
  installation_id: z.uuid(),
  audit_id: z.number().int().nonnegative(),
  occurred_at: z.string().min(1),
  data: z.object({
    table_schema: z.string().min(1),
    table_name: z.string().min(1),
    op: z.enum(["INSERT", "UPDATE", "DELETE"]),
    record_id: z.string().min(1),
    changed_fields: z.array(z.string()),
    old_data: z.record(z.string(), z.unknown()).nullable().optional(),
    new_data: z.record(z.string(), z.unknown()).nullable().optional(),
    payload_truncated: z.boolean().optional(),
  }),
});

export type PluginDelivery = z.infer<typeof PluginDelivery>;
