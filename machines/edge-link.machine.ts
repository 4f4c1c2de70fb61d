import { assign, enqueueActions, setup } from 'xstate';
import {
  EDGE_LINK_STATES, HEARTBEAT_TIMER, fieldOf, filled, finite, mergeRange, rangeOf, seqNo, size, subtractRange,
  type EdgeLinkContext, type EdgeLinkEvent, type EdgeLinkInput, type EdgeLinkMeta, type EdgeLinkRejectParams,
  type EdgeLinkState, type SeqRange, type EdgeLinkRejection,
} from './edge-link.support.ts';

export { EDGE_LINK_STATES, HEARTBEAT_TIMER, mergeRange, subtractRange };
export type { EdgeLinkContext, EdgeLinkEvent, EdgeLinkInput, EdgeLinkMeta, EdgeLinkRejectParams, EdgeLinkState, SeqRange };

/** Version of the edge-link machine definition stamped on persisted snapshots (DESIGN.md principle 3). */
export const EDGE_LINK_MACHINE_VERSION = 1;

type Args = { context: EdgeLinkContext; event: EdgeLinkEvent };

const reject = (code: EdgeLinkRejection, message: (args: Args) => string, details?: (args: Args) => Record<string, unknown>) => ({
  type: 'reject' as const,
  params: (args: Args): EdgeLinkRejectParams => ({ code, message: message(args), ...details?.(args) }),
});

/** A refusal that leaves the state unchanged, with the requirement it implements. */
const refuse = (requirement: string, code: EdgeLinkRejection, message: (args: Args) => string, description: string,
  details?: (args: Args) => Record<string, unknown>) => ({
  actions: reject(code, message, details),
  meta: { requirement, description } satisfies EdgeLinkMeta,
});

