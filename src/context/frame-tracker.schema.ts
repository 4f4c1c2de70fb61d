import { z } from 'zod';

/** A phase transition on `evt.phase.<encodedId>` (CONTRACT.md §5.3), as the frame tracker reads it. */
export const PhaseEventSchema = z.object({
  actor: z.string().min(1),
  type: z.string(),
  from: z.string(),
  to: z.string(),
  event: z.unknown().optional(),
  at: z.number().finite(),
  by: z.string().optional(),
  contextId: z.string().optional(),
  batchId: z.string().optional(),
  seq: z.number().int().nonnegative(),
});

/** An accepted MES context assertion on `ctx.<unit>` (CONTRACT.md §5.3). */
export const ContextSchema = z.object({
  unit: z.string().min(1),
  contextId: z.string().min(1),
  batchId: z.string().min(1),
  specVersion: z.union([z.string(), z.number()]).optional(),
  seq: z.number().int().nonnegative(),
  unitProcedure: z.string().min(1).optional(),
  operation: z.string().min(1).optional(),
  phase: z.string().optional(),
  at: z.number().finite(),
  released: z.boolean().optional(),
});

export type PhaseEvent = z.infer<typeof PhaseEventSchema>;
export type ContextMessage = z.infer<typeof ContextSchema>;
