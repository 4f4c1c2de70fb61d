import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import { AppliedIds, type AppliedIdsState } from '../nats/applied-ids.ts';
import type { TransitionEvent } from '../nats/event.schema.ts';
import { subjects } from '../nats/subjects.ts';
import type { ActorEvent, AuditRequest, InputOutcome } from './envelope.ts';
import { ActorError } from './errors.ts';
import type { ActorKind, Effect, PersistedState } from './kind.ts';

/** What the host persists per actor in one KV compare-and-set (DESIGN.md principle 3). */
export interface ActorRecord {
  type: string;
  id: string;
  snapshot: PersistedState;
  machineVersion: number;
  stream: string;
  /** The INBOX incarnation (nats/stream-identity.ts) that `lastSeq` refers to. */
  incarnation?: string;
  /** Written before incarnations existed (the stream's reported creation time): read only to upgrade the record. */
  streamCreated?: string;
  lastSeq: number;
  /** Effects of the last applied input: published after the write, and again on rehydrate unless marked published. */
  outbox: Effect[];
  /** True once every effect of `outbox` is known to be on its stream. */
  outboxPublished?: boolean;
  /** Message ids of applied inputs (outbox ids of other actors, feeds): a republished input is applied once. */
  seen?: AppliedIdsState;
  quarantined?: { reason: string; at: number };
}

export interface Applied {
  record: ActorRecord;
  outcome: InputOutcome;
}

/** Restores a machine snapshot from its persisted value and context. */
export function restore(machine: AnyStateMachine, state: PersistedState) {
  return machine.resolveState({ value: state.value as never, context: state.context as never });
}

/** The record of a genuinely new actor (first start): the machine's initial state, nothing applied yet. */
export function initialRecord(kind: ActorKind, id: string, input: unknown, stream: string, incarnation: string): ActorRecord {
  const [snap] = initialTransition(kind.machine, input as never);
  return {
    type: kind.type,
    id,
    snapshot: { value: snap.value, context: snap.context as Record<string, unknown> },
    machineVersion: kind.version,
    stream,
    incarnation,
    lastSeq: 0,
    outbox: [],
  };
}

/**
 * Creates an actor at run time from a `CREATE` input: the machine's initial state, with the effects of its entry
 * actions in the outbox (e.g. an exception telling its phase it is open), an `evt.*` creation event and an audit entry.
 */
export function createActor(kind: ActorKind, id: string, event: ActorEvent, seq: number, stream: string, incarnation: string, configVersion: string): Applied {
  const [snap, actions] = initialTransition(kind.machine, event.input as never);
  if (snap.status === 'error') throw new ActorError('ERR_ACTOR_MACHINE_FAILED', `machine ${kind.type} cannot start from this input: ${String(snap.error)}`, { cause: snap.error });
  const record = initialRecord(kind, id, event.input, stream, incarnation);
  const after: PersistedState = { value: snap.value, context: snap.context as Record<string, unknown> };
  const info = { id, seq, event, before: after, after };
  const publishes: { subject: string; payload: unknown }[] = [];
  const audits: AuditRequest[] = [];
  const ref = `inbox:${seq}`;
  const state = kind.stateName(after);
  audits.push({ who: event.by ?? 'system', action: `${kind.type}.created`, target: `${kind.type}:${id}`, at: event.at, configVersion, ref, after: { state, input: event.input } });
  for (const action of actions) {
    const r = kind.interpret({ type: action.type, params: action.params }, info);
    publishes.push(...(r?.publish ?? []));
    audits.push(...(r?.audit ?? []).map((a) => ({ ...a, at: event.at, configVersion, ref })));
  }
  publishes.unshift({
    subject: subjects.event(kind.type, id),
    payload: { actor: id, type: kind.type, from: '', to: state, event: 'CREATE', at: event.at, by: event.by, seq } satisfies TransitionEvent,
  });
  const effects = outbox(kind.type, id, seq, publishes, audits);
  return {
    record: { ...record, lastSeq: seq, outbox: effects },
    outcome: { actor: id, seq, accepted: true, state, from: '', view: kind.view(id, after) },
  };
}

/**
 * Applies one input to one actor with xstate's pure `transition()` and turns the result into the next record and its
 * outbox (DESIGN.md principles 2 and 3). Pure: no I/O, no clock; throws only if the machine itself fails.
 */
