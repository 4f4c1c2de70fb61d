import { ALARM_MACHINE_VERSION, alarmFlags, alarmMachine, alarmStateName, type AlarmContext, type AlarmInput } from '../machines/alarm.machine.ts';
import type { EdgeCommand } from '../nats/command.schema.ts';
import { subjects } from '../nats/subjects.ts';
import { isoTimes } from './iso-time.ts';
import type { PersistedState } from './kind.ts';
import { auditOf, machineKind } from './machine-kind.ts';

/** How long an alarm request sent to the control system stays valid (an acknowledge is never executed late). */
export const ALARM_REQUEST_EXPIRY_MS = 60_000;

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
        // A guarded write like any other (CONTRACT.md §5.3): the alarm is the tag, the request the value, with the
        // issuer's roles and an expiry, so an edge executes it only if allowlisted and never late.
        const at = info.event.at;
        const payload: EdgeCommand & { kind: 'alarm'; reason?: unknown; until?: unknown } = {
          id: `alarm:${info.id}:${info.seq}`, kind: 'alarm', tag: info.id, value: String(p.command), by: String(p.by),
          roles: Array.isArray(info.event.roles) ? (info.event.roles as unknown[]).map(String) : [],
          issuedAt: at, expiresAt: at + ALARM_REQUEST_EXPIRY_MS, ref: `inbox:${info.seq}`,
          ...(p.reason ? { reason: p.reason } : {}), ...(p.until !== undefined ? { until: p.until } : {}),
        };
        return {
          publish: [{ subject: subjects.command(source), payload }],
          ...auditOf('alarm', `${String(p.command)}.requested`, info, p, String(p.by)),
        };
      },
      recordTransition: (p, info) => auditOf('alarm', 'region', info, p),
    },
  });
}

/** The CONTRACT.md §2 shape of one entry of `GET /alarms`. */
export function alarmView(id: string, s: PersistedState) {
  const c = s.context as unknown as AlarmContext;
  return isoTimes({
    id, state: alarmStateName(s.value as never).name, flags: alarmFlags(s.value as never), priority: c.priority,
    critical: c.critical, unit: c.unit, ...(c.activeSince ? { activeSince: c.activeSince } : {}),
  });
}
