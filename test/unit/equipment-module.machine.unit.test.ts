import { describe, expect, it } from '../helpers/bdd.ts';
import { initialTransition, transition } from 'xstate';
import { CALIBRATION_DUE_TIMER, equipmentModuleMachine } from '../../machines/equipment-module.machine.ts';
import type { EquipmentModuleEvent, EquipmentModuleInput } from '../../machines/equipment-module.machine.ts';
import { EQUIPMENT_MODULE_REQUIREMENTS } from '../model/requirements/equipment-module.ts';
import type { EmGiven, EmState, EmTransition } from '../model/requirements/equipment-module.ts';
import { emEvent } from '../model/adapters/equipment-module.ts';
import { expectRestoresIdentically } from '../helpers/machine-restore.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof equipmentModuleMachine>>[0];
type Action = { type: string; params: Record<string, unknown> };

const DAY = 86_400_000;
const INPUT: EquipmentModuleInput = { id: 'R201.SCALE', unit: 'R201', calibrationIntervalMs: 30 * DAY, calibratedAt: 1_000 };
const DUE = 1_000 + 30 * DAY;
const SIGNATURE = { username: 'sue', meaning: 'approval', signedAt: 9_000 };

const send = (snapshot: Snapshot, event: EquipmentModuleEvent) => {
  const [next, actions] = transition(equipmentModuleMachine, snapshot, event);
  return { next, actions: actions.map((a): Action => ({ type: a.type, params: a.params as Record<string, unknown> })) };
};
const run = (events: EquipmentModuleEvent[], from = initialTransition(equipmentModuleMachine, INPUT)[0]): Snapshot =>
  events.reduce((s, e) => send(s, e).next, from);

const acquire: EquipmentModuleEvent = { type: 'ACQUIRE', at: 2_000, by: 'op1', phase: 'R201.CHARGE' };
const eStop: EquipmentModuleEvent = { type: 'INTERLOCK', at: 3_000, cause: 'e_stop', detail: 'button 3' };
const eStopCleared: EquipmentModuleEvent = { type: 'INTERLOCK_CLEARED', at: 4_000, cause: 'e_stop' };
const outOfService: EquipmentModuleEvent = { type: 'TAKE_OUT_OF_SERVICE', at: 2_000, by: 'tech', reason: 'load cell swap' };
const release: Extract<EquipmentModuleEvent, { type: 'RELEASE_INTERLOCK' }> = { type: 'RELEASE_INTERLOCK', at: 9_000, by: 'sue', signature: SIGNATURE, reason: 'e-stop reset, area checked' };

/** Builds the snapshot a requirement starts from; interlocked modules have no active cause unless the case says so. */
function reach(from: EmState, given?: EmGiven): Snapshot {
  const acquired = given === 'acquired' ? [acquire] : [];
  const cleared = given === 'cause active' ? [] : [eStopCleared];
  switch (from) {
    case 'Ready': return run([]);
    case 'Running': return run([acquire]);
    case 'OutOfService': return run([outOfService]);
    case 'Interlocked': return run([...acquired, eStop, ...cleared]);
  }
}

const label = (t: EmTransition) => `${t.from} --${t.event}${t.given ? ` (${t.given})` : ''}--> ${t.to}`;

describe('equipment module machine: requirements (test/model/requirements/equipment-module.ts)', () => {
  for (const requirement of EQUIPMENT_MODULE_REQUIREMENTS) {
    describe(`${requirement.id}: ${requirement.text}`, () => {
      for (const t of requirement.transitions) {
        it(label(t), () => {
          const before = reach(t.from, t.given);
          expect(before.value).toBe(t.from);
          const { next, actions } = send(before, emEvent(t.event, t.given, before.context, 10_000));
          expect(next.status).toBe('active');
          if (t.to.startsWith('reject:')) {
            expect(next.value).toBe(t.from);
            expect(next.context).toEqual(before.context);
            expect(actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: t.to.slice('reject:'.length), message: expect.any(String) }) }]);
          } else {
            expect(next.value).toBe(t.to);
            expect(actions.filter((a) => a.type === 'reject')).toEqual([]);
            if (t.emits) expect(actions.map((a) => a.type).sort()).toEqual([...t.emits].sort());
          }
        });
      }
    });
  }
});