const linkSetup = setup({
  types: {} as { context: EdgeLinkContext; events: EdgeLinkEvent; input: EdgeLinkInput; meta: EdgeLinkMeta },
  guards: {
    heartbeatInvalid: ({ event }) => {
      const depth = fieldOf(event, 'bufferDepth');
      const seq = fieldOf(event, 'seq');
      return !(finite(event.at) && finite(fieldOf(event, 'sent')) && filled(fieldOf(event, 'epoch')) &&
        Number.isInteger(depth) && (depth as number) >= 0 && (seq === undefined || Number.isInteger(seq)));
    },
    otherEpoch: ({ context, event }) => fieldOf(event, 'epoch') !== context.epoch,
    heartbeatOtherEpoch: ({ context, event }) => context.epoch !== undefined && fieldOf(event, 'epoch') !== context.epoch,
    replaying: ({ event }) => fieldOf(event, 'replaying') === true,
    buffering: ({ event }) => Number(fieldOf(event, 'bufferDepth')) > 0,
    isHeartbeatTimer: ({ event }) => fieldOf(event, 'name') === HEARTBEAT_TIMER,
    staleDue: ({ context, event }) => fieldOf(event, 'name') === HEARTBEAT_TIMER && context.staleAt !== undefined &&
      event.at >= context.staleAt,
    rangeInvalid: ({ event }) => {
      const { from, to } = rangeOf(event);
      return !(seqNo(from) && seqNo(to) && from <= to);
    },
    notPending: ({ context, event }) => subtractRange(context.pending, rangeOf(event)).removed === 0,
    epochInvalid: ({ event }) => !filled(fieldOf(event, 'epoch')),
    sameEpoch: ({ context, event }) => fieldOf(event, 'epoch') === context.epoch,
  },
  actions: {
    // Effects: interpreted by the actor host from the returned action objects, never run here.
    reject: (_: unknown, _params: EdgeLinkRejectParams) => {},
    linkStale: (_: unknown, _params: { source: string; lastHeartbeatAt?: number; staleAt: number; at: number }) => {},
    linkRestored: (_: unknown, _params: { source: string; staleSince?: number; at: number }) => {},
    gapDetected: (_: unknown, _params: { source: string; epoch: string; range: SeqRange; pending: SeqRange[]; at: number }) => {},
    gapFilled: (_: unknown, _params: { source: string; epoch: string; range: SeqRange; pending: SeqRange[]; at: number }) => {},
    gapLost: (_: unknown, _params: { source: string; epoch: string; ranges: SeqRange[]; seqs: number; at: number; reason: string }) => {},
    epochStarted: (_: unknown, _params: { source: string; previous?: string; epoch: string; at: number }) => {},
    // The previous epoch's sequence store is gone: its pending gaps can never be filled.
    loseEpochGaps: enqueueActions(({ context, event, enqueue }) => {
      if (context.pending.length === 0) return;
      enqueue({
        type: 'gapLost',
        params: {
          source: context.source, epoch: context.epoch ?? '', ranges: context.pending,
          seqs: context.pending.reduce((n, r) => n + size(r), 0), at: event.at, reason: 'epoch_ended',
        },
      });
    }),
    // Context updates.
    storeHeartbeat: assign(({ context, event }) => {
      if (event.type !== 'HEARTBEAT') return {};
      const staleAt = event.at + context.staleAfterMs;
      return {
        epoch: event.epoch, lastHeartbeatAt: event.at, lastSent: event.sent, clockOffsetMs: event.at - event.sent,
        bufferDepth: event.bufferDepth, oldestBufferedAt: event.oldestBufferedAt, collector: event.collector ?? context.collector,
        lastSeq: event.seq ?? context.lastSeq, staleAt, staleSince: undefined,
        timers: { ...context.timers, [HEARTBEAT_TIMER]: staleAt },
      };
    }),
    markStale: assign(({ context, event }) => ({
      staleAt: undefined, staleSince: event.at,
      timers: Object.fromEntries(Object.entries(context.timers).filter(([n]) => n !== HEARTBEAT_TIMER)),
    })),
    addGap: assign(({ context, event }) => ({ pending: mergeRange(context.pending, rangeOf(event)) })),
    fillGap: assign(({ context, event }) => {
      const { rest, removed } = subtractRange(context.pending, rangeOf(event));
      return { pending: rest, filledSeqs: context.filledSeqs + removed };
    }),
    loseGap: assign(({ context, event }) => {
      const { rest, removed } = subtractRange(context.pending, rangeOf(event));
      return { pending: rest, lostSeqs: context.lostSeqs + removed, lostRanges: context.lostRanges + 1 };
    }),
    startEpoch: assign(({ context, event }) => ({
      epoch: String(fieldOf(event, 'epoch')), pending: [],
      lostSeqs: context.lostSeqs + context.pending.reduce((n, r) => n + size(r), 0),
      lostRanges: context.lostRanges + context.pending.length,
    })),
  },
});

const gapParams = ({ context, event }: Args) => ({
  source: context.source, epoch: String(fieldOf(event, 'epoch')), range: rangeOf(event), pending: context.pending, at: event.at,
});

const restored = {
  type: 'linkRestored' as const,
  params: ({ context, event }: Args) => ({ source: context.source, ...(context.staleSince === undefined ? {} : { staleSince: context.staleSince }), at: event.at }),
};

