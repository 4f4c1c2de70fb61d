import { z } from 'zod';
import { ContextMessageSchema, type ContextMessage } from '../../nats/context.schema.ts';

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

/** A `ctx.<unit>` message, assertion or release: the one schema its producer and every consumer use (nats/context.schema.ts). */
export const ContextSchema = ContextMessageSchema;

export type PhaseEvent = z.infer<typeof PhaseEventSchema>;
export type { ContextMessage };