describe('equipment module machine: context and effects', () => {
  it('starts Ready with the calibration deadline from input', () => {
    const [em, actions] = initialTransition(equipmentModuleMachine, INPUT);
    expect(em.value).toBe('Ready');
    expect(em.context).toMatchObject({ causes: [], calibrationDueAt: DUE, timers: { calibrationDue: DUE } });
    expect(actions).toEqual([]);
  });

  it('keeps every active cause and tells the acquiring phase to hold with them', () => {
    const held = run([acquire, eStop]);
    const { next, actions } = send(held, { type: 'INTERLOCK', at: 3_500, cause: 'safety_interlock' });
    expect(next.context.causes).toEqual(['e_stop', 'safety_interlock']);
    expect(next.context.causeDetails.e_stop).toEqual({ at: 3_000, detail: 'button 3' });
    expect(next.context.acquiredBy).toEqual({ phase: 'R201.CHARGE', by: 'op1', at: 2_000 });
    expect(send(run([acquire]), eStop).actions).toEqual([
      { type: 'notifyPhase', params: { phase: 'R201.CHARGE', interlocked: true, causes: ['e_stop'] } },
    ]);
    expect(actions).toEqual([]);
  });

  it('refuses the signed release while any cause is active, naming them', () => {
    const em = run([eStop, { type: 'INTERLOCK', at: 3_500, cause: 'safety_interlock' }, eStopCleared]);
    expect(em.context.causes).toEqual(['safety_interlock']);
    expect(send(em, release).actions[0]!.params).toMatchObject({ code: 'interlock_active', causes: ['safety_interlock'] });
  });

  it('records the signed release and tells the held phase it may continue', () => {
    const { next, actions } = send(run([acquire, eStop, eStopCleared]), release);
    const record = { equipmentModule: 'R201.SCALE', at: 9_000, by: 'sue', reason: 'e-stop reset, area checked', signature: SIGNATURE, interlockedSince: 3_000 };
    expect(actions).toEqual([
      { type: 'recordSignedRelease', params: record },
      { type: 'notifyPhase', params: { phase: 'R201.CHARGE', interlocked: false, causes: [] } },
    ]);
    expect(next.value).toBe('Ready');
    expect(next.context.lastRelease).toEqual(record);
    expect(next.context.acquiredBy).toBeUndefined();
    expect(next.context.interlockedSince).toBeUndefined();
  });

  it('interlocks with calibration_due when the deadline falls due, and CALIBRATED clears it and sets a new deadline', () => {
    const due = send(run([]), { type: 'TIMER', at: DUE + 5, name: CALIBRATION_DUE_TIMER }).next;
    expect(due.value).toBe('Interlocked');
    expect(due.context.causes).toEqual(['calibration_due']);
    expect(due.context.timers[CALIBRATION_DUE_TIMER]).toBeUndefined();
    expect(send(due, release).actions[0]!.params.code).toBe('interlock_active');
    const calibrated = send(due, { type: 'CALIBRATED', at: DUE + 100, by: 'metrology' }).next;
    expect(calibrated.value).toBe('Interlocked');
    expect(calibrated.context).toMatchObject({
      causes: [], calibratedAt: DUE + 100, calibratedBy: 'metrology',
      calibrationDueAt: DUE + 100 + 30 * DAY, timers: { calibrationDue: DUE + 100 + 30 * DAY },
    });
    expect(send(calibrated, { ...release, at: DUE + 200 }).next.value).toBe('Ready');
  });

  it('refuses a stale calibration timer after a recalibration moved the deadline', () => {
    const recalibrated = run([{ type: 'CALIBRATED', at: 5_000, by: 'metrology' }]);
    const { next, actions } = send(recalibrated, { type: 'TIMER', at: DUE, name: CALIBRATION_DUE_TIMER });
    expect(next.value).toBe('Ready');
    expect(actions[0]!.params.code).toBe('timer_not_due');
  });

  it('keeps who took the module out of service and why, and forgets it on return', () => {
    const oos = run([outOfService]);
    expect(oos.context.outOfService).toEqual({ at: 2_000, by: 'tech', reason: 'load cell swap' });
    expect(run([{ type: 'RETURN_TO_SERVICE', at: 3_000, by: 'tech', reason: 'done' }], oos).context.outOfService).toBeUndefined();
  });
});

describe('equipment module machine: traceability', () => {
  it('carries a known requirement id in the meta of every transition', () => {
    const ids = new Set(EQUIPMENT_MODULE_REQUIREMENTS.map((r) => r.id));
    const nodes = [equipmentModuleMachine.root, ...Object.values(equipmentModuleMachine.root.states)];
    let count = 0;
    for (const node of nodes) {
      for (const [event, list] of node.transitions) {
        for (const t of list) {
          count++;
          const requirement = (t.meta as { requirement?: string | string[] } | undefined)?.requirement;
          expect(requirement, `${node.id} ${event}`).toBeDefined();
          for (const id of [requirement!].flat()) expect(ids.has(id), `${node.id} ${event}: ${id}`).toBe(true);
        }
      }
    }
    expect(count).toBeGreaterThan(40);
  });
});

describe('equipment module machine: robustness', () => {
  const STATES: EmState[] = ['Ready', 'Running', 'Interlocked', 'OutOfService'];
  const junk = [
    { type: 'NOPE', at: 1 }, { type: 'ACQUIRE' }, { type: 'INTERLOCK', at: 1 }, { type: 'RELEASE_INTERLOCK', at: 1, signature: null },
    { type: 'TIMER', at: 1 }, { type: 'CALIBRATED', at: 1, by: 42 }, { type: 'RETURN_TO_SERVICE', at: 1, reason: {} },
  ] as unknown as EquipmentModuleEvent[];

  it('never throws on unknown or malformed events and stays active in every state', () => {
    for (const state of STATES) {
      for (const event of junk) {
        const before = reach(state);
        const { next, actions } = send(before, event);
        expect(next.status).toBe('active');
        expect(next.value).toBe(state);
        expect(actions.map((a) => a.type)).toEqual(['reject']);
      }
    }
  });

  it('continues identically from a persisted { value, context } restored with resolveState', () => {
    const log: EquipmentModuleEvent[] = [
      acquire, eStop, { type: 'INTERLOCK', at: 3_100, cause: 'calibration_check_failed', detail: 'span error' },
      { type: 'RELEASE', at: 3_200, by: 'op1' }, eStopCleared, { type: 'INTERLOCK_CLEARED', at: 4_100, cause: 'calibration_check_failed' },
      { type: 'CALIBRATED', at: 4_200, by: 'metrology' }, release, outOfService,
      { type: 'RETURN_TO_SERVICE', at: 9_500, by: 'tech', reason: 'done' }, { ...acquire, at: 9_600 },
      { type: 'TIMER', at: 4_200 + 30 * DAY, name: CALIBRATION_DUE_TIMER },
    ];
    for (let cut = 0; cut <= log.length; cut++) {
      const restored = expectRestoresIdentically(equipmentModuleMachine, run(log.slice(0, cut)), log.slice(cut));
      expect(restored.value).toBe('Interlocked');
      expect(restored.context.causes).toEqual(['calibration_due']);
    }
  });
});
