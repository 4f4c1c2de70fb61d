import { z } from 'zod';

/**
 * A guarded write as published on `cmd.<src>` (CONTRACT.md §5.3; DESIGN.md principle 10: allowlisted, expiring,
 * attributed): the edge checks roles, value and expiry against its own allowlist before it writes.
 */
export const CommandSchema = z.object({
  id: z.string().min(1).max(200),
  tag: z.string().min(1),
  value: z.union([z.string(), z.number(), z.boolean()]),
  by: z.string().min(1),
  /** The issuer's roles, as the runtime authenticated them; the edge checks them against the allowlist rule. */
  roles: z.array(z.string().max(100)).max(50).default([]),
  issuedAt: z.number(),
  expiresAt: z.number(),
  ref: z.string().optional(),
});

/** What the edge did with a command, on `cmdres.<src>` (recorded in the audit trail, 21 CFR 11.10(e)). */
export const CommandResultSchema = z.looseObject({
  id: z.string().min(1).max(300),
  src: z.string().max(200).optional(),
  tag: z.unknown().optional(),
  value: z.unknown().optional(),
  outcome: z.enum(['executed', 'refused', 'failed']),
  at: z.number().finite(),
  reason: z.string().max(200).optional(),
  detail: z.string().max(4000).optional(),
  by: z.unknown().optional(),
  ref: z.string().max(300).optional(),
});

/** A command as the runtime sends it (roles may be left out: none). */
export type EdgeCommand = z.input<typeof CommandSchema>;
export type CommandResult = z.infer<typeof CommandResultSchema>;
