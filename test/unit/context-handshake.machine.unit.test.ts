import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine, type PlainAction } from '../helpers/pure-machine.ts';
import { expectEveryNodeTraced, itEveryRequirementRow } from '../helpers/requirements.ts';
import { initialTransition } from 'xstate';
import {
  ACK_DEADLINE_TIMER, CONTEXT_HANDSHAKE_MACHINE_VERSION, CONTEXT_HANDSHAKE_STATES, contextHandshakeMachine, mintContextId,
} from '../../machines/context-handshake.machine.ts';
import type { ContextHandshakeEvent, ContextHandshakeInput } from '../../machines/context-handshake.machine.ts';
import { CONTEXT_HANDSHAKE_REQUIREMENTS } from '../model/requirements/context-handshake.ts';
import type { ContextHandshakeStateName, ContextHandshakeTransition } from '../model/requirements/context-handshake.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof contextHandshakeMachine>>[0];
const pure = pureMachine<Snapshot, ContextHandshakeEvent, ContextHandshakeInput>(contextHandshakeMachine);
type Action = PlainAction;

const INPUT: ContextHandshakeInput = { unit: 'R201', ackTimeoutMs: 30_000, sources: ['line2'] };

const create = (input: Partial<ContextHandshakeInput> = {}) => pure.create({ ...INPUT, ...input });

const send = (snapshot: Snapshot, event: ContextHandshakeEvent) => pure.send(snapshot, event);

const assertion = (seq: number, at: number, extra: Partial<Extract<ContextHandshakeEvent, { type: 'ASSERT_CONTEXT' }>> = {}): ContextHandshakeEvent =>
  ({ type: 'ASSERT_CONTEXT', at, by: 'mes', seq, batchId: 'B1', specVersion: 'MR-7', unitProcedure: 'UP1', operation: 'HEAT', ...extra });

/** The inputs that move a fresh handshake into each state, with explicit, increasing times. */
const PATH: Record<Exclude<ContextHandshakeStateName, 'NoContext'>, ContextHandshakeEvent> = {
  Asserted: assertion(1, 2_000),
  Acknowledged: { type: 'EDGE_ACK', at: 3_000, by: 'edge', source: 'line2', contextId: 'R201/B1/1' },
  Released: { type: 'RELEASE', at: 4_000, by: 'mes', batchId: 'B1' },
};

const reach = (state: ContextHandshakeStateName): Snapshot => {
  let snapshot = create().snapshot;
  for (const step of CONTEXT_HANDSHAKE_STATES.slice(1, CONTEXT_HANDSHAKE_STATES.indexOf(state) + 1)) {
    snapshot = send(snapshot, PATH[step as keyof typeof PATH]).next;
  }
  expect(snapshot.value).toBe(state);
  return snapshot;
};

const AT = 10_000;

/** The snapshot a requirement row starts from: Asserted without a running deadline is Asserted once overdue. */
function before(row: ContextHandshakeTransition & { from: ContextHandshakeStateName }): Snapshot {
  const snapshot = reach(row.from);
  if (row.from === 'Asserted' && row.event === 'TIMER' && row.given === 'no_deadline') {
    return send(snapshot, { type: 'TIMER', at: snapshot.context.ackDueAt!, name: ACK_DEADLINE_TIMER }).next;
  }
  return snapshot;
}

/** The input a requirement row names, built from its event, its situation and the snapshot it is sent in. */
function eventFor(row: ContextHandshakeTransition, s: Snapshot): ContextHandshakeEvent {
  const c = s.context;
  const bound = c.context?.batchId ?? 'B1';
  switch (row.event) {
    case 'ASSERT_CONTEXT': switch (row.given) {
      case 'gap': return assertion(c.lastSeq + 3, AT, { batchId: bound });
      case 'stale': return assertion(c.lastSeq, AT, { batchId: bound });
      case 'bad_seq': return assertion(0, AT, { batchId: bound });
      case 'no_batch': return assertion(c.lastSeq + 1, AT, { batchId: '' });
      case 'other_batch': return assertion(c.lastSeq + 1, AT, { batchId: 'B2' });
      default: return assertion(c.lastSeq + 1, AT, { batchId: bound });
    }
    case 'EDGE_ACK': return {
      type: 'EDGE_ACK', at: AT, by: 'edge', source: row.given === 'unknown_source' ? 'rogue' : 'line2',
      contextId: row.given === 'old_context' ? 'R201/B1/0' : c.context?.contextId ?? c.released?.contextId ?? 'R201/B1/1',
    };
    case 'RELEASE': return { type: 'RELEASE', at: AT, by: 'mes', batchId: row.given === 'wrong_batch' ? 'B9' : bound };
    case 'TIMER': {
      const name = row.given === 'unknown_timer' ? 'cleanHold' : ACK_DEADLINE_TIMER;
      const due = c.ackDueAt ?? AT;
      return { type: 'TIMER', at: row.given === 'not_due' ? due - 1 : due, name };
    }
    case 'UNKNOWN': return { type: 'REASSIGN', at: AT, by: 'mes' } as unknown as ContextHandshakeEvent;
    case 'CREATE': throw new Error('CREATE is the creation, not an input');
  }
}

