import { describe, expect, it } from '../helpers/bdd.ts';
import { pureMachine, type PlainAction } from '../helpers/pure-machine.ts';
import { initialTransition } from 'xstate';
import { alarmFlags, alarmMachine, alarmStateName } from '../../machines/alarm.machine.ts';
import type { AlarmEvent, AlarmInput } from '../../machines/alarm.machine.ts';
import { ISA18_ACKNOWLEDGEABLE, ISA18_PATHS, ISA18_TRANSITIONS } from '../model/requirements/isa18-alarm.ts';
import type { Isa18Event, Isa18State, Isa18Transition } from '../model/requirements/isa18-alarm.ts';

type Snapshot = ReturnType<typeof initialTransition<typeof alarmMachine>>[0];
const pure = pureMachine<Snapshot, AlarmEvent, unknown>(alarmMachine);
type Action = PlainAction;

const HOUR = 3_600_000;
const INPUT: AlarmInput = { id: 'R201.TT01.HI', unit: 'R201', priority: 'high', critical: true };

const create = (latching = false): Snapshot => initialTransition(alarmMachine, { ...INPUT, latching })[0];

const send = (snapshot: Snapshot, event: AlarmEvent) => pure.send(snapshot, event);

const stateOf = (snapshot: Snapshot): string => alarmStateName(snapshot.value).name;

/** Walks requirement events through the machine as the control system would report them, with its own clock. */
class Walker {
  snapshot: Snapshot;
  at = 1_000;
  condition = false;
  until = 0;
  actions: Action[] = [];

  constructor(latching: boolean) { this.snapshot = create(latching); }

  apply(event: Isa18Event): this {
    for (const e of this.events(event)) {
      const { next, actions } = send(this.snapshot, e);
      this.snapshot = next;
      this.actions = actions;
    }
    return this;
  }

  private tick(): number { this.at += 1_000; return this.at; }

  private report(fields: Omit<Extract<AlarmEvent, { type: 'REPORT' }>, 'type' | 'at' | 'active'>): AlarmEvent {
    return { type: 'REPORT', at: this.tick(), active: this.condition, ...fields };
  }

  private events(event: Isa18Event): AlarmEvent[] {
    switch (event) {
      case 'ConditionTrue': this.condition = true; return [this.report({ value: 121.5 })];
      case 'ConditionFalse': this.condition = false; return [this.report({ value: 80 })];
      case 'Acknowledge': return [this.report({ acked: true, ackedBy: 'hmi-op' })];
      case 'ReAlarm': this.condition = true; return [this.report({ acked: false })];
      case 'Reset': return [this.report({ latched: false })];
      case 'Shelve': {
        const at = this.tick();
        this.until = at + HOUR;
        return [{ type: 'SHELVE_REQUEST', at, by: 'op1', reason: 'sensor drift, work order 42', until: this.until },
          this.report({ shelved: true })];
      }
      case 'Unshelve': return [this.report({ shelved: false })];
      case 'ShelveExpires': return [{ type: 'TIMER', at: this.until, name: 'shelveExpiry' }];
      case 'Suppress': return [this.report({ suppressed: true })];
      case 'Unsuppress': return [this.report({ suppressed: false })];
      case 'RemoveFromService': {
        const at = this.tick();
        return [{ type: 'OUT_OF_SERVICE_REQUEST', at, by: 'eng1', reason: 'transmitter replaced' },
          this.report({ outOfService: true })];
      }
      case 'ReturnToService': return [this.report({ outOfService: false })];
    }
  }
}

const reach = (state: Isa18State, latching = false): Walker => {
  const walker = new Walker(latching);
  for (const event of ISA18_PATHS[state]) walker.apply(event);
  expect(stateOf(walker.snapshot)).toBe(state);
  return walker;
};

const label = (row: Isa18Transition): string =>
  `${row.from} --${row.event}${row.latching === undefined ? '' : row.latching ? ' (latching)' : ' (non-latching)'}` +
  `${row.condition === undefined ? '' : row.condition ? ' [condition true]' : ' [condition false]'}--> ${row.to}`;

