import { describe, expect, it } from '../helpers/bdd.ts';
import { initialTransition, transition } from 'xstate';
import { BATCH_MACHINE_VERSION, b2mmlState, batchMachine } from '../../machines/batch.machine.ts';
import type { BatchEvent, BatchInput, BatchState } from '../../machines/batch.machine.ts';
import {
  BATCH_B2MML_REQUEST, BATCH_PATH_VARIANTS, BATCH_PATHS, BATCH_REQUIREMENTS,
  type BatchReqEvent, type BatchReqGiven, type BatchReqState, type BatchReqVariant,
} from '../model/requirements/batch.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';
import { batchEvent, batchInput } from '../model/adapters/batch.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof batchMachine>>[0];
type Action = { type: string; params: Record<string, unknown> };

const INPUT: BatchInput = batchInput();
const STATES = Object.keys(BATCH_PATHS) as BatchReqState[];

let clock = 10_000;

/** The event of a short name, with an explicit `at` (the model-based tests' builder). */
const eventFor = (name: BatchReqEvent, variant?: BatchReqVariant): BatchEvent => batchEvent(name, variant, ++clock);

const GIVEN: Record<BatchReqGiven, BatchReqEvent> = {
  approved: 'MES_APPROVAL', unitReady: 'UNIT_STATUS', context: 'CONTEXT_ASSERTED', exceptionOpen: 'EXCEPTION_STATUS',
};

const send = (snapshot: Snapshot, event: BatchEvent) => {
  const [next, actions] = transition(batchMachine, snapshot, event);
  return { next, actions: actions.map((a): Action => ({ type: a.type, params: a.params as Record<string, unknown> })) };
};

const create = (): Snapshot => initialTransition(batchMachine, INPUT)[0];

const reach = (state: BatchReqState): Snapshot => {
  const path = BATCH_PATHS[state];
  let snapshot = create();
  path.forEach((name, i) => {
    snapshot = send(snapshot, eventFor(name, i === path.length - 1 ? BATCH_PATH_VARIANTS[state] : undefined)).next;
  });
  expect(snapshot.value).toBe(state);
  return snapshot;
};

describe('batch machine: requirements (test/model/requirements/batch.ts)', () => {
  const rows = BATCH_REQUIREMENTS.flatMap((r) => r.transitions.map((t) => ({ id: r.id, ...t })));

  it.each(rows)('$id: $from --$event$variant--> $to (given $given)', ({ from, event, variant, given, to, effect }) => {
    let snapshot = reach(from);
    for (const fact of given ?? []) snapshot = send(snapshot, eventFor(GIVEN[fact])).next;
    expect(snapshot.value).toBe(from);
    const { next, actions } = send(snapshot, eventFor(event, variant));
    if (to.startsWith('reject:')) {
      expect(next.value).toBe(from);
      expect(next.context).toEqual(snapshot.context);
      expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: to.slice('reject:'.length) }) }]);
      expect(typeof actions[0]!.params.message).toBe('string');
      return;
    }
    expect(next.value).toBe(to);
    expect(actions.some((a) => a.type === 'reject')).toBe(false);
    if (effect) expect(actions.map((a) => a.type)).toContain(effect);
    if (to !== from) {
      expect(actions).toContainEqual({
        type: 'recordTransition', params: expect.objectContaining({ from, to, at: clock }),
      });
    } else {
      expect(actions.map((a) => a.type)).not.toContain('recordTransition');
    }
  });

  it('every machine transition names a requirement, and every requirement is implemented by one', () => {
    const ids = new Set(BATCH_REQUIREMENTS.map((r) => r.id));
    const used = new Set<string>();
    const nodes = [batchMachine.root, ...Object.values(batchMachine.root.states)];
    for (const node of nodes) {
      const transitions = [...node.transitions.values()].flat().concat(node.always ?? []);
      for (const t of transitions) {
        const requirement = (t.meta as { requirement?: string | string[] } | undefined)?.requirement;
        expect(requirement, `${node.id} ${t.eventType}`).toBeDefined();
        for (const id of [requirement!].flat()) {
          expect(ids.has(id), `${id} is listed`).toBe(true);
          used.add(id);
        }
      }
    }
    expect([...ids].filter((id) => !used.has(id))).toEqual([]);
  });
});