/** HEARTBEAT in one state: validation and epoch check, then Replaying, Buffering or Online by what the edge reports. */
const heartbeatIn = (from: EdgeLinkState) => {
  const req = (r: string) => (from === 'Stale' ? 'URS-LINK-006' : r);
  const actions = from === 'Stale' ? [restored, 'storeHeartbeat' as const] : ['storeHeartbeat' as const];
  const verb = from === 'Stale' ? 'Heartbeat after silence: restored' : 'Heartbeat';
  return [
    {
      guard: 'heartbeatInvalid' as const,
      ...refuse('URS-LINK-008', 'invalid_heartbeat', () => 'a heartbeat carries at, sent, epoch and an integer bufferDepth ≥ 0',
        'Heartbeat refused: malformed'),
    },
    {
      guard: 'heartbeatOtherEpoch' as const,
      ...refuse('URS-LINK-009', 'epoch_mismatch',
        ({ context, event }) => `heartbeat epoch ${JSON.stringify(fieldOf(event, 'epoch'))} is not the current epoch ${context.epoch}; an EPOCH input starts a new one`,
        'Heartbeat refused: another epoch', ({ context }) => ({ epoch: context.epoch })),
    },
    {
      guard: 'replaying' as const, target: '#edgeLink.Replaying' as const, actions,
      meta: { requirement: req('URS-LINK-004'), description: `${verb}: edge replays its buffer (${from} → Replaying)` },
    },
    {
      guard: 'buffering' as const, target: '#edgeLink.Buffering' as const, actions,
      meta: { requirement: req('URS-LINK-003'), description: `${verb}: edge stores messages (${from} → Buffering)` },
    },
    {
      target: '#edgeLink.Online' as const, actions,
      meta: { requirement: req('URS-LINK-002'), description: `${verb}: buffer empty (${from} → Online)` },
    },
  ];
};

const unknownTimer = refuse('URS-LINK-007', 'unknown_timer', ({ event }) => `unknown timer ${JSON.stringify(fieldOf(event, 'name'))}`,
  'Timer refused: unknown timer');

/** TIMER while the heartbeat deadline runs (Online, Buffering, Replaying). */
const timerLive = [
  {
    guard: 'staleDue' as const,
    target: '#edgeLink.Stale' as const,
    actions: [
      {
        type: 'linkStale' as const,
        params: ({ context, event }: Args) => ({
          source: context.source, ...(context.lastHeartbeatAt === undefined ? {} : { lastHeartbeatAt: context.lastHeartbeatAt }),
          staleAt: context.staleAt!, at: event.at,
        }),
      },
      'markStale' as const,
    ],
    meta: { requirement: 'URS-LINK-005', description: 'No heartbeat by the deadline: stale, notice raised' },
  },
  {
    guard: 'isHeartbeatTimer' as const,
    ...refuse('URS-LINK-005', 'timer_not_due', ({ context }) => `the heartbeat deadline of ${context.source} is ${context.staleAt}`,
      'Timer refused: heartbeat deadline not reached', ({ context }) => ({ dueAt: context.staleAt })),
  },
  unknownTimer,
];

/** TIMER where no heartbeat deadline runs (Unknown, Stale). */
const timerNone = [
  {
    guard: 'isHeartbeatTimer' as const,
    ...refuse('URS-LINK-007', 'timer_stale', ({ context }) => `${context.source} has no heartbeat deadline running`,
      'Timer refused: no heartbeat deadline running'),
  },
  unknownTimer,
];

const rangeChecks = [
  {
    guard: 'rangeInvalid' as const,
    ...refuse('URS-LINK-013', 'invalid_range', () => 'a gap names integer sequence numbers 1 ≤ from ≤ to', 'Gap refused: invalid range'),
  },
  {
    guard: 'otherEpoch' as const,
    ...refuse('URS-LINK-013', 'unknown_epoch',
      ({ context, event }) => `epoch ${JSON.stringify(fieldOf(event, 'epoch'))} is not the current epoch ${context.epoch ?? '(none yet)'}`,
      'Gap refused: not the current epoch', ({ context }) => ({ epoch: context.epoch ?? null })),
  },
];

const notPending = (requirement: string) => ({
  guard: 'notPending' as const,
  ...refuse(requirement, 'gap_not_pending', ({ event }) => `no pending gap overlaps ${JSON.stringify(rangeOf(event))}`,
    'Refused: no pending gap in that range', ({ context }) => ({ pending: context.pending })),
});

/**
 * One edge source's link as the runtime sees it: liveness from heartbeats with an absolute deadline, the edge's
 * store-and-forward and replay, the sequence gaps of the current epoch (pending, filled, lost) and the edge clock
 * offset (CONTRACT.md §5.1, §5.2, `GET /sources`; DESIGN.md principles 8, 9; ALCOA+ complete).
 */