describe('alarm machine: first start', () => {
  it('starts Normal, not shelved, not suppressed, in service, with no timers', () => {
    const [alarm, actions] = initialTransition(alarmMachine, INPUT);
    expect(alarm.value).toEqual({ alarm: 'Normal', shelving: 'NotShelved', suppression: 'NotSuppressed', service: 'InService' });
    expect(alarmStateName(alarm.value)).toEqual({ letter: 'A', name: 'Normal' });
    expect(alarm.context).toMatchObject({ id: 'R201.TT01.HI', unit: 'R201', priority: 'high', critical: true, latching: false, timers: {} });
    expect(actions).toEqual([]);
  });
});

describe('alarm machine: every transition of STANDARDS.md §3.2', () => {
  for (const row of ISA18_TRANSITIONS) {
    it(label(row), () => {
      const walker = reach(row.from, row.latching ?? false);
      if (row.condition !== undefined && row.condition !== walker.condition) {
        walker.apply(row.condition ? 'ConditionTrue' : 'ConditionFalse');
        expect(stateOf(walker.snapshot)).toBe(row.from);
      }
      walker.apply(row.event);
      expect(stateOf(walker.snapshot)).toBe(row.to);
      expect(walker.snapshot.status).toBe('active');
      expect(walker.actions.some((a) => a.type === 'reject')).toBe(false);
      expect(walker.actions.filter((a) => a.type === 'recordTransition').length).toBeGreaterThan(0);
    });
  }
});

describe('alarm machine: mirrored reports', () => {
  it('records who acknowledged at the HMI and since when the alarm is active', () => {
    const w = reach('Acknowledged');
    expect(w.snapshot.context.lastAck).toEqual({ at: 3_000, by: 'hmi-op' });
    expect(w.snapshot.context.activeSince).toBe(2_000);
    expect(w.snapshot.context.value).toBe(121.5);
    expect(w.actions).toContainEqual({
      type: 'recordTransition',
      params: { alarm: 'R201.TT01.HI', region: 'alarm', from: 'Unacknowledged', to: 'Acknowledged', at: 3_000, by: 'hmi-op' },
    });
  });

  it('lands in Acknowledged when one report carries both activation and acknowledgement', () => {
    const { next } = send(create(), { type: 'REPORT', at: 2_000, active: true, acked: true, ackedBy: 'hmi-op' });
    expect(stateOf(next)).toBe('Acknowledged');
  });

  it('keeps the state on a report without change and refuses a report without a boolean active', () => {
    const w = reach('Unacknowledged');
    const same = send(w.snapshot, { type: 'REPORT', at: 5_000, active: true, value: 130, message: 'TT01 high' });
    expect(same.next.value).toEqual(w.snapshot.value);
    expect(same.next.context).toMatchObject({ value: 130, message: 'TT01 high', activeSince: 2_000 });
    const bad = send(w.snapshot, { type: 'REPORT', at: 5_000, active: 'yes', shelved: true } as unknown as AlarmEvent);
    expect(bad.next.value).toEqual(w.snapshot.value);
    expect(bad.actions).toEqual([{ type: 'reject', params: expect.objectContaining({ code: 'invalid_report' }) }]);
  });

  it('keeps tracking the process while shelved, so unshelving shows the current condition', () => {
    const w = reach('Shelved');
    w.apply('ConditionTrue');
    expect(w.snapshot.value).toMatchObject({ alarm: 'Unacknowledged', shelving: 'Shelved' });
    expect(alarmFlags(w.snapshot.value)).toEqual({ active: true, acked: false, latched: false, shelved: true, suppressed: false, outOfService: false });
  });

  it('names out of service before suppression by design before shelving', () => {
    const w = reach('Suppressed-by-design');
    w.apply('RemoveFromService');
    expect(alarmStateName(w.snapshot.value)).toEqual({ letter: 'I', name: 'Out-of-service' });
    w.apply('ReturnToService');
    expect(alarmStateName(w.snapshot.value)).toEqual({ letter: 'H', name: 'Suppressed-by-design' });
  });
});

const commandOf = (actions: Action[]) => actions.filter((a) => a.type === 'writeAlarmCommand').map((a) => a.params);
const rejectOf = (actions: Action[]) => actions.filter((a) => a.type === 'reject').map((a) => a.params.code);

