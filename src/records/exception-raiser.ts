import type { JetStreamManager } from '@nats-io/jetstream';
import type { ActorHost } from '../../actors/host.ts';
import type { ActorEvent, InputOutcome } from '../../actors/envelope.ts';
import type { LogPort, MetricsPort } from '../../actors/ports.ts';
import type { ExceptionContext, ExceptionInput } from '../../machines/exception.machine.ts';
import type { PhaseContext } from '../../machines/phase.machine.ts';
import { decode } from '../../nats/codec.ts';
import { consumeInOrder } from '../../nats/consumers.ts';
import { TransitionEventSchema, type TransitionEvent } from '../../nats/event.schema.ts';
import { PhaselineError } from '../errors.ts';

/** What the raiser needs to know about a critical alarm (from config). */
export interface CriticalAlarm {
  id: string;
  unit: string;
  description: string;
}

export interface ExceptionRaiserOptions {
  jsm: JetStreamManager;
  host: ActorHost;
  alarms: ReadonlyMap<string, CriticalAlarm>;
  /** Roles allowed to give a second signature / to close a critical exception (from the permission table). */
  secondSignerRoles: string[];
  closeRoles: string[];
  log: LogPort;
  metrics: MetricsPort;
  /** How long to wait for an actor's answer to the exception's creation or the hold (default 10 s). */
  timeoutMs?: number;
  /** The wall clock, for the hold's stamp (default `Date.now`). */
  now?: () => number;
}

/** ISA-18.2 states in which the alarm condition is active (STANDARDS.md §3.1: B and C). */
const ACTIVE = new Set(['Unacknowledged', 'Acknowledged']);
/** Phase states from which ISA-88 accepts Hold (STANDARDS.md §1.3). */
const HOLDABLE = new Set(['Running', 'Pausing', 'Paused', 'Restarting']);
/** Exception states before its signature: the phase must stay held (CONTRACT.md permissives). */
const UNSIGNED = new Set(['Open', 'Acknowledged', 'Investigated']);

/** What the raiser reads of a persisted actor: its state and context (actors/apply.ts ActorRecord). */
interface Persisted<C> { value: string; context: C }

/** Why a phase is (not) held for an exception, decided from persisted state only. */
export type HoldDecision =
  | { hold: true; phase: string }
  | { hold: false; why: 'no_phase' | 'signed' | 'not_holdable' | 'already_held'; phase?: string; state?: string };

/**
 * Whether a critical exception still calls for a hold of its phase: only while it is unsigned, only a phase in a state
 * that accepts Hold, and never when the phase's last command is already this alarm's hold issued at or after the
 * exception opened (a pending hold of an automatic phase included). A restart thus re-derives nothing already decided
 * (DESIGN.md principle 15; ISA-88.01 §5.7.3 Hold).
 */
export function holdDecision(
  exc: Persisted<Pick<ExceptionContext, 'phase' | 'source' | 'openedAt'>>,
  phase: Persisted<Pick<PhaseContext, 'lastCommand'>> | undefined,
): HoldDecision {
  const id = exc.context.phase;
  if (!id || !phase) return { hold: false, why: 'no_phase' };
  if (!UNSIGNED.has(exc.value)) return { hold: false, why: 'signed', phase: id, state: phase.value };
  const last = phase.context.lastCommand;
  if (last?.command === 'HOLD' && last.by === exc.context.source && last.at >= exc.context.openedAt) {
    return { hold: false, why: 'already_held', phase: id, state: phase.value };
  }
  if (!HOLDABLE.has(phase.value)) return { hold: false, why: 'not_holdable', phase: id, state: phase.value };
  return { hold: true, phase: id };
}

/**
 * Turns the activation of a critical alarm into an MES exception that needs two signatures, and holds the phase
 * running on the alarm's unit (CONTRACT.md §3, R201.TT01.HI; 21 CFR 11.10(e), ALCOA+ "contemporaneous"). Reads the
 * alarm actors' transitions from `EVENTS` (durable, at-least-once, and republished past JetStream's duplicate window
 * by restarts), so every decision is taken from persisted state, not from the message: an exception its host has
 * already persisted is not created again, and a hold is requested only per {@link holdDecision}.
 */
