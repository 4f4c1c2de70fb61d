import { z } from 'zod';

/**
 * The one schema of a `ctx.<unit>` message (CONTRACT.md §5.3, stream CONTEXT), used by the runtime that publishes it
 * and by every consumer (edge context follower, frame tracker): an accepted MES context assertion, or the release of
 * the unit's context at batch end (ISA-88.01 §5.6; ALCOA+ "attributable", "contemporaneous").
 */

const Id = z.string().min(1);
const Instant = z.number().finite();

/** An accepted MES context assertion: edges stamp their messages with its `contextId` (CONTRACT.md §5.3). */
export const ContextAssertionSchema = z.object({
  unit: Id,
  contextId: Id,
  batchId: Id,
  specVersion: z.union([z.string(), z.number()]).optional(),
  seq: z.number().int().nonnegative(),
  unitProcedure: Id.optional(),
  operation: Id.optional(),
  phase: z.string().optional(),
  /** When the runtime accepted it (epoch ms, like every time in a NATS payload). */
  at: Instant,
  by: z.string().optional(),
  released: z.literal(false).optional(),
});

/** The release of a unit's context at batch end: edges stop stamping with it, event frames of the batch close. */
export const ContextReleaseSchema = z.object({
  unit: Id,
  released: z.literal(true),
  batchId: Id,
  /** The context released, and its sequence number, when the unit still held one. */
  contextId: Id.optional(),
  seq: z.number().int().nonnegative().optional(),
  at: Instant,
  by: z.string().optional(),
  reason: z.string().optional(),
});

/** A `ctx.<unit>` message: an assertion or a release, told apart by `released` (CONTRACT.md §5.3). */
export const ContextMessageSchema = z.discriminatedUnion('released', [ContextReleaseSchema, ContextAssertionSchema]);

/** An accepted context assertion on `ctx.<unit>`. */
export type ContextAssertion = z.infer<typeof ContextAssertionSchema>;
/** A context release on `ctx.<unit>`. */
export type ContextRelease = z.infer<typeof ContextReleaseSchema>;
/** Any `ctx.<unit>` message. */
export type ContextMessage = z.infer<typeof ContextMessageSchema>;

/** True when the message releases the unit's context rather than asserting one. */
export function isRelease(m: ContextMessage): m is ContextRelease {
  return m.released === true;
}