describe('alarm machine: acknowledge requests', () => {
  for (const state of ISA18_ACKNOWLEDGEABLE) {
    it(`sends ack in ${state} and leaves the state to the control system's report`, () => {
      const w = reach(state, state.startsWith('Latched'));
      const { next, actions } = send(w.snapshot, { type: 'ACK_REQUEST', at: 9_000, by: 'op1' });
      expect(next.value).toEqual(w.snapshot.value);
      expect(actions).toEqual([{ type: 'writeAlarmCommand', params: { alarm: 'R201.TT01.HI', command: 'ack', by: 'op1' } }]);
    });
  }

  for (const state of ['Normal', 'Acknowledged', 'Latched-acknowledged'] as const) {
    it(`rejects ack in ${state} as already_acknowledged`, () => {
      const w = reach(state, state.startsWith('Latched'));
      const { next, actions } = send(w.snapshot, { type: 'ACK_REQUEST', at: 9_000, by: 'op1' });
      expect(next.value).toEqual(w.snapshot.value);
      expect(rejectOf(actions)).toEqual(['already_acknowledged']);
      expect(commandOf(actions)).toEqual([]);
    });
  }

  it('rejects a request that names no user', () => {
    const { actions } = send(reach('Unacknowledged').snapshot, { type: 'ACK_REQUEST', at: 9_000, by: ' ' });
    expect(rejectOf(actions)).toEqual(['by_required']);
  });
});

describe('alarm machine: shelving requests and expiry', () => {
  const shelve = (at: number, fields: Partial<{ by: string; reason: string; until: number }> = {}): AlarmEvent =>
    ({ type: 'SHELVE_REQUEST', at, by: 'op1', reason: 'sensor drift', until: at + HOUR, ...fields });

  it('sends shelve with reason and expiry and stays unshelved until the control system reports it', () => {
    const { next, actions } = send(reach('Unacknowledged').snapshot, shelve(9_000));
    expect(next.value).toMatchObject({ shelving: 'NotShelved', alarm: 'Unacknowledged' });
    expect(actions).toEqual([{
      type: 'writeAlarmCommand',
      params: { alarm: 'R201.TT01.HI', command: 'shelve', by: 'op1', reason: 'sensor drift', until: 9_000 + HOUR },
    }]);
    expect(next.context.pendingShelve).toEqual({ at: 9_000, by: 'op1', reason: 'sensor drift', until: 9_000 + HOUR });
  });

  it('rejects shelve without a reason, with an expiry not in the future, and when already shelved', () => {
    const normal = create();
    expect(rejectOf(send(normal, shelve(9_000, { reason: '' })).actions)).toEqual(['reason_required']);
    expect(rejectOf(send(normal, shelve(9_000, { until: 9_000 })).actions)).toEqual(['invalid_shelve_expiry']);
    expect(rejectOf(send(reach('Shelved').snapshot, shelve(90_000)).actions)).toEqual(['already_shelved']);
  });

  it('rejects shelve when out of service or suppressed by design (S21)', () => {
    expect(rejectOf(send(reach('Out-of-service').snapshot, shelve(90_000)).actions)).toEqual(['out_of_service']);
    expect(rejectOf(send(reach('Suppressed-by-design').snapshot, shelve(90_000)).actions)).toEqual(['suppressed_by_design']);
  });

  it('starts the shelve deadline when the control system reports the alarm shelved', () => {
    const w = reach('Shelved');
    expect(w.snapshot.context.timers).toEqual({ shelveExpiry: 2_000 + HOUR });
    expect(w.snapshot.context.shelve).toEqual({ at: 2_000, by: 'op1', reason: 'sensor drift, work order 42', until: 2_000 + HOUR });
  });

  it('sends unshelve on request and rejects it when not shelved', () => {
    const { next, actions } = send(reach('Shelved').snapshot, { type: 'UNSHELVE_REQUEST', at: 9_000, by: 'op2' });
    expect(next.value).toMatchObject({ shelving: 'Shelved' });
    expect(commandOf(actions)).toEqual([{ alarm: 'R201.TT01.HI', command: 'unshelve', by: 'op2' }]);
    expect(rejectOf(send(create(), { type: 'UNSHELVE_REQUEST', at: 9_000, by: 'op2' }).actions)).toEqual(['not_shelved']);
  });

  it('unshelves at the deadline by TIMER, sends unshelve as the system and clears the timer', () => {
    const w = reach('Shelved');
    const { next, actions } = send(w.snapshot, { type: 'TIMER', at: 2_000 + HOUR, name: 'shelveExpiry' });
    expect(stateOf(next)).toBe('Normal');
    expect(next.context.timers).toEqual({});
    expect(next.context.shelve).toBeUndefined();
    expect(commandOf(actions)).toEqual([{ alarm: 'R201.TT01.HI', command: 'unshelve', by: 'system' }]);
  });

  it('rejects a shelve timer before its deadline, when not shelved, and an unknown timer', () => {
    const shelved = reach('Shelved').snapshot;
    const early = send(shelved, { type: 'TIMER', at: 2_000 + HOUR - 1, name: 'shelveExpiry' });
    expect(stateOf(early.next)).toBe('Shelved');
    expect(rejectOf(early.actions)).toEqual(['timer_not_due']);
    expect(rejectOf(send(create(), { type: 'TIMER', at: 5_000, name: 'shelveExpiry' }).actions)).toEqual(['timer_stale']);
    expect(rejectOf(send(shelved, { type: 'TIMER', at: 5_000, name: 'flood' }).actions)).toEqual(['unknown_timer']);
  });
});

