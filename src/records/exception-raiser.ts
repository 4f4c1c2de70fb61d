import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { ActorHost } from '../../actors/host.ts';
import type { InputEnvelope } from '../../actors/envelope.ts';
import type { LogPort, MetricsPort } from '../../actors/ports.ts';
import type { ExceptionInput } from '../../machines/exception.machine.ts';
import { decode, encode } from '../../nats/codec.ts';
import { consumeInOrder } from '../../nats/consumers.ts';
import { subjects } from '../../nats/subjects.ts';

/** What the raiser needs to know about a critical alarm (from config). */
export interface CriticalAlarm {
  id: string;
  unit: string;
  description: string;
}

export interface ExceptionRaiserOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  host: ActorHost;
  alarms: ReadonlyMap<string, CriticalAlarm>;
  /** Roles allowed to give a second signature / to close a critical exception (from the permission table). */
  secondSignerRoles: string[];
  closeRoles: string[];
  log: LogPort;
  metrics: MetricsPort;
}

/** ISA-18.2 states in which the alarm condition is active (STANDARDS.md §3.1: B and C). */
const ACTIVE = new Set(['Unacknowledged', 'Acknowledged']);
/** Phase states from which ISA-88 accepts Hold (STANDARDS.md §1.3). */
const HOLDABLE = new Set(['Running', 'Pausing', 'Paused', 'Restarting']);

interface TransitionEvent { actor: string; from: string; to: string; at: number; seq: number }

/**
 * Turns the activation of a critical alarm into an MES exception that needs two signatures, and holds the phase
 * running on the alarm's unit (CONTRACT.md §3, R201.TT01.HI). Reads the alarm actors' transitions from `EVENTS`
 * (durable, at-least-once); the exception id and every input's message id derive from the alarm input that activated
 * it, so a redelivered event creates nothing twice.
 */
export async function startExceptionRaiser(o: ExceptionRaiserOptions): Promise<{ stop(): Promise<void> }> {
  async function raise(alarm: CriticalAlarm, e: TransitionEvent): Promise<void> {
    const id = `EXC-${alarm.id}-${e.seq}`;
    const by = `alarm:${alarm.id}`;
    const unit = o.host.get('unit', alarm.unit)?.snapshot.context as { context?: { batchId?: string } } | undefined;
    const phases = o.host.list('phase').filter((p) => (p.snapshot.context as { unit?: string }).unit === alarm.unit);
    const running = phases.find((p) => HOLDABLE.has(String(p.snapshot.value)));
    const input: ExceptionInput = {
      id, kind: 'alarm', critical: true, source: by,
      ...(unit?.context?.batchId ? { batchId: unit.context.batchId } : {}),
      ...(running ? { phase: running.id } : {}),
      openedAt: e.at, openedBy: by,
      description: `${alarm.id} active${alarm.description ? `: ${alarm.description}` : ''}`,
      secondSignerRoles: o.secondSignerRoles, closeRoles: o.closeRoles,
    };
    const create: InputEnvelope = { event: { type: 'CREATE', at: e.at, by, input } };
    await o.js.publish(subjects.inbox('exception', id), encode(create), { msgID: `raise:${alarm.id}:${e.seq}` });
    o.metrics.inc('phaseline_exceptions_raised_total', { kind: 'alarm' }, 1, 'Exceptions raised by critical alarms');
    if (running) {
      // Stamped when issued (an automatic phase's PLC write expires relative to it), by the runtime's own role
      // `system`, which the command allowlist must grant for a hold to reach the control system.
      const hold: InputEnvelope = {
        event: { type: 'HOLD', at: Date.now(), by, roles: ['system'], reason: `critical alarm ${alarm.id} active since ${new Date(e.at).toISOString()}: exception ${id}` },
      };
      await o.js.publish(subjects.inbox('phase', running.id), encode(hold), { msgID: `hold:${alarm.id}:${e.seq}` });
    }
    o.log.warn({ alarm: alarm.id, exception: id, held: running?.id }, 'critical alarm: exception raised');
  }

  return consumeInOrder(o.jsm, { stream: 'EVENTS', durable: 'exception-raiser', filter: 'evt.alarm.>', maxAckPending: 16 }, async (m) => {
    const e = decode(m.data) as TransitionEvent;
    const alarm = o.alarms.get(e.actor);
    if (alarm && ACTIVE.has(e.to) && !ACTIVE.has(e.from)) await raise(alarm, e);
  }, o.log);
}