describe('batch machine: start gate', () => {
  const gate: BatchReqEvent[] = ['MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED'];
  const permutations = (items: BatchReqEvent[]): BatchReqEvent[][] => (items.length <= 1 ? [items]
    : items.flatMap((x, i) => permutations(items.filter((_, j) => j !== i)).map((rest) => [x, ...rest])));

  it.each(permutations(gate))('starts exactly once for the order %s, %s, %s', (...order) => {
    let snapshot = reach('StartRequested');
    const started: Action[] = [];
    for (const [i, name] of [...order, 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'RUN_SIGNAL'].entries()) {
      const { next, actions } = send(snapshot, eventFor(name as BatchReqEvent));
      expect(actions.some((a) => a.type === 'reject')).toBe(false);
      expect(next.value).toBe(i < 2 ? 'StartRequested' : 'Started');
      started.push(...actions.filter((a) => a.type === 'batchStarted'));
      if (i === 2) expect(next.context.startedAt).toBe(clock);
      snapshot = next;
    }
    expect(started).toEqual([{
      type: 'batchStarted',
      params: {
        batchId: 'B1', unit: 'R201', recipe: 'API-7', specVersion: 3, configVersion: 'cfg-1',
        contextId: 'ctx-1', approvedBy: 'mes', at: snapshot.context.startedAt,
      },
    }]);
  });

  it('keeps unit status and context delivered before the request, and starts on approval', () => {
    let snapshot = create();
    snapshot = send(snapshot, eventFor('UNIT_STATUS')).next;
    snapshot = send(snapshot, eventFor('CONTEXT_ASSERTED')).next;
    expect(snapshot.value).toBe('Created');
    snapshot = send(snapshot, eventFor('REQUEST_START')).next;
    expect(snapshot.value).toBe('StartRequested');
    const { next, actions } = send(snapshot, eventFor('MES_APPROVAL'));
    expect(next.value).toBe('Started');
    expect(actions.map((a) => a.type)).toEqual(['batchStarted', 'recordTransition']);
  });

  it('does not start when the unit becomes unclean before approval arrives', () => {
    let snapshot = reach('StartRequested');
    for (const e of [eventFor('UNIT_STATUS'), eventFor('CONTEXT_ASSERTED'), eventFor('UNIT_STATUS', 'notClean')]) {
      snapshot = send(snapshot, e).next;
    }
    expect(send(snapshot, eventFor('MES_APPROVAL')).next.value).toBe('StartRequested');
  });

  it('raises unattributed production with unit, time and source for a run signal before start', () => {
    const snapshot = reach('StartRequested');
    const event = eventFor('RUN_SIGNAL');
    const { next, actions } = send(snapshot, event);
    expect(next.value).toBe('StartRequested');
    expect(actions).toEqual([{
      type: 'raiseException',
      params: { kind: 'unattributed_production', unit: 'R201', at: event.at, source: 'sim', batchId: 'B1' },
    }]);
  });

  it('records a stopped signal before start without raising an exception', () => {
    const { next, actions } = send(create(), eventFor('RUN_SIGNAL', 'stopped'));
    expect(next.value).toBe('Created');
    expect(actions.map((a) => a.type)).toEqual(['recordRunSignal']);
  });
});

describe('batch machine: review and release', () => {
  it('lists the open exceptions when refusing release, and releases once they are closed', () => {
    let snapshot = reach('InReview');
    snapshot = send(snapshot, { type: 'EXCEPTION_STATUS', at: ++clock, exception: 'EX-1', open: true }).next;
    snapshot = send(snapshot, { type: 'EXCEPTION_STATUS', at: ++clock, exception: 'EX-2', open: true }).next;
    const refused = send(snapshot, eventFor('RELEASE'));
    expect(refused.actions[0]!.params).toMatchObject({ code: 'exceptions_open', exceptions: ['EX-1', 'EX-2'] });
    for (const exception of ['EX-1', 'EX-2']) {
      snapshot = send(snapshot, { type: 'EXCEPTION_STATUS', at: ++clock, exception, open: false }).next;
    }
    const release = eventFor('RELEASE');
    const { next } = send(snapshot, release);
    expect(next.value).toBe('Released');
    expect(next.context.released).toEqual({ at: release.at, by: 'qa1', signature: { username: 'qa1', meaning: 'approved', signedAt: release.at } });
  });

  it('maps every state to its B2MML request state', () => {
    for (const state of STATES) expect(b2mmlState(state as BatchState)).toBe(BATCH_B2MML_REQUEST[state]);
    expect(BATCH_MACHINE_VERSION).toBe(1);
  });
});

describe('batch machine: robustness and persistence', () => {
  it.each(STATES)('refuses an unknown or malformed event in %s without throwing', (state) => {
    const snapshot = reach(state);
    const unknown = send(snapshot, { type: 'NOT_A_BATCH_EVENT', at: ++clock } as never);
    expect(unknown.next.value).toBe(state);
    expect(unknown.actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'unknown_event' }) }]);
    const malformed = [
      { type: 'RELEASE', at: ++clock, by: 'qa1' }, { type: 'REJECT', at: ++clock, by: 'qa1' },
      { type: 'ABORT', at: ++clock }, { type: 'RUN_SIGNAL', at: ++clock }, { type: 'MES_APPROVAL', at: ++clock },
      { type: 'UNIT_STATUS', at: ++clock }, { type: 'EXCEPTION_STATUS', at: ++clock },
    ];
    for (const event of malformed) expect(() => send(snapshot, event as never)).not.toThrow();
  });

  it.each(STATES)('continues identically from a persisted %s snapshot restored with resolveState', (state) => {
    const rest: BatchReqEvent[] = ['REQUEST_START', 'MES_APPROVAL', 'UNIT_STATUS', 'CONTEXT_ASSERTED', 'RUN_SIGNAL',
      'EXCEPTION_STATUS', 'COMPLETE', 'SUBMIT_FOR_REVIEW', 'RELEASE', 'REJECT', 'ABORT'];
    expectRestoresIdentically(batchMachine, reach(state), rest.map((name) => eventFor(name)));
  });
});
