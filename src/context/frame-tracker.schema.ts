import { TransitionEventSchema, type TransitionEvent } from '../../nats/event.schema.ts';
import { ContextMessageSchema, type ContextMessage } from '../../nats/context.schema.ts';

/** A phase transition on `evt.phase.<encodedId>` (CONTRACT.md §5.3), as the frame tracker reads it: the one event schema. */
export const PhaseEventSchema = TransitionEventSchema;

/** A `ctx.<unit>` message, assertion or release: the one schema its producer and every consumer use (nats/context.schema.ts). */
export const ContextSchema = ContextMessageSchema;

export type PhaseEvent = TransitionEvent;
export type { ContextMessage };
