import { ALARM_MACHINE_VERSION, alarmFlags, alarmMachine, alarmStateName, type AlarmContext, type AlarmInput } from '../machines/alarm.machine.ts';
import { subjects } from '../nats/subjects.ts';
import type { PersistedState } from './kind.ts';
import { auditOf, machineKind } from './machine-kind.ts';

/** An alarm actor's input plus the control-system source its requests are written to. */
export type AlarmActorInput = AlarmInput & { source: string };

/**
 * The alarm actor kind: mirrors the control system's ISA-18.2 state; acknowledge, shelve and out-of-service requests
 * go to the control system as `cmd.<src>` writes and are recorded (ISA-18.2 §3.2; CONTRACT.md §5.2).
 */
export function alarmKind(actors: ReadonlyMap<string, AlarmActorInput>) {
  return machineKind({
    type: 'alarm', machine: alarmMachine, version: ALARM_MACHINE_VERSION, actors,
    stateName: (s) => alarmStateName(s.value as never).name,
    view: alarmView,
    effects: {
      writeAlarmCommand: (p, info) => {
        const source = actors.get(info.id)?.source ?? 'unknown';
        return {
          publish: [{ subject: subjects.command(source), payload: { kind: 'alarm', alarm: p.alarm, command: p.command, by: p.by, reason: p.reason, until: p.until, at: info.event.at, ref: `alarm:${info.id}:${info.seq}` } }],
          ...auditOf('alarm', `${String(p.command)}.requested`, info, p, String(p.by)),
        };
      },
      recordTransition: (p, info) => auditOf('alarm', 'region', info, p),
    },
  });
}

/** The CONTRACT.md §2 shape of one entry of `GET /alarms`. */
export function alarmView(id: string, s: PersistedState): Record<string, unknown> {
  const c = s.context as unknown as AlarmContext;
  return {
    id, state: alarmStateName(s.value as never).name, flags: alarmFlags(s.value as never), priority: c.priority,
    critical: c.critical, unit: c.unit, ...(c.activeSince ? { activeSince: new Date(c.activeSince).toISOString() } : {}),
  };
}
