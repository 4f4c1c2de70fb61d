import { z } from 'zod';

/**
 * An audit request on `inbox.audit.writer` (DESIGN.md principle 11): what happened, who did it, when, and the
 * values before and after (21 CFR 11.10(e)); the single writer chains it, stamping its own time and the request id.
 */
export const AuditRequestSchema = z.strictObject({
  at: z.number().finite(),
  who: z.string().min(1),
  action: z.string().min(1),
  target: z.string().min(1),
  reason: z.string().optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  configVersion: z.string().optional(),
  /** Id of the input or message that caused it (e.g. `inbox:1234`), for traceability. */
  ref: z.string().optional(),
});

export type AuditRequest = z.infer<typeof AuditRequestSchema>;