export async function startExceptionRaiser(o: ExceptionRaiserOptions): Promise<{ stop(): Promise<void> }> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const now = o.now ?? Date.now;

  /** An actor as its host persisted it (the host's record is set only after its compare-and-set succeeded). */
  async function read<C>(type: string, id: string): Promise<Persisted<C> | undefined> {
    const record = o.host.get(type, id);
    return record && { value: String(record.snapshot.value), context: record.snapshot.context as C };
  }

  /** The input that creates the exception; its id derives from the alarm input that activated it. */
  function creation(alarm: CriticalAlarm, e: TransitionEvent, id: string): ActorEvent {
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
    return { type: 'CREATE', at: e.at, by, input };
  }

  /** Creates the exception unless it exists; resolves whether this call created it. */
  async function ensureException(alarm: CriticalAlarm, e: TransitionEvent, id: string): Promise<boolean> {
    if (await read('exception', id)) return false;
    const outcome = await o.host.send('exception', id, creation(alarm, e, id), { timeoutMs, msgId: `raise:${alarm.id}:${e.seq}` });
    if (outcome?.rejection?.code === 'already_exists') return false;
    if (outcome?.rejection) {
      o.log.warn({ alarm: alarm.id, exception: id, rejection: outcome.rejection.code }, 'critical alarm: exception refused');
      return false;
    }
    if (!outcome && !(await read('exception', id))) {
      // Still queued: the redelivery decides again from what is then stored.
      throw new PhaselineError('ERR_ACTOR_TIMEOUT', `exception ${id} was not created within ${timeoutMs} ms`, { exception: id });
    }
    o.metrics.inc('phaseline_exceptions_raised_total', { kind: 'alarm' }, 1, 'Exceptions raised by critical alarms');
    return true;
  }

  async function hold(alarm: CriticalAlarm, e: TransitionEvent, id: string, phase: string): Promise<InputOutcome | undefined> {
    // Stamped when issued (an automatic phase's PLC write expires relative to it), by the runtime's own role
    // `system`, which the command allowlist must grant for a hold to reach the control system.
    const event: ActorEvent = {
      type: 'HOLD', at: now(), by: `alarm:${alarm.id}`, roles: ['system'],
      reason: `critical alarm ${alarm.id} active since ${new Date(e.at).toISOString()}: exception ${id}`,
    };
    return o.host.send('phase', phase, event, { timeoutMs, msgId: `hold:${alarm.id}:${e.seq}` });
  }

  async function raise(alarm: CriticalAlarm, e: TransitionEvent): Promise<void> {
    const id = `EXC-${alarm.id}-${e.seq}`;
    const created = await ensureException(alarm, e, id);
    const exc = await read<ExceptionContext>('exception', id);
    if (!exc) return;
    const phaseId = exc.context.phase;
    const decision = holdDecision(exc, phaseId ? await read<PhaseContext>('phase', phaseId) : undefined);
    const facts = { alarm: alarm.id, exception: id, status: exc.value, ...(phaseId ? { phase: phaseId } : {}) };
    if (created) o.log.warn(facts, 'critical alarm: exception raised');
    if (!decision.hold) {
      const line = created ? 'critical alarm: no hold requested' : 'critical alarm seen again: exception exists, nothing re-raised or re-held';
      return void o.log.info({ ...facts, hold: decision.why, ...(decision.state ? { phaseState: decision.state } : {}) }, line);
    }
    const outcome = await hold(alarm, e, id, decision.phase);
    const result = !outcome ? { outcome: 'pending' }
      : outcome.rejection ? { outcome: 'refused', rejection: outcome.rejection.code, phaseState: outcome.state }
        : { outcome: 'accepted', phaseState: outcome.state };
    o.log.warn({ ...facts, ...result }, `critical alarm: hold of ${decision.phase} requested`);
  }

  return consumeInOrder(o.jsm, { stream: 'EVENTS', durable: 'exception-raiser', filter: 'evt.alarm.>', maxAckPending: 16 }, async (m) => {
    const parsed = TransitionEventSchema.safeParse(decode(m.data));
    if (!parsed.success) {
      o.metrics.inc('phaseline_exception_raiser_skipped_total', { reason: 'invalid' }, 1, 'EVENTS messages the exception raiser could not read');
      return o.log.error({ subject: m.subject, seq: m.seq, issues: parsed.error.issues.length }, 'alarm transition event does not match its schema: skipped');
    }
    const e = parsed.data;
    const alarm = o.alarms.get(e.actor);
    if (alarm && ACTIVE.has(e.to) && !ACTIVE.has(e.from)) await raise(alarm, e);
  }, o.log);
}
