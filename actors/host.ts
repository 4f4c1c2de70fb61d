import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../nats/codec.ts';
import { resetAtAckFloor } from '../nats/consumers.ts';
import { encodeId, tryDecodeId } from '../nats/ids.ts';
import { judgePosition, streamIdentity, type StreamIdentity } from '../nats/stream-identity.ts';
import { MSG_ID, subjects } from '../nats/subjects.ts';
import { alreadyApplied, applyInput, createActor, initialRecord, type ActorRecord } from './apply.ts';
import type { ActorEvent, InputEnvelope, InputOutcome } from './envelope.ts';
import type { ActorKind } from './kind.ts';
import { Lease } from './lease.ts';
import { sendInput } from './send.ts';
import type { LogPort, MetricsPort } from './ports.ts';
import { DeadlineTimers } from './timers.ts';

export interface ActorHostOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  leases: KV;
  kinds: ActorKind[];
  configVersion: string;
  log: LogPort;
  metrics: MetricsPort;
  /** Where dead letters go (injected: nats/dlq.ts in the shell). */
  deadLetter: (letter: { reason: string; detail: string; subject: string; data: Uint8Array; stream: string; streamSeq: number }) => Promise<void>;
  instance: { owner: string; host: string; pid: number; alive: (pid: number) => boolean };
  leaseTtlMs?: number;
  batch?: number;
  /** The wall clock: lease expiry, timers, quarantine and migration stamps (inputs carry their own `at`). */
  now: () => number;
}

interface Slot {
  kind: ActorKind;
  record: ActorRecord;
  revision: number;
}

const INBOX = 'INBOX';

/**
 * The actor host: one ordered inbox per actor on the `INBOX` stream, applied with xstate's pure `transition()`,
 * snapshot + outbox persisted in one KV compare-and-set, then effects published, then the input acknowledged
 * (DESIGN.md principles 2–4 and 7). One durable consumer per actor type (shard), owned through a KV lease.
 */
export class ActorHost {
  readonly #o: ActorHostOptions;
  readonly #slots = new Map<string, Slot>();
  readonly #timers: DeadlineTimers;
  readonly #leases: Lease[] = [];
  readonly #loops: Promise<void>[] = [];
  readonly #abort = new AbortController();
  #inbox: StreamIdentity = { stream: INBOX, incarnation: '', lastSeq: 0 };
  /** Records that took the INBOX identity on this start, by kind (an upgrade: audited once). */
  readonly #adopted = new Map<string, number>();
  #consumers = new Map<string, { stop(): void }>();

  constructor(options: ActorHostOptions) {
    this.#o = options;
    this.#timers = new DeadlineTimers((key, name, deadline) => void this.#fireTimer(key, name, deadline), options.now);
  }

