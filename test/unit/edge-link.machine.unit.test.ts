import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine, type PlainAction } from '../helpers/pure-machine.ts';
import { expectEveryNodeTraced, itEveryRequirementRow } from '../helpers/requirements.ts';
import { initialTransition } from 'xstate';
import {
  EDGE_LINK_MACHINE_VERSION, EDGE_LINK_STATES, HEARTBEAT_TIMER, edgeLinkMachine, mergeRange, subtractRange,
} from '../../machines/edge-link.machine.ts';
import type { EdgeLinkEvent, EdgeLinkInput } from '../../machines/edge-link.machine.ts';
import { EDGE_LINK_REQUIREMENTS } from '../model/requirements/edge-link.ts';
import type { EdgeLinkStateName, EdgeLinkTransition } from '../model/requirements/edge-link.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof edgeLinkMachine>>[0];
const pure = pureMachine<Snapshot, EdgeLinkEvent, EdgeLinkInput>(edgeLinkMachine);
type Action = PlainAction;

const INPUT: EdgeLinkInput = { source: 'line2', staleAfterMs: 15_000 };

const create = () => pure.create(INPUT);

const send = (snapshot: Snapshot, event: EdgeLinkEvent) => pure.send(snapshot, event);

const heartbeat = (at: number, extra: Partial<Extract<EdgeLinkEvent, { type: 'HEARTBEAT' }>> = {}): EdgeLinkEvent =>
  ({ type: 'HEARTBEAT', at, by: 'edge:line2', sent: at - 40, epoch: 'e1', bufferDepth: 0, collector: 'ok', ...extra });

/** The inputs that move a fresh link into each state, with explicit times. */
const REACH: Record<EdgeLinkStateName, EdgeLinkEvent[]> = {
  Unknown: [],
  Online: [heartbeat(2_000)],
  Buffering: [heartbeat(2_000, { bufferDepth: 5, oldestBufferedAt: 1_500 })],
  Replaying: [heartbeat(2_000, { bufferDepth: 5, replaying: true })],
  Stale: [heartbeat(2_000), { type: 'TIMER', at: 17_000, name: HEARTBEAT_TIMER }],
};

const run = (snapshot: Snapshot, events: EdgeLinkEvent[]): Snapshot => events.reduce((s, e) => send(s, e).next, snapshot);

const reach = (state: EdgeLinkStateName): Snapshot => {
  const snapshot = run(create().snapshot, REACH[state]);
  expect(snapshot.value).toBe(state);
  return snapshot;
};

const AT = 10_000;
const GAP = { from: 10, to: 12 };

/** The snapshot a requirement row starts from: an epoch is known where the row needs one, a gap pending where it names one. */
function before(row: EdgeLinkTransition & { from: EdgeLinkStateName }): Snapshot {
  let snapshot = reach(row.from);
  const needsEpoch = row.event.startsWith('GAP_') || row.given === 'other_epoch' || row.given === 'same_epoch';
  if (snapshot.context.epoch === undefined && needsEpoch) snapshot = send(snapshot, { type: 'EPOCH', at: 1_000, epoch: 'e1' }).next;
  if (row.given === 'pending') snapshot = send(snapshot, { type: 'GAP_DETECTED', at: 3_000, epoch: 'e1', ...GAP }).next;
  expect(snapshot.value).toBe(row.from);
  return snapshot;
}

/** The input a requirement row names, built from its event, its situation and the snapshot it is sent in. */
function eventFor(row: EdgeLinkTransition, s: Snapshot): EdgeLinkEvent {
  const c = s.context;
  const epoch = row.given === 'other_epoch' ? 'e9' : c.epoch ?? 'e1';
  switch (row.event) {
    case 'HEARTBEAT': switch (row.given) {
      case 'buffering': return heartbeat(AT, { epoch, bufferDepth: 3 });
      case 'replaying': return heartbeat(AT, { epoch, bufferDepth: 3, replaying: true });
      case 'malformed': return heartbeat(AT, { epoch, bufferDepth: -1 });
      default: return heartbeat(AT, { epoch });
    }
    case 'TIMER': {
      const due = c.staleAt ?? AT;
      return { type: 'TIMER', at: row.given === 'not_due' ? due - 1 : due, name: row.given === 'unknown_timer' ? 'cleanHold' : HEARTBEAT_TIMER };
    }
    case 'GAP_DETECTED': case 'GAP_FILLED': case 'GAP_LOST': {
      const range = row.given === 'bad_range' ? { from: 5, to: 4 } : row.given === 'not_pending' ? { from: 900, to: 901 } : GAP;
      return { type: row.event, at: AT, epoch, ...range };
    }
    case 'EPOCH': return { type: 'EPOCH', at: AT, epoch: row.given === 'blank_epoch' ? ' ' : row.given === 'same_epoch' ? epoch : c.epoch === 'e1' ? 'e2' : 'e1' };
    case 'UNKNOWN': return { type: 'RECONNECT', at: AT } as unknown as EdgeLinkEvent;
    case 'CREATE': throw new Error('CREATE is the creation, not an input');
  }
}