export const edgeLinkMachine = linkSetup.createMachine({
  id: 'edgeLink',
  initial: 'Unknown',
  context: ({ input }) => ({
    source: input.source, staleAfterMs: input.staleAfterMs, bufferDepth: 0, pending: [],
    filledSeqs: 0, lostSeqs: 0, lostRanges: 0, timers: {},
  }),
  meta: { description: 'Edge source link: liveness, store-and-forward, replay and sequence gaps' },
  states: {
    Unknown: {
      meta: { requirement: 'URS-LINK-001', description: 'Never heard from since the actor was created' },
      on: { HEARTBEAT: heartbeatIn('Unknown'), TIMER: timerNone },
    },
    Online: {
      meta: { requirement: 'URS-LINK-002', description: 'Heartbeats arrive; nothing buffered' },
      on: { HEARTBEAT: heartbeatIn('Online'), TIMER: timerLive },
    },
    Buffering: {
      meta: { requirement: 'URS-LINK-003', description: 'The edge reports it is storing messages (store-and-forward)' },
      on: { HEARTBEAT: heartbeatIn('Buffering'), TIMER: timerLive },
    },
    Replaying: {
      meta: { requirement: 'URS-LINK-004', description: 'The edge replays its buffer (historical messages)' },
      on: { HEARTBEAT: heartbeatIn('Replaying'), TIMER: timerLive },
    },
    Stale: {
      meta: { requirement: 'URS-LINK-005', description: 'No heartbeat within the stale time' },
      on: { HEARTBEAT: heartbeatIn('Stale'), TIMER: timerNone },
    },
  },
  on: {
    GAP_DETECTED: [
      ...rangeChecks,
      {
        actions: ['addGap', { type: 'gapDetected', params: gapParams }],
        meta: { requirement: 'URS-LINK-010', description: 'Gap detected: range pending (merged)' },
      },
    ],
    GAP_FILLED: [
      ...rangeChecks,
      notPending('URS-LINK-011'),
      {
        actions: ['fillGap', { type: 'gapFilled', params: gapParams }],
        meta: { requirement: 'URS-LINK-011', description: 'Gap filled: range no longer pending' },
      },
    ],
    GAP_LOST: [
      ...rangeChecks,
      notPending('URS-LINK-012'),
      {
        actions: [
          {
            type: 'gapLost',
            params: ({ context, event }) => {
              const r = rangeOf(event);
              const { removed } = subtractRange(context.pending, r);
              const ranges = context.pending.filter((p) => !(p.to < r.from || p.from > r.to))
                .map((p) => ({ from: Math.max(p.from, r.from), to: Math.min(p.to, r.to) }));
              const reason = fieldOf(event, 'reason');
              return { source: context.source, epoch: context.epoch!, ranges, seqs: removed, at: event.at, reason: filled(reason) ? reason : 'backfill_gave_up' };
            },
          },
          'loseGap',
        ],
        meta: { requirement: 'URS-LINK-012', description: 'Gap declared lost: counted and annotated' },
      },
    ],
    EPOCH: [
      {
        guard: 'epochInvalid',
        ...refuse('URS-LINK-014', 'invalid_epoch', () => 'an epoch is a non-empty string', 'Epoch refused: invalid'),
      },
      {
        guard: 'sameEpoch',
        ...refuse('URS-LINK-014', 'same_epoch', ({ context }) => `epoch ${context.epoch} is already current`, 'Epoch refused: already current'),
      },
      {
        actions: [
          {
            type: 'epochStarted',
            params: ({ context, event }) => ({
              source: context.source, ...(context.epoch === undefined ? {} : { previous: context.epoch }),
              epoch: String(fieldOf(event, 'epoch')), at: event.at,
            }),
          },
          'loseEpochGaps',
          'startEpoch',
        ],
        meta: { requirement: 'URS-LINK-014', description: 'New epoch: sequences restart; pending gaps of the previous one lost' },
      },
    ],
    '*': refuse('URS-LINK-015', 'unknown_event', ({ event }) => `unknown event ${JSON.stringify(event.type)}`, 'Unknown event: refused'),
  },
});