describe('alarm machine: out-of-service requests', () => {
  const oos = (at: number, reason = 'transmitter replaced'): AlarmEvent => ({ type: 'OUT_OF_SERVICE_REQUEST', at, by: 'eng1', reason });

  it('sends outOfService with its reason and keeps it for the report', () => {
    const { next, actions } = send(create(), oos(9_000));
    expect(next.value).toMatchObject({ service: 'InService' });
    expect(commandOf(actions)).toEqual([{ alarm: 'R201.TT01.HI', command: 'outOfService', by: 'eng1', reason: 'transmitter replaced' }]);
    const reported = send(next, { type: 'REPORT', at: 10_000, active: false, outOfService: true }).next;
    expect(reported.context.outOfService).toEqual({ at: 9_000, by: 'eng1', reason: 'transmitter replaced' });
  });

  it('rejects outOfService without a reason, when already out of service, shelved or suppressed', () => {
    expect(rejectOf(send(create(), oos(9_000, '  ')).actions)).toEqual(['reason_required']);
    expect(rejectOf(send(reach('Out-of-service').snapshot, oos(90_000)).actions)).toEqual(['already_out_of_service']);
    expect(rejectOf(send(reach('Shelved').snapshot, oos(90_000)).actions)).toEqual(['shelved']);
    expect(rejectOf(send(reach('Suppressed-by-design').snapshot, oos(90_000)).actions)).toEqual(['suppressed_by_design']);
  });

  it('sends returnToService when out of service and rejects it in service', () => {
    const rts: AlarmEvent = { type: 'RETURN_TO_SERVICE_REQUEST', at: 90_000, by: 'eng1' };
    const { next, actions } = send(reach('Out-of-service').snapshot, rts);
    expect(stateOf(next)).toBe('Out-of-service');
    expect(commandOf(actions)).toEqual([{ alarm: 'R201.TT01.HI', command: 'returnToService', by: 'eng1' }]);
    expect(rejectOf(send(create(), rts).actions)).toEqual(['not_out_of_service']);
  });
});

describe('alarm machine: robustness', () => {
  it('never throws on an unknown event, rejects it and stays active', () => {
    for (const state of Object.keys(ISA18_PATHS) as Isa18State[]) {
      const w = reach(state, state.startsWith('Latched'));
      const { next, actions } = send(w.snapshot, { type: 'FROBNICATE', at: 99_000 } as unknown as AlarmEvent);
      expect(next.status).toBe('active');
      expect(next.value).toEqual(w.snapshot.value);
      expect(rejectOf(actions)).toEqual(['unknown_event']);
    }
  });
});
