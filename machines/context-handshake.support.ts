import type { UnitContextAssertion } from './unit.support.ts';
/**
 * Types, timer name, context-id minting and pure helpers of the context-handshake machine
 * (machines/context-handshake.machine.ts), kept apart so the definition stays readable. No I/O, no clock: every time
 * is an input's `at` (DESIGN.md principle 7).
 */

/** The states of one unit's context handshake between the MES, the runtime and the edge. */
export const CONTEXT_HANDSHAKE_STATES = ['NoContext', 'Asserted', 'Acknowledged', 'Released'] as const;

/** One context-handshake state name. */
export type ContextHandshakeState = (typeof CONTEXT_HANDSHAKE_STATES)[number];

/** Name of the edge-acknowledgement deadline in `timers`. */
export const ACK_DEADLINE_TIMER = 'ackDeadline';

/**
 * The context id a caller did not give: `<unit>/<batchId>/<seq>`, the form `POST /units/:id/context` mints today,
 * so ids stay the same whichever actor accepts the assertion (CONTRACT.md §2, §5.3 `ctx.<unit>`).
 */
export const mintContextId = (unit: string, batchId: string, seq: number): string => `${unit}/${batchId}/${seq}`;

/** Context-handshake actor input: one actor per unit (ISA-88.01 §5.6; CONTRACT.md `POST /units/:id/context`). */
export interface ContextHandshakeInput {
  unit: string;
  /** How long the edge has to acknowledge a new context before it is flagged overdue. */
  ackTimeoutMs: number;
  /** The edge sources that serve the unit and may acknowledge; empty or absent: any source. */
  sources?: string[];
}

/** A sequence gap the MES left: the assertions `from`..`to` were never received (DESIGN.md principle 9). */
export interface SequenceGap { from: number; to: number }

/** The context the MES asserted, as published on `ctx.<unit>` (the unit's own assertion record, plus the gap it left). */
export interface AssertedContext extends UnitContextAssertion {
  gap?: SequenceGap;
}

/** The edge's acknowledgement that it stamps its messages with the context id. */
export interface EdgeAck { source: string; contextId: string; at: number; late: boolean }

/** Context-handshake machine context; `timers` holds the absolute ack deadline the host schedules (DESIGN.md principle 7). */
export interface ContextHandshakeContext {
  unit: string;
  ackTimeoutMs: number;
  sources: string[];
  lastSeq: number;
  context?: AssertedContext;
  acks: EdgeAck[];
  ackDueAt?: number;
  ackOverdue: boolean;
  released?: { contextId: string; batchId: string; at: number; by: string };
  /** Gaps flagged since the actor was created (DESIGN.md principle 9: counted). */
  gapCount: number;
  timers: Record<string, number>;
}

type Stamp = { at: number; by?: string };

/** Every input the machine accepts; `at` (epoch ms) is its only clock (DESIGN.md principle 7). */
export type ContextHandshakeEvent =
  | (Stamp & {
    type: 'ASSERT_CONTEXT'; seq: number; batchId: string; specVersion: string | number;
    unitProcedure?: string; operation?: string; phase?: string; contextId?: string;
  })
  | (Stamp & { type: 'EDGE_ACK'; source: string; contextId: string })
  | (Stamp & { type: 'RELEASE'; batchId: string; reason?: string })
  | (Stamp & { type: 'TIMER'; name: string });

/** Params of the `contextAsserted` effect: the new context, the sequence it follows and the ack deadline. */
export interface ContextAssertedParams { unit: string; context: AssertedContext; previousSeq: number; ackDueAt: number }

/** Every code the contextHandshake machine rejects an input with (the error registry classifies each: src/errors.ts). */
export const CONTEXT_HANDSHAKE_REJECTIONS = [
  'batch_mismatch',
  'batch_not_released',
  'context_mismatch',
  'invalid_context',
  'invalid_sequence',
  'no_context',
  'stale_sequence',
  'timer_not_due',
  'timer_stale',
  'unknown_event',
  'unknown_source',
  'unknown_timer',
] as const;
export type ContextHandshakeRejection = (typeof CONTEXT_HANDSHAKE_REJECTIONS)[number];

/** Params of the `reject` action; `code` is stable, the rest depends on it. */
export interface ContextHandshakeRejectParams { code: ContextHandshakeRejection; message: string; [detail: string]: unknown }

/** Metadata on states and transitions, shown in diagrams; `requirement` names the URS item it implements. */
export interface ContextHandshakeMeta {
  isa88?: string;
  description: string;
  /** The URS id(s) in test/model/requirements/context-handshake.ts this state or transition implements. */
  requirement?: string | string[];
}

/** A non-blank string. */
export const filled = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/** One field of an input, unchecked: inputs arrive from the wire and are validated by guards. */
export const fieldOf = (event: ContextHandshakeEvent, name: string): unknown => (event as Record<string, unknown>)[name];

/** The sequence number an input names; NaN unless it is a number. */
export const seqOf = (event: ContextHandshakeEvent): number => {
  const seq = fieldOf(event, 'seq');
  return typeof seq === 'number' ? seq : Number.NaN;
};

/** The assertion an ASSERT_CONTEXT input makes, with the gap it leaves after `lastSeq`. */
export function assertionOf(context: ContextHandshakeContext, event: ContextHandshakeEvent): AssertedContext {
  if (event.type !== 'ASSERT_CONTEXT') return context.context!;
  const { seq, batchId, specVersion, unitProcedure, operation, phase, at } = event;
  const optional = { unitProcedure, operation, phase };
  return {
    contextId: filled(event.contextId) ? event.contextId : mintContextId(context.unit, batchId, seq),
    batchId, specVersion, seq,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
    assertedAt: at, by: event.by ?? 'system',
    ...(seq > context.lastSeq + 1 ? { gap: { from: context.lastSeq + 1, to: seq - 1 } } : {}),
  };
}
