import { assign, setup } from 'xstate';
import {
  ACK_DEADLINE_TIMER, CONTEXT_HANDSHAKE_STATES, assertionOf, fieldOf, filled, mintContextId, seqOf,
  type AssertedContext, type ContextAssertedParams, type ContextHandshakeContext, type ContextHandshakeEvent,
  type ContextHandshakeInput, type ContextHandshakeMeta, type ContextHandshakeRejectParams, type ContextHandshakeState,
  type EdgeAck, type SequenceGap, type ContextHandshakeRejection,
} from './context-handshake.support.ts';

export { ACK_DEADLINE_TIMER, CONTEXT_HANDSHAKE_STATES, mintContextId };
export type {
  AssertedContext, ContextAssertedParams, ContextHandshakeContext, ContextHandshakeEvent, ContextHandshakeInput,
  ContextHandshakeMeta, ContextHandshakeRejectParams, ContextHandshakeState, EdgeAck, SequenceGap,
};

/** Version of the context-handshake machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const CONTEXT_HANDSHAKE_MACHINE_VERSION = 1;

type Args = { context: ContextHandshakeContext; event: ContextHandshakeEvent };

const reject = (code: ContextHandshakeRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): ContextHandshakeRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** A refusal that leaves the state unchanged, with the requirement it implements. */
const refuse = (requirement: string, code: ContextHandshakeRejection, message: (args: Args) => string, description: string,
  details?: (args: Args) => Record<string, unknown>) => ({
  actions: reject(code, message, details),
  meta: { requirement, description } satisfies ContextHandshakeMeta,
});

const handshakeSetup = setup({
  types: {} as {
    context: ContextHandshakeContext; events: ContextHandshakeEvent; input: ContextHandshakeInput; meta: ContextHandshakeMeta;
  },
  guards: {
    sequenceInvalid: ({ event }) => !(Number.isInteger(seqOf(event)) && seqOf(event) >= 1),
    assertionIncomplete: ({ event }) => !(filled(fieldOf(event, 'batchId')) &&
      (filled(fieldOf(event, 'specVersion')) || typeof fieldOf(event, 'specVersion') === 'number')),
    sequenceStale: ({ context, event }) => seqOf(event) <= context.lastSeq,
    otherBatchBound: ({ context, event }) => context.context !== undefined && fieldOf(event, 'batchId') !== context.context.batchId,
    sequenceGap: ({ context, event }) => seqOf(event) > context.lastSeq + 1,
    unknownSource: ({ context, event }) => !filled(fieldOf(event, 'source')) ||
      (context.sources.length > 0 && !context.sources.includes(String(fieldOf(event, 'source')))),
    otherContext: ({ context, event }) => fieldOf(event, 'contextId') !== context.context?.contextId,
    releaseMatches: ({ context, event }) => fieldOf(event, 'batchId') === context.context?.batchId,
    isAckTimer: ({ event }) => fieldOf(event, 'name') === ACK_DEADLINE_TIMER,
    ackDue: ({ context, event }) => fieldOf(event, 'name') === ACK_DEADLINE_TIMER && context.ackDueAt !== undefined &&
      event.at >= context.ackDueAt,
    ackNotDue: ({ context, event }) => fieldOf(event, 'name') === ACK_DEADLINE_TIMER && context.ackDueAt !== undefined,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: ContextHandshakeRejectParams) => {},
    contextAsserted: (_: unknown, _params: ContextAssertedParams) => {},
    annotateGap: (_: unknown, _params: { unit: string; contextId: string; gap: SequenceGap; at: number }) => {},
    edgeAcknowledged: (_: unknown, _params: { unit: string; ack: EdgeAck; repeated: boolean }) => {},
    ackOverdue: (_: unknown, _params: { unit: string; contextId: string; dueAt: number; at: number }) => {},
    contextReleased: (_: unknown, _params: { unit: string; contextId: string; batchId: string; at: number; by: string }) => {},
    // Context updates.
    storeAssertion: assign(({ context, event }) => {
      const asserted = assertionOf(context, event);
      const ackDueAt = event.at + context.ackTimeoutMs;
      return {
        context: asserted, lastSeq: asserted.seq, acks: [], ackDueAt, ackOverdue: false, released: undefined,
        gapCount: context.gapCount + (asserted.gap ? 1 : 0),
        timers: { ...context.timers, [ACK_DEADLINE_TIMER]: ackDueAt },
      };
    }),
    storeAck: assign(({ context, event }) => ({
      acks: [...context.acks, {
        source: String(fieldOf(event, 'source')), contextId: String(fieldOf(event, 'contextId')), at: event.at,
        late: context.ackOverdue,
      }],
      ackDueAt: undefined,
      timers: without(context.timers, ACK_DEADLINE_TIMER),
    })),
    flagOverdue: assign(({ context }) => ({ ackOverdue: true, ackDueAt: undefined, timers: without(context.timers, ACK_DEADLINE_TIMER) })),
    storeRelease: assign(({ context, event }) => ({
      released: {
        contextId: context.context?.contextId ?? '', batchId: context.context?.batchId ?? '', at: event.at, by: event.by ?? 'system',
      },
      context: undefined, ackDueAt: undefined, timers: without(context.timers, ACK_DEADLINE_TIMER),
    })),
  },
});