  /** Takes the shard leases, rehydrates every actor (republishing pending outboxes) and starts applying inputs. */
  async start(): Promise<void> {
    const { jsm, kinds } = this.#o;
    this.#inbox = await streamIdentity(jsm, INBOX);
    for (const kind of kinds) {
      const lease = new Lease({
        kv: this.#o.leases, key: `shard.${kind.type}`, ...this.#o.instance, ttlMs: this.#o.leaseTtlMs ?? 15_000,
        log: this.#o.log, alive: this.#o.instance.alive, onLost: () => this.#consumers.get(kind.type)?.stop(), now: this.#o.now,
      });
      await lease.acquire(this.#abort.signal);
      this.#leases.push(lease);
      for (const [id, input] of kind.actors) await this.#rehydrate(kind, id, input);
      if (kind.creatable) for (const id of await this.#created(kind)) await this.#rehydrate(kind, id, undefined);
    }
    await this.#auditAdoption();
    for (const kind of kinds) this.#loops.push(this.#run(kind));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const c of this.#consumers.values()) c.stop();
    await Promise.allSettled(this.#loops);
    this.#timers.clear();
    for (const lease of this.#leases) await lease.release();
  }

  /** The current record of an actor, or undefined when no such actor exists. */
  get(type: string, id: string): ActorRecord | undefined {
    return this.#slots.get(slotKey(type, id))?.record;
  }

  /** Every actor record of a type. */
  list(type: string): ActorRecord[] {
    return [...this.#slots.values()].filter((s) => s.kind.type === type).map((s) => s.record);
  }

  /** Every kind this host runs. */
  kinds(): readonly ActorKind[] {
    return this.#o.kinds;
  }

  kind(type: string): ActorKind | undefined {
    return this.#o.kinds.find((k) => k.type === type);
  }

  /**
   * Appends an input to an actor's inbox and waits for its outcome (persisted, effects published). Resolves
   * `undefined` on timeout; the input stays in the inbox and will still be applied.
   */
  async send(type: string, id: string, event: ActorEvent, opts: { timeoutMs: number; msgId?: string }): Promise<InputOutcome | undefined> {
    return sendInput(this.#o.nc, this.#o.js, type, id, event, opts);
  }

  async #rehydrate(kind: ActorKind, id: string, input: unknown): Promise<void> {
    const key = slotKey(kind.type, id);
    const entry = await this.#o.kv.get(key);
    if (!entry || entry.operation !== 'PUT') {
      const record = initialRecord(kind, id, input, INBOX, this.#inbox.incarnation);
      if (await this.#hasHistory(kind.type, id)) {
        record.quarantined = { reason: 'actor has inbox history but no snapshot: not reset to its initial state', at: this.#o.now() };
        this.#quarantine(kind, record, 0);
        return;
      }
      const revision = await this.#o.kv.create(key, encode(record));
      this.#slots.set(key, { kind, record, revision });
      this.#timers.sync(key, timersOf(record));
      return;
    }
    let record = decode(entry.value) as ActorRecord;
    let revision = entry.revision;
    if (record.machineVersion !== kind.version) {
      const migrated = record.machineVersion < kind.version ? kind.migrate?.(record.machineVersion, record.snapshot, id) : undefined;
      if (!migrated) {
        record.quarantined = { reason: `snapshot of machine version ${record.machineVersion}, running version ${kind.version}: no migration`, at: this.#o.now() };
        return this.#quarantine(kind, record, entry.revision);
      }
      this.#o.log.warn({ actor: key, from: record.machineVersion, to: kind.version }, 'snapshot migrated to the running machine version');
      this.#o.metrics.inc('phaseline_actors_migrated_total', { type: kind.type }, 1, 'Actor snapshots migrated to a newer machine version');
      record = { ...record, snapshot: migrated, machineVersion: kind.version };
      revision = await this.#o.kv.update(key, encode(record), revision);
    }
    const position = await this.#position(kind, key, record, revision);
    if (!position) return;
    ({ record, revision } = position);
    const slot: Slot = { kind, record, revision };
    this.#slots.set(key, slot);
    // An outbox written before a crash is published again (consumers dedupe by msg id); one marked published is not.
    await this.#publishOutbox(slot);
    this.#timers.sync(key, timersOf(record));
  }

  /**
   * Checks a stored record's position against the INBOX as it is (DESIGN.md principle 15): the same incarnation goes
   * on; a record from before incarnations existed takes the identity when its position lies within the stream; a
   * recreated stream restarts the sequence; a position past the stream's end is quarantined, never reset.
   */
  async #position(kind: ActorKind, key: string, record: ActorRecord, revision: number): Promise<{ record: ActorRecord; revision: number } | undefined> {
    const verdict = judgePosition(record, this.#inbox);
    if (verdict.kind === 'same') return { record, revision };
    if (verdict.kind === 'beyond') {
      record.quarantined = { reason: `applied up to INBOX seq ${verdict.lastSeq}, but the stream ends at ${verdict.streamLastSeq}: not reset`, at: this.#o.now() };
      this.#quarantine(kind, record, revision);
      return undefined;
    }
    const { streamCreated: _legacy, ...rest } = record;
    let next: ActorRecord = { ...rest, incarnation: this.#inbox.incarnation };
    if (verdict.kind === 'recreated') {
      this.#o.log.warn({ actor: key, was: verdict.was, now: this.#inbox.incarnation }, 'INBOX is a new stream incarnation: this actor\'s input sequence restarts');
      const { seen: _seen, ...fresh } = next;
      next = { ...fresh, lastSeq: 0 };
    } else {
      this.#adopted.set(kind.type, (this.#adopted.get(kind.type) ?? 0) + 1);
    }
    return { record: next, revision: await this.#o.kv.update(key, encode(next), revision) };
  }

  /** One audit entry for the records that took the INBOX identity on this start (EU GMP Annex 11 §4.8: migration). */
  async #auditAdoption(): Promise<void> {
    if (this.#adopted.size === 0) return;
    const after = { incarnation: this.#inbox.incarnation, streamLastSeq: this.#inbox.lastSeq, records: Object.fromEntries(this.#adopted) };
    const request = {
      at: this.#o.now(), who: 'system', action: 'actors.position.migrated', target: 'stream:INBOX', configVersion: this.#o.configVersion,
      reason: 'actor records written before stream incarnations existed took the INBOX identity; nothing was re-applied', after,
    };
    await this.#o.js.publish(subjects.auditInbox, encode(request), { msgID: `migration:actors:${this.#inbox.incarnation}:${this.#o.instance.owner}` });
    this.#o.log.info(after, 'actor records adopted the INBOX stream identity');
    this.#adopted.clear();
  }

  /** Ids of actors created at run time: every snapshot of the kind not named in config. */
  async #created(kind: ActorKind): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of await this.#o.kv.keys(`${kind.type}.*`)) {
      const id = tryDecodeId(key.slice(kind.type.length + 1));
      if (id !== undefined && !kind.actors.has(id)) ids.push(id);
    }
    return ids.sort();
  }

  /** A `CREATE` input for an actor of a creatable kind that does not exist yet: persist, publish, acknowledge. */
  async #create(kind: ActorKind, id: string, m: JsMsg, envelope: InputEnvelope): Promise<void> {
    const key = slotKey(kind.type, id);
    let applied;
    try {
      applied = createActor(kind, id, envelope.event, m.seq, INBOX, this.#inbox.incarnation, this.#o.configVersion);
    } catch (err) {
      // An input the machine cannot start from: refused with its reason, never a poison message for the shard.
      await this.#o.deadLetter({ reason: 'invalid', detail: String(err), subject: m.subject, data: m.data, stream: INBOX, streamSeq: m.seq });
      m.ack();
      return this.#reply(envelope, { actor: id, seq: m.seq, accepted: false, state: '', from: '', rejection: { code: 'invalid_request', message: String(err) } });
    }
    let revision: number;
    try {
      revision = await this.#o.kv.create(key, encode(applied.record));
    } catch (err) {
      // Created before a crash (the input is redelivered): load what was stored and carry on from there.
      const entry = await this.#o.kv.get(key);
      if (entry?.operation !== 'PUT') throw err;
      const record = decode(entry.value) as ActorRecord;
      const slot: Slot = { kind, record, revision: entry.revision };
      this.#slots.set(key, slot);
      await this.#publishOutbox(slot);
      m.ack();
      this.#timers.sync(key, timersOf(record));
      return this.#reply(envelope, outcomeOf(slot, m.seq));
    }
    const slot: Slot = { kind, record: applied.record, revision };
    this.#slots.set(key, slot);
    await this.#publishOutbox(slot);
    m.ack();
    this.#o.metrics.inc('phaseline_actors_created_total', { type: kind.type }, 1, 'Actors created at run time');
    this.#timers.sync(key, timersOf(applied.record));
    this.#reply(envelope, applied.outcome);
  }

  #quarantine(kind: ActorKind, record: ActorRecord, revision: number): void {
    this.#slots.set(slotKey(kind.type, record.id), { kind, record, revision });
    this.#o.metrics.inc('phaseline_actors_quarantined_total', { type: kind.type }, 1, 'Actors quarantined instead of reset');
    this.#o.log.error({ actor: record.id, type: kind.type, reason: record.quarantined?.reason }, 'actor quarantined');
  }

  async #hasHistory(type: string, id: string): Promise<boolean> {
    try {
      return !!(await this.#o.jsm.direct.getMessage(INBOX, { last_by_subj: subjects.inbox(type, id) }));
    } catch {
      return false;
    }
  }

  async #run(kind: ActorKind): Promise<void> {
    const name = `actors-${kind.type}`;
    const filter = `inbox.${kind.type}.>`;
    while (!this.#abort.signal.aborted) {
      try {
        const spec = { stream: INBOX, durable: name, filter, maxAckPending: this.#o.batch ?? 256 };
        const { consumer } = await resetAtAckFloor(this.#o.jsm, spec);
        const messages = await consumer.consume({ max_messages: this.#o.batch ?? 256 });
        this.#consumers.set(kind.type, messages);
        if (this.#abort.signal.aborted) messages.stop();
        for await (const m of messages) await this.#handle(kind, m);
        return;
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#o.log.error({ type: kind.type, err: String(err) }, 'actor shard failed; restarting from the last acknowledged input');
        this.#o.metrics.inc('phaseline_actor_shard_restarts_total', { type: kind.type }, 1, 'Shard consumer restarts after a failure');
        this.#consumers.get(kind.type)?.stop();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async #handle(kind: ActorKind, m: JsMsg): Promise<void> {
    const token = m.subject.slice(`inbox.${kind.type}.`.length);
    const id = tryDecodeId(token);
    const slot = id === undefined ? undefined : this.#slots.get(slotKey(kind.type, id));
    let envelope: InputEnvelope | undefined;
    try {
      envelope = decode(m.data) as InputEnvelope;
    } catch {
      /* handled below */
    }
    if (!slot && id !== undefined && kind.creatable && validEnvelope(envelope) && envelope.event.type === 'CREATE' && envelope.event.input) {
      return this.#create(kind, id, m, envelope);
    }
    if (slot && validEnvelope(envelope) && envelope.event.type === 'CREATE') {
      m.ack(); // a repeated creation (e.g. the same alarm activation reported twice) changes nothing
      return this.#reply(envelope, outcomeOf(slot, m.seq, { code: 'already_exists', message: `${kind.type} ${slot.record.id} already exists` }));
    }
    const problem = !slot ? 'unknown_actor' : validEnvelope(envelope) ? undefined : 'invalid';
    if (problem || !slot || !envelope) {
      await this.#o.deadLetter({
        reason: problem ?? 'invalid', subject: m.subject, data: m.data, stream: INBOX, streamSeq: m.seq,
        detail: problem === 'unknown_actor' ? `no ${kind.type} actor ${id ?? token}` : 'not an input envelope { event: { type, at } }',
      });
      m.ack();
      return this.#reply(envelope, { actor: id ?? token, seq: m.seq, accepted: false, state: '', from: '', rejection: { code: problem === 'unknown_actor' ? 'not_found' : 'invalid_request', message: `input refused: ${problem}` } });
    }
    const { record } = slot;
    if (record.quarantined) {
      m.ack(); // the input stays in INBOX, the actor's log, for replay once the actor is migrated
      return this.#reply(envelope, outcomeOf(slot, m.seq, { code: 'actor_quarantined', message: record.quarantined.reason }));
    }
    if (m.seq <= record.lastSeq) {
      // Applied before a crash or a failed publish: its effects go out (again) before anything later is applied,
      // so every effect of one input is on its stream before the next input's (at-least-once, exactly-once effect).
      if (m.seq === record.lastSeq) await this.#publishOutbox(slot);
      m.ack();
      return this.#reply(envelope, outcomeOf(slot, m.seq));
    }
    const msgId = m.headers?.get(MSG_ID) || undefined;
    if (alreadyApplied(record, msgId)) {
      m.ack(); // a republished outbox or feed message past the broker's duplicate window: applied once already
      this.#o.metrics.inc('phaseline_actor_duplicate_inputs_total', { type: kind.type }, 1, 'Actor inputs skipped because their message id was applied already');
      return this.#reply(envelope, outcomeOf(slot, m.seq));
    }
    let applied;
    try {
      applied = applyInput(kind, record, envelope.event, m.seq, this.#o.configVersion, msgId);
    } catch (err) {
      record.quarantined = { reason: `machine failed: ${String(err)}`, at: this.#o.now() };
      this.#quarantine(kind, record, slot.revision);
      m.ack();
      return this.#reply(envelope, outcomeOf(slot, m.seq, { code: 'actor_quarantined', message: record.quarantined.reason }));
    }
    // Persist, then act, then acknowledge (DESIGN.md principle 3). A failed write throws: the shard restarts from
    // the last acknowledged input, so nothing is skipped.
    try {
      slot.revision = await this.#o.kv.update(slotKey(kind.type, record.id), encode(applied.record), slot.revision);
    } catch (err) {
      await this.#reload(slot);
      throw err;
    }
    slot.record = applied.record;
    await this.#publishOutbox(slot);
    m.ack();
    this.#o.metrics.inc('phaseline_actor_inputs_total', { type: kind.type, outcome: applied.outcome.accepted ? 'applied' : 'rejected' }, 1, 'Actor inputs applied');
    this.#timers.sync(slotKey(kind.type, record.id), timersOf(applied.record));
    this.#reply(envelope, applied.outcome);
  }

  /** Re-reads a slot after a failed compare-and-set, so the retry starts from what is really stored. */
  async #reload(slot: Slot): Promise<void> {
    const entry = await this.#o.kv.get(slotKey(slot.kind.type, slot.record.id)).catch(() => null);
    if (entry?.operation === 'PUT') {
      slot.record = decode(entry.value) as ActorRecord;
      slot.revision = entry.revision;
    }
  }

  /**
   * Publishes a slot's outbox unless it is marked published, then marks it (a second compare-and-set): a restart then
   * republishes only what may not have landed. A failed mark is harmless (the outbox is published again, deduplicated).
   */
  async #publishOutbox(slot: Slot): Promise<void> {
    const { record } = slot;
    if (record.outboxPublished || record.outbox.length === 0) return;
    const { js } = this.#o;
    await Promise.all(record.outbox.map((e) => js.publish(e.subject, encode(e.payload), { msgID: e.msgId })));
    const marked: ActorRecord = { ...record, outboxPublished: true };
    try {
      slot.revision = await this.#o.kv.update(slotKey(slot.kind.type, record.id), encode(marked), slot.revision);
      slot.record = marked;
    } catch (err) {
      this.#o.log.debug({ actor: record.id, err: String(err) }, 'outbox not marked published; it will be published again');
      await this.#reload(slot);
    }
  }

  #reply(envelope: InputEnvelope | undefined, outcome: InputOutcome): void {
    if (envelope?.replyTo && typeof envelope.replyTo === 'string') this.#o.nc.publish(envelope.replyTo, encode(outcome));
  }

  async #fireTimer(key: string, name: string, deadline: number): Promise<void> {
    const slot = this.#slots.get(key);
    if (!slot) return;
    const event: ActorEvent = { type: 'TIMER', name, at: deadline, by: 'timer' };
    try {
      await this.#o.js.publish(subjects.inbox(slot.kind.type, slot.record.id), encode({ event } satisfies InputEnvelope), {
        msgID: `timer.${key}.${name}.${deadline}`,
      });
    } catch (err) {
      this.#o.log.warn({ actor: key, name, err: String(err) }, 'timer input not appended; retrying');
      setTimeout(() => void this.#fireTimer(key, name, deadline), 1000).unref?.();
    }
  }
}

function slotKey(type: string, id: string): string {
  return `${type}.${encodeId(id)}`;
}

function validEnvelope(e: InputEnvelope | undefined): e is InputEnvelope {
  const ev = e?.event;
  return !!ev && typeof ev === 'object' && typeof ev.type === 'string' && ev.type.length > 0 &&
    typeof ev.at === 'number' && Number.isFinite(ev.at) && (ev.by === undefined || typeof ev.by === 'string');
}

function timersOf(record: ActorRecord): Record<string, number> | undefined {
  return (record.snapshot.context as { timers?: Record<string, number> }).timers;
}

function outcomeOf(slot: Slot, seq: number, rejection?: InputOutcome['rejection']): InputOutcome {
  const state = slot.kind.stateName(slot.record.snapshot);
  return {
    actor: slot.record.id, seq, accepted: !rejection, state, from: state, rejection,
    view: slot.kind.view(slot.record.id, slot.record.snapshot),
  };
}
