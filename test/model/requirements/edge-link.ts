/**
 * The edge link requirements as data, written by hand from the user requirement: "a source's connection as the
 * runtime sees it: online, buffering (edge reports it is storing), replaying, stale (no heartbeat), with the gap
 * bookkeeping" (CONTRACT.md §5.1 sequences and epochs, §5.2 heartbeats, `GET /sources`; DESIGN.md principles 7–9).
 * The edge-link machine is checked against this list and never derived from it.
 */
export type EdgeLinkStateName = 'Unknown' | 'Online' | 'Buffering' | 'Replaying' | 'Stale';

/** Short event names; `CREATE` is the registration of the source, the others are inputs. */
export type EdgeLinkEventName = 'CREATE' | 'HEARTBEAT' | 'TIMER' | 'GAP_DETECTED' | 'GAP_FILLED' | 'GAP_LOST' | 'EPOCH' | 'UNKNOWN';

/**
 * Named situations the tests turn into inputs. Absent: a valid input of the current epoch — a heartbeat with an empty
 * buffer, not replaying; a gap range; the heartbeat deadline falling due.
 */
export type EdgeLinkGiven =
  | 'buffering' | 'replaying' | 'malformed' | 'other_epoch'
  | 'due' | 'not_due' | 'no_deadline' | 'unknown_timer'
  | 'pending' | 'not_pending' | 'bad_range'
  | 'new_epoch' | 'same_epoch' | 'blank_epoch';

export interface EdgeLinkTransition {
  from: EdgeLinkStateName | 'Start';
  event: EdgeLinkEventName;
  to: EdgeLinkStateName | `reject:${string}`;
  given?: EdgeLinkGiven;
  /** The effects expected, in order; rejections always emit exactly one `reject`. */
  emits?: string[];
}

export interface EdgeLinkRequirement { id: string; text: string; transitions: EdgeLinkTransition[] }

const ALL: EdgeLinkStateName[] = ['Unknown', 'Online', 'Buffering', 'Replaying', 'Stale'];
/** The states in which heartbeats arrive in time. */
const LIVE: EdgeLinkStateName[] = ['Online', 'Buffering', 'Replaying'];
/** The states in which a heartbeat is not a recovery from silence. */
const HEARD: EdgeLinkStateName[] = ['Unknown', ...LIVE];