describe('edge-link machine: every requirement of test/model/requirements/edge-link.ts', () => {
  itEveryRequirementRow(EDGE_LINK_REQUIREMENTS, {
    create: () => { const { snapshot, actions } = create(); return { next: snapshot, actions }; },
    reach: (row) => before({ ...row, from: row.from as never }),
    send: (start, row) => send(start, eventFor(row, start)),
  });

  it('names a requirement of the list on every transition and state of the machine', () => expectEveryNodeTraced(edgeLinkMachine, EDGE_LINK_REQUIREMENTS));

  it('exports its version and state names', () => {
    expect(EDGE_LINK_MACHINE_VERSION).toBe(1);
    expect(Object.keys(edgeLinkMachine.root.states)).toEqual([...EDGE_LINK_STATES]);
  });
});

describe('edge-link machine: heartbeats, deadline and clock', () => {
  it('keeps the CONTRACT.md §5.2 heartbeat fields, the clock offset (at − sent) and an absolute deadline', () => {
    const { context } = reach('Buffering');
    expect(context).toMatchObject({
      epoch: 'e1', lastHeartbeatAt: 2_000, lastSent: 1_960, clockOffsetMs: 40, bufferDepth: 5, oldestBufferedAt: 1_500,
      collector: 'ok', staleAt: 17_000, timers: { [HEARTBEAT_TIMER]: 17_000 },
    });
    const ahead = send(reach('Online'), heartbeat(5_000, { sent: 5_700 })).next;
    expect(ahead.context.clockOffsetMs).toBe(-700);
    expect(ahead.context.timers).toEqual({ [HEARTBEAT_TIMER]: 20_000 });
  });

  it('goes stale at the deadline with a notice, drops the deadline, and is restored by the next heartbeat with a notice', () => {
    const online = reach('Online');
    const { next: stale, actions } = send(online, { type: 'TIMER', at: 17_000, name: HEARTBEAT_TIMER });
    expect(actions).toEqual([{ type: 'linkStale', params: { source: 'line2', lastHeartbeatAt: 2_000, staleAt: 17_000, at: 17_000 } }]);
    expect(stale.context).toMatchObject({ staleSince: 17_000, timers: {} });
    expect(stale.context.staleAt).toBeUndefined();
    const back = send(stale, heartbeat(30_000, { bufferDepth: 40 }));
    expect(back.next.value).toBe('Buffering');
    expect(back.actions).toEqual([{ type: 'linkRestored', params: { source: 'line2', staleSince: 17_000, at: 30_000 } }]);
    expect(back.next.context.staleSince).toBeUndefined();
  });

  it('a newer heartbeat moves the deadline: the old deadline input is not due', () => {
    const later = send(reach('Online'), heartbeat(12_000)).next;
    expect(send(later, { type: 'TIMER', at: 17_000, name: HEARTBEAT_TIMER }).actions[0]!.params)
      .toMatchObject({ code: 'timer_not_due', dueAt: 27_000 });
  });

  it('follows the edge from storing through replay back to online', () => {
    const replaying = send(reach('Buffering'), heartbeat(4_000, { bufferDepth: 3, replaying: true })).next;
    expect(replaying.value).toBe('Replaying');
    expect(send(replaying, heartbeat(6_000, { bufferDepth: 0 })).next.value).toBe('Online');
  });
});