function without(timers: Record<string, number>, name: string): Record<string, number> {
  return Object.fromEntries(Object.entries(timers).filter(([n]) => n !== name));
}

/** The `contextAsserted` effect, with the sequence the assertion follows (read before the context changes). */
const announce = ({ context, event }: Args): ContextAssertedParams => {
  const next = assertionOf(context, event);
  return { unit: context.unit, context: next, previousSeq: context.lastSeq, ackDueAt: event.at + context.ackTimeoutMs };
};

/** ASSERT_CONTEXT in one state: validation, stale and bound-batch refusals, then a gap-flagged or in-sequence accept. */
const assertIn = (from: ContextHandshakeState, accept: string) => [
  {
    guard: 'sequenceInvalid' as const,
    ...refuse('URS-CTX-006', 'invalid_sequence', ({ event }) => `context sequence must be a positive integer, got ${JSON.stringify(fieldOf(event, 'seq'))}`,
      'Context refused: invalid sequence'),
  },
  {
    guard: 'assertionIncomplete' as const,
    ...refuse('URS-CTX-006', 'invalid_context', () => 'a context assertion names its batchId and specVersion',
      'Context refused: batch or spec version missing'),
  },
  // Before the first assertion every valid sequence number is after the last (none): no stale check in NoContext.
  ...(from === 'NoContext' ? [] : [{
    guard: 'sequenceStale' as const,
    ...refuse('URS-CTX-005', 'stale_sequence', ({ context, event }) => `context sequence ${seqOf(event)} is not after ${context.lastSeq}`,
      'Context refused: sequence at or below the last accepted', ({ context }) => ({ lastSeq: context.lastSeq })),
  }]),
  ...(from === 'Asserted' || from === 'Acknowledged' ? [{
    guard: 'otherBatchBound' as const,
    ...refuse('URS-CTX-007', 'batch_not_released',
      ({ context }) => `unit ${context.unit} is bound to batch ${context.context?.batchId}: release it first`,
      'Context refused: another batch is bound, not released', ({ context }) => ({ batchId: context.context?.batchId })),
  }] : []),
  {
    guard: 'sequenceGap' as const,
    target: '#contextHandshake.Asserted' as const,
    actions: [
      { type: 'contextAsserted' as const, params: announce },
      'storeAssertion' as const,
      {
        type: 'annotateGap' as const,
        params: ({ context, event }: Args) => ({
          unit: context.unit, contextId: context.context!.contextId, gap: context.context!.gap!, at: event.at,
        }),
      },
    ],
    meta: { requirement: 'URS-CTX-004', isa88: '5.6', description: `Context asserted after a sequence gap (flagged): ${from} → Asserted` },
  },
  {
    target: '#contextHandshake.Asserted' as const,
    actions: [{ type: 'contextAsserted' as const, params: announce }, 'storeAssertion' as const],
    meta: { requirement: accept, isa88: '5.6', description: `MES asserts context in sequence: ${from} → Asserted` },
  },
];

const noContext = (event: string) => refuse(event === 'EDGE_ACK' ? 'URS-CTX-009' : 'URS-CTX-014', 'no_context',
  ({ context }) => `unit ${context.unit} has no asserted context`, `${event} refused: no context asserted`);

const unknownSource = {
  guard: 'unknownSource' as const,
  ...refuse('URS-CTX-011', 'unknown_source',
    ({ context, event }) => `source ${JSON.stringify(fieldOf(event, 'source'))} does not serve unit ${context.unit}`,
    'Acknowledgement refused: source does not serve the unit', ({ context }) => ({ sources: context.sources })),
};

const otherContext = {
  guard: 'otherContext' as const,
  ...refuse('URS-CTX-009', 'context_mismatch',
    ({ context, event }) => `context ${JSON.stringify(fieldOf(event, 'contextId'))} is not the current context ${context.context?.contextId}`,
    'Acknowledgement refused: not the current context id', ({ context }) => ({ contextId: context.context?.contextId })),
};

const ack = (repeated: boolean) => ({
  type: 'edgeAcknowledged' as const,
  params: ({ context }: Args) => ({ unit: context.unit, ack: context.acks.at(-1)!, repeated }),
});

