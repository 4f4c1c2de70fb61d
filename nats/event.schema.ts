import { z } from 'zod';

/**
 * A state transition on `evt.<actorType>.<encodedId>` (CONTRACT.md §5.3): what every actor publishes after it persisted
 * the transition, and what the frame tracker and the exception raiser read back. `seq` is the actor's INBOX position.
 */
export const TransitionEventSchema = z.object({
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

export type TransitionEvent = z.infer<typeof TransitionEventSchema>;