describe('edge-link machine: gap bookkeeping', () => {
  const gap = (type: 'GAP_DETECTED' | 'GAP_FILLED' | 'GAP_LOST', from: number, to: number, at = AT): EdgeLinkEvent =>
    ({ type, at, epoch: 'e1', from, to });

  it('merges overlapping and adjacent ranges and subtracts filled ones', () => {
    expect(mergeRange([{ from: 10, to: 12 }, { from: 20, to: 22 }], { from: 13, to: 19 })).toEqual([{ from: 10, to: 22 }]);
    expect(mergeRange([{ from: 10, to: 12 }], { from: 30, to: 31 })).toEqual([{ from: 10, to: 12 }, { from: 30, to: 31 }]);
    expect(subtractRange([{ from: 10, to: 20 }], { from: 12, to: 14 })).toEqual({ rest: [{ from: 10, to: 11 }, { from: 15, to: 20 }], removed: 3 });
    expect(subtractRange([{ from: 10, to: 20 }], { from: 30, to: 40 })).toEqual({ rest: [{ from: 10, to: 20 }], removed: 0 });
  });

  it('keeps pending ranges, removes filled ones and counts lost ones, in any link state', () => {
    let s = reach('Replaying');
    s = run(s, [gap('GAP_DETECTED', 10, 12), gap('GAP_DETECTED', 13, 15), gap('GAP_DETECTED', 40, 41)]);
    expect(s.context.pending).toEqual([{ from: 10, to: 15 }, { from: 40, to: 41 }]);
    const filled = send(s, gap('GAP_FILLED', 11, 12));
    expect(filled.next.context.pending).toEqual([{ from: 10, to: 10 }, { from: 13, to: 15 }, { from: 40, to: 41 }]);
    expect(filled.next.context.filledSeqs).toBe(2);
    const lost = send(filled.next, { ...gap('GAP_LOST', 1, 14), reason: 'retention_expired' } as EdgeLinkEvent);
    expect(lost.actions).toEqual([{
      type: 'gapLost',
      params: { source: 'line2', epoch: 'e1', ranges: [{ from: 10, to: 10 }, { from: 13, to: 14 }], seqs: 3, at: AT, reason: 'retention_expired' },
    }]);
    expect(lost.next.context).toMatchObject({ pending: [{ from: 15, to: 15 }, { from: 40, to: 41 }], lostSeqs: 3, lostRanges: 1 });
    expect(lost.next.value).toBe('Replaying');
  });

  it('declares the pending gaps of the previous epoch lost when a new epoch starts', () => {
    const s = run(reach('Online'), [gap('GAP_DETECTED', 10, 12), gap('GAP_DETECTED', 20, 20)]);
    const { next, actions } = send(s, { type: 'EPOCH', at: 9_000, epoch: 'e2' });
    expect(actions).toEqual([
      { type: 'epochStarted', params: { source: 'line2', previous: 'e1', epoch: 'e2', at: 9_000 } },
      {
        type: 'gapLost',
        params: { source: 'line2', epoch: 'e1', ranges: [{ from: 10, to: 12 }, { from: 20, to: 20 }], seqs: 4, at: 9_000, reason: 'epoch_ended' },
      },
    ]);
    expect(next.context).toMatchObject({ epoch: 'e2', pending: [], lostSeqs: 4, lostRanges: 2 });
    expect(send(next, gap('GAP_FILLED', 10, 12)).actions[0]!.params).toMatchObject({ code: 'unknown_epoch', epoch: 'e2' });
    expect(send(next, heartbeat(9_500)).actions[0]!.params).toMatchObject({ code: 'epoch_mismatch', epoch: 'e2' });
    expect(send(next, heartbeat(9_500, { epoch: 'e2' })).next.value).toBe('Online');
  });
});

describe('edge-link machine: robustness', () => {
  it('never throws on unknown or malformed input and stays active with the context unchanged', () => {
    const junk = [
      { type: 'HEARTBEAT', at: AT },
      { type: 'HEARTBEAT', at: AT, sent: 'now', epoch: 'e1', bufferDepth: 0 },
      { type: 'HEARTBEAT', at: AT, sent: AT, epoch: '', bufferDepth: 0 },
      { type: 'HEARTBEAT', at: AT, sent: AT, epoch: 'e1', bufferDepth: 1.5 },
      { type: 'HEARTBEAT', at: AT, sent: AT, epoch: 'e1', bufferDepth: 0, seq: 'x' },
      { type: 'GAP_DETECTED', at: AT, epoch: 'e1' },
      { type: 'GAP_DETECTED', at: AT, epoch: 'e1', from: 0, to: 3 },
      { type: 'GAP_LOST', at: AT, epoch: 'e1', from: '1', to: 3 },
      { type: 'EPOCH', at: AT },
      { type: 'TIMER', at: AT },
      { type: 'FROB', at: AT },
    ] as unknown as EdgeLinkEvent[];
    for (const state of EDGE_LINK_STATES) {
      const snapshot = reach(state);
      for (const event of junk) {
        const { next, actions } = send(snapshot, event);
        expect(next.status, `${state} ${JSON.stringify(event)}`).toBe('active');
        expect(next.value).toBe(state);
        expect(next.context).toEqual(snapshot.context);
        expect(actions.map((a) => a.type), `${state} ${JSON.stringify(event)}`).toEqual(['reject']);
      }
    }
  });

  it('continues identically from a persisted { value, context } restored with resolveState', () => {
    const rest: EdgeLinkEvent[] = [
      { type: 'GAP_DETECTED', at: 3_000, epoch: 'e1', from: 5, to: 9 },
      { type: 'TIMER', at: 16_999, name: HEARTBEAT_TIMER },
      { type: 'TIMER', at: 17_000, name: HEARTBEAT_TIMER },
      heartbeat(20_000, { bufferDepth: 12, replaying: true }),
      { type: 'GAP_FILLED', at: 20_500, epoch: 'e1', from: 5, to: 6 },
      { type: 'GAP_LOST', at: 21_000, epoch: 'e1', from: 9, to: 9 },
      { type: 'EPOCH', at: 22_000, epoch: 'e2' },
      heartbeat(23_000, { epoch: 'e2' }),
    ];
    const restored = expectRestoresIdentically(edgeLinkMachine, reach('Online'), rest);
    expect(restored.value).toBe('Online');
    expect(restored.context).toMatchObject({ epoch: 'e2', pending: [], filledSeqs: 2, lostSeqs: 3, lostRanges: 2 });
  });
});
