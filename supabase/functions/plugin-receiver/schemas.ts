/**
 * The outbound delivery body the database sends to plugins (fixed at enqueue time):
 * `{id, type, tenant_id, installation_id, audit_id, occurred_at, data: {table_schema, table_name, op,
 * record_id, changed_fields, [old_data, new_data]}}`.
 *
 * Ids are checked with `z.guid()`, not `z.uuid()`: PostgreSQL's uuid type holds any 128 bits, and
 * `z.uuid()` also demands RFC 4122 version and variant digits, which would refuse every delivery of
 * a tenant or installation created with an id such as `11111111-1111-1111-1111-111111111111`.
 */
import { z } from "zod";

export const PluginDelivery = z.object({
  id: z.guid(),
  type: z.string().min(1).max(200),
  tenant_id: z.guid(),
  installation_id: z.guid(),
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