const release = [
  {
    guard: 'releaseMatches' as const,
    target: '#contextHandshake.Released' as const,
    actions: [
      {
        type: 'contextReleased' as const,
        params: ({ context, event }: Args) => ({
          unit: context.unit, contextId: context.context!.contextId, batchId: context.context!.batchId, at: event.at, by: event.by ?? 'system',
        }),
      },
      'storeRelease' as const,
    ],
    meta: { requirement: 'URS-CTX-013', isa88: '5.6', description: 'Batch end: context released' },
  },
  refuse('URS-CTX-014', 'batch_mismatch',
    ({ context, event }) => `unit ${context.unit} is bound to batch ${context.context?.batchId}, not ${JSON.stringify(fieldOf(event, 'batchId'))}`,
    'Release refused: another batch is bound', ({ context }) => ({ batchId: context.context?.batchId })),
];

/** TIMER where no ack deadline runs (NoContext, Acknowledged, Released, or Asserted once overdue). */
const timerNone = [
  {
    guard: 'isAckTimer' as const,
    ...refuse('URS-CTX-012', 'timer_stale', ({ context }) => `unit ${context.unit} has no acknowledgement deadline running`,
      'Timer refused: no ack deadline running'),
  },
  refuse('URS-CTX-015', 'unknown_timer', ({ event }) => `unknown timer ${JSON.stringify(fieldOf(event, 'name'))}`,
    'Timer refused: unknown timer'),
];

/**
 * One unit's context handshake: the MES asserts context with an increasing sequence, the edge acknowledges that it
 * stamps its messages with the new context id, and the context is released at batch end (ISA-88.01 §5.6; CONTRACT.md
 * `POST /units/:id/context`, `ctx.<unit>`; ALCOA+ contemporaneous, complete).
 */
export const contextHandshakeMachine = handshakeSetup.createMachine({
  id: 'contextHandshake',
  initial: 'NoContext',
  context: ({ input }) => ({
    unit: input.unit, ackTimeoutMs: input.ackTimeoutMs, sources: [...(input.sources ?? [])],
    lastSeq: 0, acks: [], ackOverdue: false, gapCount: 0, timers: {},
  }),
  meta: { isa88: '5.6', description: 'MES context handshake: assert, edge acknowledgement, release' },
  states: {
    NoContext: {
      meta: { requirement: 'URS-CTX-001', description: 'No context asserted since the unit was created' },
      on: {
        ASSERT_CONTEXT: assertIn('NoContext', 'URS-CTX-002'),
        EDGE_ACK: noContext('EDGE_ACK'),
        RELEASE: noContext('RELEASE'),
        TIMER: timerNone,
      },
    },
    Asserted: {
      meta: { requirement: 'URS-CTX-002', isa88: '5.6', description: 'Context asserted and published; awaiting the edge acknowledgement' },
      on: {
        ASSERT_CONTEXT: assertIn('Asserted', 'URS-CTX-003'),
        EDGE_ACK: [
          unknownSource,
          otherContext,
          {
            target: 'Acknowledged',
            actions: ['storeAck', ack(false)],
            meta: { requirement: 'URS-CTX-008', description: 'Edge acknowledges: it stamps messages with this context id' },
          },
        ],
        RELEASE: release,
        TIMER: [
          {
            guard: 'ackDue',
            actions: [
              {
                type: 'ackOverdue',
                params: ({ context, event }) => ({ unit: context.unit, contextId: context.context!.contextId, dueAt: context.ackDueAt!, at: event.at }),
              },
              'flagOverdue',
            ],
            meta: { requirement: 'URS-CTX-012', description: 'Ack deadline passed: context flagged ackOverdue, notice raised' },
          },
          {
            guard: 'ackNotDue',
            ...refuse('URS-CTX-012', 'timer_not_due', ({ context }) => `the ack deadline of unit ${context.unit} is ${context.ackDueAt}`,
              'Timer refused: ack deadline not yet reached', ({ context }) => ({ dueAt: context.ackDueAt })),
          },
          ...timerNone,
        ],
      },
    },
    Acknowledged: {
      meta: { requirement: 'URS-CTX-008', description: 'The edge stamps its messages with this context id' },
      on: {
        ASSERT_CONTEXT: assertIn('Acknowledged', 'URS-CTX-003'),
        EDGE_ACK: [
          unknownSource,
          otherContext,
          {
            actions: ['storeAck', ack(true)],
            meta: { requirement: 'URS-CTX-010', description: 'Repeated acknowledgement of the current context: recorded' },
          },
        ],
        RELEASE: release,
        TIMER: timerNone,
      },
    },
    Released: {
      meta: { requirement: 'URS-CTX-013', isa88: '5.6', description: 'Batch ended: no context bound; the sequence continues' },
      on: {
        ASSERT_CONTEXT: assertIn('Released', 'URS-CTX-002'),
        EDGE_ACK: noContext('EDGE_ACK'),
        RELEASE: noContext('RELEASE'),
        TIMER: timerNone,
      },
    },
  },
  on: {
    '*': refuse('URS-CTX-015', 'unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`, 'Unknown event: refused'),
  },
});