describe('context-handshake machine: every requirement of test/model/requirements/context-handshake.ts', () => {
  itEveryRequirementRow(CONTEXT_HANDSHAKE_REQUIREMENTS, {
    create: () => { const { snapshot, actions } = create(); return { next: snapshot, actions }; },
    reach: (row) => before({ ...row, from: row.from as never }),
    send: (start, row) => send(start, eventFor(row, start)),
  });

  it('names a requirement of the list on every transition and state of the machine', () => expectEveryNodeTraced(contextHandshakeMachine, CONTEXT_HANDSHAKE_REQUIREMENTS));

  it('exports its version and state names', () => {
    expect(CONTEXT_HANDSHAKE_MACHINE_VERSION).toBe(1);
    expect(Object.keys(contextHandshakeMachine.root.states)).toEqual([...CONTEXT_HANDSHAKE_STATES]);
  });
});

describe('context-handshake machine: assertion, context id and gaps', () => {
  it('keeps the context id the HTTP route mints (<unit>/<batch>/<seq>) when the caller gives none, and a given one as is', () => {
    const { next, actions } = send(create().snapshot, assertion(1, 2_000));
    expect(next.context.context?.contextId).toBe(mintContextId('R201', 'B1', 1));
    expect(next.context.context?.contextId).toBe('R201/B1/1');
    expect(actions).toEqual([{
      type: 'contextAsserted',
      params: {
        unit: 'R201', previousSeq: 0, ackDueAt: 32_000,
        context: {
          contextId: 'R201/B1/1', batchId: 'B1', specVersion: 'MR-7', seq: 1, unitProcedure: 'UP1', operation: 'HEAT',
          assertedAt: 2_000, by: 'mes',
        },
      },
    }]);
    const given = send(create().snapshot, assertion(1, 2_000, { contextId: 'mes-ctx-42' })).next;
    expect(given.context.context?.contextId).toBe('mes-ctx-42');
  });

  it('arms the ack deadline as an absolute time in context.timers', () => {
    const asserted = reach('Asserted');
    expect(asserted.context.ackDueAt).toBe(32_000);
    expect(asserted.context.timers).toEqual({ [ACK_DEADLINE_TIMER]: 32_000 });
    expect(reach('Acknowledged').context.timers).toEqual({});
    expect(reach('Released').context.timers).toEqual({});
  });

  it('flags a gap as { from, to } in the context and the annotation, and counts it', () => {
    const { next, actions } = send(reach('Acknowledged'), assertion(5, 6_000, { operation: 'COOL' }));
    expect(next.value).toBe('Asserted');
    expect(next.context.context?.gap).toEqual({ from: 2, to: 4 });
    expect(next.context.gapCount).toBe(1);
    expect(next.context.lastSeq).toBe(5);
    expect(actions[0]).toMatchObject({ type: 'contextAsserted', params: { previousSeq: 1, context: { gap: { from: 2, to: 4 }, seq: 5 } } });
    expect(actions[1]).toEqual({ type: 'annotateGap', params: { unit: 'R201', contextId: 'R201/B1/5', gap: { from: 2, to: 4 }, at: 6_000 } });
  });

  it('rejects a stale sequence with the last accepted one, also after release', () => {
    for (const state of ['Asserted', 'Released'] as const) {
      const { actions } = send(reach(state), assertion(1, 9_000));
      expect(actions[0]!.params).toMatchObject({ code: 'stale_sequence', lastSeq: 1 });
    }
  });

  it('re-asserting clears the acknowledgement and the overdue flag: the edge must acknowledge the new id', () => {
    const acked = reach('Acknowledged');
    const { next } = send(acked, assertion(2, 5_000, { operation: 'COOL' }));
    expect(next.value).toBe('Asserted');
    expect(next.context.acks).toEqual([]);
    expect(send(next, { type: 'EDGE_ACK', at: 5_100, source: 'line2', contextId: 'R201/B1/1' }).actions[0]!.params)
      .toMatchObject({ code: 'context_mismatch', contextId: 'R201/B1/2' });
    expect(send(next, { type: 'EDGE_ACK', at: 5_100, source: 'line2', contextId: 'R201/B1/2' }).next.value).toBe('Acknowledged');
  });
});

