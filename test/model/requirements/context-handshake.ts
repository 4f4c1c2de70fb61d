/**
 * The MES context handshake requirements as data, written by hand from the user requirement: "the MES asserts context
 * (batch, unit procedure, operation, phase, spec version) with a monotonically increasing sequence; stale sequences
 * rejected, gaps flagged, release on batch end; the edge's acknowledgement that it stamps frames with the new context
 * id" (ISA-88.01 §5.6; CONTRACT.md `POST /units/:id/context`, `ctx.<unit>`). The context-handshake machine is checked
 * against this list and never derived from it.
 */
export type ContextHandshakeStateName = 'NoContext' | 'Asserted' | 'Acknowledged' | 'Released';

/** Short event names; `CREATE` is the creation of the unit's handshake, the others are inputs. */
export type ContextHandshakeEventName = 'CREATE' | 'ASSERT_CONTEXT' | 'EDGE_ACK' | 'RELEASE' | 'TIMER' | 'UNKNOWN';

/**
 * Named situations the tests turn into inputs. Absent: a complete, valid input — an assertion with the next sequence
 * number for the bound batch (or a batch when none is bound), an acknowledgement of the current context id by a source
 * serving the unit, a release naming the bound batch.
 */
export type ContextHandshakeGiven =
  | 'gap' | 'stale' | 'bad_seq' | 'no_batch' | 'other_batch'
  | 'old_context' | 'unknown_source'
  | 'wrong_batch'
  | 'due' | 'not_due' | 'no_deadline' | 'unknown_timer';

export interface ContextHandshakeTransition {
  from: ContextHandshakeStateName | 'Start';
  event: ContextHandshakeEventName;
  to: ContextHandshakeStateName | `reject:${string}`;
  given?: ContextHandshakeGiven;
  /** The effects expected, in order; rejections always emit exactly one `reject`. */
  emits?: string[];
}

export interface ContextHandshakeRequirement { id: string; text: string; transitions: ContextHandshakeTransition[] }

const ALL: ContextHandshakeStateName[] = ['NoContext', 'Asserted', 'Acknowledged', 'Released'];
const BOUND: ContextHandshakeStateName[] = ['Asserted', 'Acknowledged'];
const UNBOUND: ContextHandshakeStateName[] = ['NoContext', 'Released'];