export const EDGE_LINK_REQUIREMENTS: EdgeLinkRequirement[] = [
  {
    id: 'URS-LINK-001',
    text: 'A source the runtime has never heard from is Unknown.',
    transitions: [{ from: 'Start', event: 'CREATE', to: 'Unknown', emits: [] }],
  },
  {
    id: 'URS-LINK-002',
    text: 'A heartbeat reporting an empty store-and-forward buffer and no replay puts the source Online; every heartbeat records its receipt time, the edge clock (sent) and the clock offset between them, the buffer depth and the collector status.',
    transitions: HEARD.map((from): EdgeLinkTransition => ({ from, event: 'HEARTBEAT', to: 'Online', emits: [] })),
  },
  {
    id: 'URS-LINK-003',
    text: 'A heartbeat reporting buffered messages (bufferDepth > 0) and no replay means the edge is storing: the source is Buffering.',
    transitions: HEARD.map((from): EdgeLinkTransition => ({ from, event: 'HEARTBEAT', to: 'Buffering', given: 'buffering', emits: [] })),
  },
  {
    id: 'URS-LINK-004',
    text: 'A heartbeat reporting a replay of the buffer puts the source in Replaying.',
    transitions: HEARD.map((from): EdgeLinkTransition => ({ from, event: 'HEARTBEAT', to: 'Replaying', given: 'replaying', emits: [] })),
  },
  {
    id: 'URS-LINK-005',
    text: 'Every heartbeat sets an absolute deadline (its receipt time plus the configured stale time); when the deadline passes without a newer heartbeat the source is Stale and a notice is raised. A deadline input before it is due is rejected.',
    transitions: LIVE.flatMap((from): EdgeLinkTransition[] => [
      { from, event: 'TIMER', to: 'Stale', given: 'due', emits: ['linkStale'] },
      { from, event: 'TIMER', to: 'reject:timer_not_due', given: 'not_due' },
    ]),
  },
  {
    id: 'URS-LINK-006',
    text: 'A heartbeat from a stale source restores it (Online, Buffering or Replaying as the heartbeat reports) and a notice is raised.',
    transitions: [
      { from: 'Stale', event: 'HEARTBEAT', to: 'Online', emits: ['linkRestored'] },
      { from: 'Stale', event: 'HEARTBEAT', to: 'Buffering', given: 'buffering', emits: ['linkRestored'] },
      { from: 'Stale', event: 'HEARTBEAT', to: 'Replaying', given: 'replaying', emits: ['linkRestored'] },
    ],
  },
  {
    id: 'URS-LINK-007',
    text: 'A deadline input when no heartbeat deadline runs (never heard, already stale), or for an unknown timer, is rejected and changes nothing.',
    transitions: [
      ...(['Unknown', 'Stale'] as const).map((from): EdgeLinkTransition => ({ from, event: 'TIMER', to: 'reject:timer_stale', given: 'no_deadline' })),
      ...ALL.map((from): EdgeLinkTransition => ({ from, event: 'TIMER', to: 'reject:unknown_timer', given: 'unknown_timer' })),
    ],
  },
  {
    id: 'URS-LINK-008',
    text: 'A malformed heartbeat (no sent time, no epoch, or a buffer depth that is not a non-negative integer) is rejected and changes nothing.',
    transitions: ALL.map((from): EdgeLinkTransition => ({ from, event: 'HEARTBEAT', to: 'reject:invalid_heartbeat', given: 'malformed' })),
  },
  {
    id: 'URS-LINK-009',
    text: 'A heartbeat naming another epoch than the current one is rejected (epoch_mismatch): a new epoch is started explicitly.',
    transitions: ALL.map((from): EdgeLinkTransition => ({ from, event: 'HEARTBEAT', to: 'reject:epoch_mismatch', given: 'other_epoch' })),
  },
  {
    id: 'URS-LINK-010',
    text: 'A sequence gap detected in the current epoch is kept pending, merged with the pending ranges it overlaps or touches; the link state does not change.',
    transitions: ALL.map((from): EdgeLinkTransition => ({ from, event: 'GAP_DETECTED', to: from, emits: ['gapDetected'] })),
  },
  {
    id: 'URS-LINK-011',
    text: 'Data that fills a pending gap (e.g. replayed from the edge buffer) removes the filled range from the pending ones; a fill of a range that is not pending is rejected.',
    transitions: ALL.flatMap((from): EdgeLinkTransition[] => [
      { from, event: 'GAP_FILLED', to: from, given: 'pending', emits: ['gapFilled'] },
      { from, event: 'GAP_FILLED', to: 'reject:gap_not_pending', given: 'not_pending' },
    ]),
  },
  {
    id: 'URS-LINK-012',
    text: 'A pending gap declared lost (the retention or backfill gave up) is no longer pending, is counted as lost and annotated; declaring lost a range that is not pending is rejected.',
    transitions: ALL.flatMap((from): EdgeLinkTransition[] => [
      { from, event: 'GAP_LOST', to: from, given: 'pending', emits: ['gapLost'] },
      { from, event: 'GAP_LOST', to: 'reject:gap_not_pending', given: 'not_pending' },
    ]),
  },
  {
    id: 'URS-LINK-013',
    text: 'A gap input needs a valid range of sequence numbers (1 ≤ from ≤ to) of the current epoch; otherwise it is rejected and changes nothing.',
    transitions: ALL.flatMap((from): EdgeLinkTransition[] => (['GAP_DETECTED', 'GAP_FILLED', 'GAP_LOST'] as const).flatMap((event): EdgeLinkTransition[] => [
      { from, event, to: 'reject:invalid_range', given: 'bad_range' },
      { from, event, to: 'reject:unknown_epoch', given: 'other_epoch' },
    ])),
  },
  {
    id: 'URS-LINK-014',
    text: 'A new epoch restarts the sequence numbers: the gaps still pending in the previous epoch can no longer be filled and are counted as lost; the link state does not change. Starting the current epoch again, or an epoch input that names no epoch, is rejected.',
    transitions: ALL.flatMap((from): EdgeLinkTransition[] => [
      { from, event: 'EPOCH', to: from, given: 'new_epoch', emits: ['epochStarted'] },
      { from, event: 'EPOCH', to: 'reject:same_epoch', given: 'same_epoch' },
      { from, event: 'EPOCH', to: 'reject:invalid_epoch', given: 'blank_epoch' },
    ]),
  },
  {
    id: 'URS-LINK-015',
    text: 'An unknown input is refused with a reason and changes nothing.',
    transitions: ALL.map((from): EdgeLinkTransition => ({ from, event: 'UNKNOWN', to: 'reject:unknown_event' })),
  },
];