describe('context-handshake machine: edge acknowledgement and its deadline', () => {
  it('records who acknowledged which context and when', () => {
    const { next, actions } = send(reach('Asserted'), PATH.Acknowledged);
    expect(next.context.acks).toEqual([{ source: 'line2', contextId: 'R201/B1/1', at: 3_000, late: false }]);
    expect(actions).toEqual([{ type: 'edgeAcknowledged', params: { unit: 'R201', ack: next.context.acks[0], repeated: false } }]);
  });

  it('accepts any source when none are configured', () => {
    const asserted = send(create({ sources: [] }).snapshot, assertion(1, 2_000)).next;
    expect(send(asserted, { ...PATH.Acknowledged, source: 'anything' } as ContextHandshakeEvent).next.value).toBe('Acknowledged');
  });

  it('flags ackOverdue at the deadline with a notice, and marks a later acknowledgement late', () => {
    const asserted = reach('Asserted');
    const early = send(asserted, { type: 'TIMER', at: 31_999, name: ACK_DEADLINE_TIMER });
    expect(early.actions[0]!.params).toMatchObject({ code: 'timer_not_due', dueAt: 32_000 });
    const { next, actions } = send(asserted, { type: 'TIMER', at: 32_000, name: ACK_DEADLINE_TIMER });
    expect(next.value).toBe('Asserted');
    expect(next.context.ackOverdue).toBe(true);
    expect(next.context.timers).toEqual({});
    expect(actions).toEqual([{ type: 'ackOverdue', params: { unit: 'R201', contextId: 'R201/B1/1', dueAt: 32_000, at: 32_000 } }]);
    const late = send(next, { type: 'EDGE_ACK', at: 40_000, source: 'line2', contextId: 'R201/B1/1' }).next;
    expect(late.value).toBe('Acknowledged');
    expect(late.context.acks).toEqual([{ source: 'line2', contextId: 'R201/B1/1', at: 40_000, late: true }]);
  });
});

describe('context-handshake machine: release at batch end', () => {
  it('releases the bound batch and keeps the sequence for the next batch', () => {
    const { next, actions } = send(reach('Acknowledged'), PATH.Released);
    expect(next.context.context).toBeUndefined();
    expect(next.context.released).toEqual({ contextId: 'R201/B1/1', batchId: 'B1', at: 4_000, by: 'mes' });
    expect(actions).toEqual([{ type: 'contextReleased', params: { unit: 'R201', contextId: 'R201/B1/1', batchId: 'B1', at: 4_000, by: 'mes' } }]);
    const nextBatch = send(next, assertion(2, 5_000, { batchId: 'B2' })).next;
    expect(nextBatch.context.context).toMatchObject({ contextId: 'R201/B2/2', batchId: 'B2' });
    expect(nextBatch.context.released).toBeUndefined();
  });

  it('rejects a release of another batch with the bound one named', () => {
    expect(send(reach('Asserted'), { type: 'RELEASE', at: 5_000, by: 'mes', batchId: 'B9' }).actions[0]!.params)
      .toMatchObject({ code: 'batch_mismatch', batchId: 'B1' });
  });
});

describe('context-handshake machine: robustness', () => {
  it('never throws on unknown or malformed input and stays active with the context unchanged', () => {
    const junk = [
      { type: 'ASSERT_CONTEXT', at: AT },
      { type: 'ASSERT_CONTEXT', at: AT, seq: '7', batchId: 'B1', specVersion: 1 },
      { type: 'ASSERT_CONTEXT', at: AT, seq: 9, batchId: 42, specVersion: 1 },
      { type: 'ASSERT_CONTEXT', at: AT, seq: 9, batchId: 'B1' },
      { type: 'EDGE_ACK', at: AT },
      { type: 'EDGE_ACK', at: AT, source: 7, contextId: 'R201/B1/1' },
      { type: 'RELEASE', at: AT },
      { type: 'TIMER', at: AT },
      { type: 'FROB', at: AT },
    ] as unknown as ContextHandshakeEvent[];
    for (const state of CONTEXT_HANDSHAKE_STATES) {
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
    const rest: ContextHandshakeEvent[] = [
      { type: 'TIMER', at: 31_000, name: ACK_DEADLINE_TIMER },
      { type: 'TIMER', at: 32_000, name: ACK_DEADLINE_TIMER },
      { type: 'EDGE_ACK', at: 33_000, source: 'line2', contextId: 'R201/B1/1' },
      assertion(4, 34_000, { phase: 'R201.HEAT' }),
      assertion(3, 34_500),
      { type: 'EDGE_ACK', at: 35_000, source: 'line2', contextId: 'R201/B1/4' },
      { type: 'RELEASE', at: 36_000, by: 'mes', batchId: 'B1' },
      assertion(5, 37_000, { batchId: 'B2' }),
    ];
    const restored = expectRestoresIdentically(contextHandshakeMachine, reach('Asserted'), rest);
    expect(restored.value).toBe('Asserted');
    expect(restored.context.context?.contextId).toBe('R201/B2/5');
  });
});