export const CONTEXT_HANDSHAKE_REQUIREMENTS: ContextHandshakeRequirement[] = [
  {
    id: 'URS-CTX-001',
    text: 'A unit starts with no context asserted.',
    transitions: [{ from: 'Start', event: 'CREATE', to: 'NoContext', emits: [] }],
  },
  {
    id: 'URS-CTX-002',
    text: 'When no context is bound, the MES asserts context (batch, spec version, optionally unit procedure, operation, phase) with the next sequence number: it is accepted under a context id, published for the edges to stamp their messages with, and awaits the edge acknowledgement.',
    transitions: UNBOUND.map((from): ContextHandshakeTransition => ({ from, event: 'ASSERT_CONTEXT', to: 'Asserted', emits: ['contextAsserted'] })),
  },
  {
    id: 'URS-CTX-003',
    text: 'While a context is bound, the MES may assert it again for the same batch with a higher sequence number (e.g. the next operation or phase): the new context replaces the old one and the edge must acknowledge the new context id.',
    transitions: BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'ASSERT_CONTEXT', to: 'Asserted', emits: ['contextAsserted'] })),
  },
  {
    id: 'URS-CTX-004',
    text: 'An assertion whose sequence number skips numbers after the last accepted one is accepted, but the gap (from, to) is flagged in the answer and the context and annotated.',
    transitions: ALL.map((from): ContextHandshakeTransition => ({ from, event: 'ASSERT_CONTEXT', to: 'Asserted', given: 'gap', emits: ['contextAsserted', 'annotateGap'] })),
  },
  {
    id: 'URS-CTX-005',
    text: 'An assertion whose sequence number is at or below the last accepted one is stale: it is rejected (stale_sequence, with the last accepted sequence) and changes nothing, also after the batch is released.',
    transitions: (['Asserted', 'Acknowledged', 'Released'] as const).map((from): ContextHandshakeTransition =>
      ({ from, event: 'ASSERT_CONTEXT', to: 'reject:stale_sequence', given: 'stale' })),
  },
  {
    id: 'URS-CTX-006',
    text: 'An assertion needs a positive integer sequence number, a batch and a spec version; otherwise it is rejected and changes nothing.',
    transitions: ALL.flatMap((from): ContextHandshakeTransition[] => [
      { from, event: 'ASSERT_CONTEXT', to: 'reject:invalid_sequence', given: 'bad_seq' },
      { from, event: 'ASSERT_CONTEXT', to: 'reject:invalid_context', given: 'no_batch' },
    ]),
  },
  {
    id: 'URS-CTX-007',
    text: 'A context for another batch is not accepted while a batch is bound: the bound batch is released at its end first.',
    transitions: BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'ASSERT_CONTEXT', to: 'reject:batch_not_released', given: 'other_batch' })),
  },
  {
    id: 'URS-CTX-008',
    text: 'The edge acknowledges that it stamps its messages with the new context id: the acknowledgement of the current context id is recorded and the context becomes acknowledged.',
    transitions: [{ from: 'Asserted', event: 'EDGE_ACK', to: 'Acknowledged', emits: ['edgeAcknowledged'] }],
  },
  {
    id: 'URS-CTX-009',
    text: 'An acknowledgement of an old or unknown context id, or when no context is bound, is rejected with the reason and changes nothing.',
    transitions: [
      ...BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'EDGE_ACK', to: 'reject:context_mismatch', given: 'old_context' })),
      ...UNBOUND.map((from): ContextHandshakeTransition => ({ from, event: 'EDGE_ACK', to: 'reject:no_context' })),
    ],
  },
  {
    id: 'URS-CTX-010',
    text: 'A repeated acknowledgement of the current context (e.g. an edge reconnecting) is accepted and recorded; the context stays acknowledged.',
    transitions: [{ from: 'Acknowledged', event: 'EDGE_ACK', to: 'Acknowledged', emits: ['edgeAcknowledged'] }],
  },
  {
    id: 'URS-CTX-011',
    text: 'Only a source that serves the unit may acknowledge its context.',
    transitions: BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'EDGE_ACK', to: 'reject:unknown_source', given: 'unknown_source' })),
  },
  {
    id: 'URS-CTX-012',
    text: 'The edge has until an absolute deadline after the assertion to acknowledge; when it passes unacknowledged the context is flagged ackOverdue and a notice is raised, still awaiting the acknowledgement. A deadline input before it is due, or when none runs, is rejected.',
    transitions: [
      { from: 'Asserted', event: 'TIMER', to: 'Asserted', given: 'due', emits: ['ackOverdue'] },
      { from: 'Asserted', event: 'TIMER', to: 'reject:timer_not_due', given: 'not_due' },
      ...ALL.map((from): ContextHandshakeTransition => ({ from, event: 'TIMER', to: 'reject:timer_stale', given: 'no_deadline' })),
    ],
  },
  {
    id: 'URS-CTX-013',
    text: 'At batch end the bound context is released for that batch; the release is published; the sequence numbering continues.',
    transitions: BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'RELEASE', to: 'Released', emits: ['contextReleased'] })),
  },
  {
    id: 'URS-CTX-014',
    text: 'A release naming another batch than the bound one, or when no context is bound, is rejected and changes nothing.',
    transitions: [
      ...BOUND.map((from): ContextHandshakeTransition => ({ from, event: 'RELEASE', to: 'reject:batch_mismatch', given: 'wrong_batch' })),
      ...UNBOUND.map((from): ContextHandshakeTransition => ({ from, event: 'RELEASE', to: 'reject:no_context' })),
    ],
  },
  {
    id: 'URS-CTX-015',
    text: 'An unknown input or timer is refused with a reason and changes nothing.',
    transitions: ALL.flatMap((from): ContextHandshakeTransition[] => [
      { from, event: 'UNKNOWN', to: 'reject:unknown_event' },
      { from, event: 'TIMER', to: 'reject:unknown_timer', given: 'unknown_timer' },
    ]),
  },
];