export function applyInput(
  kind: ActorKind,
  record: ActorRecord,
  event: ActorEvent,
  seq: number,
  configVersion: string,
  msgId?: string,
): Applied {
  const before = record.snapshot;
  const [next, actions] = transition(kind.machine, restore(kind.machine, before), event as never);
  if (next.status === 'error') throw new ActorError('ERR_ACTOR_MACHINE_FAILED', `machine ${kind.type} failed on ${event.type}: ${String(next.error)}`, { cause: next.error });
  const after: PersistedState = { value: next.value, context: next.context as Record<string, unknown> };
  const from = kind.stateName(before);
  const to = kind.stateName(after);
  const target = `${kind.type}:${record.id}`;
  const ref = `inbox:${seq}`;
  const info = { id: record.id, seq, event, before, after };

  const publishes: { subject: string; payload: unknown }[] = [];
  const audits: AuditRequest[] = [];
  const stamp = (a: Omit<AuditRequest, 'at' | 'configVersion' | 'ref'>): AuditRequest => ({
    ...a, at: event.at, configVersion, ref,
  });
  let rejection: InputOutcome['rejection'];
  let reply: Record<string, unknown> = {};
  for (const action of actions) {
    const r = kind.interpret({ type: action.type, params: action.params }, info);
    if (!r) continue;
    publishes.push(...(r.publish ?? []));
    audits.push(...(r.audit ?? []).map(stamp));
    rejection ??= r.rejection;
    reply = { ...reply, ...r.reply };
  }
  const reason = typeof event.reason === 'string' ? event.reason : undefined;
  const who = event.by ?? 'system';
  if (rejection) {
    audits.unshift(stamp({ who, action: `${kind.type}.${event.type.toLowerCase()}.rejected`, target, reason, before: { state: from }, after: { rejection } }));
  } else if (isRequest(event)) {
    audits.unshift(stamp({ who, action: `${kind.type}.${event.type.toLowerCase()}`, target, reason, before: { state: from }, after: { state: to } }));
  }
  if (from !== to) {
    const ctx = after.context as { permissives?: { contextId?: string; batchId?: string }; context?: { contextId?: string; batchId?: string } };
    const bound = ctx.permissives ?? ctx.context;
    publishes.unshift({
      subject: subjects.event(kind.type, record.id),
      payload: { actor: record.id, type: kind.type, from, to, event: event.type, at: event.at, by: event.by, contextId: bound?.contextId, batchId: bound?.batchId, seq } satisfies TransitionEvent,
    });
    audits.push(stamp({ who, action: `${kind.type}.transition`, target, before: { state: from }, after: { state: to, event: event.type } }));
  }
  const effects = outbox(kind.type, record.id, seq, publishes, audits);
  const { outboxPublished: _published, ...rest } = record;
  return {
    record: { ...rest, snapshot: after, lastSeq: seq, outbox: effects, ...(msgId ? { seen: remember(record.seen, msgId) } : {}) },
    outcome: {
      actor: record.id, seq, accepted: !rejection, state: to, from, rejection,
      view: { ...kind.view(record.id, after), ...reply },
    },
  };
}

/** The applied-id memory after applying `msgId`. */
function remember(seen: AppliedIdsState | undefined, msgId: string): AppliedIdsState {
  const ids = new AppliedIds(seen);
  ids.add(msgId);
  return ids.toJSON();
}

/** True when an input with this message id was applied to the actor already (a republished outbox, a replay). */
export function alreadyApplied(record: ActorRecord, msgId: string | undefined): boolean {
  return !!msgId && !!record.seen && new AppliedIds(record.seen).has(msgId);
}

/** Inputs a person or system asked for (audited as requests); control-system reports and timers are audited by their transitions. */
function isRequest(event: ActorEvent): boolean {
  return !['PLC_STATE', 'TIMER', 'UNIT_STATUS'].includes(event.type);
}

/**
 * The outbox of one applied input: publishes first, then audit requests to the single writer, each with the
 * deterministic message id `<type>.<id>:<seq>:<n>`, so a republish after a crash is deduplicated (DESIGN.md principle 3).
 */
function outbox(type: string, id: string, seq: number, publishes: { subject: string; payload: unknown }[], audits: AuditRequest[]): Effect[] {
  return [...publishes, ...audits.map((a) => ({ subject: subjects.auditInbox, payload: a }))].map(
    (e, n) => ({ subject: e.subject, payload: e.payload, msgId: `${type}.${id}:${seq}:${n}` }),
  );
}
