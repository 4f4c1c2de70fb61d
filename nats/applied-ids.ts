/**
 * Applied-once memory for message ids beyond JetStream's duplicate window (DESIGN.md principle 3: consumers dedupe
 * by the outbox id). Outbox ids `<producer>:<seq>:<n>` are ordered per producer: every effect of input `seq` is on
 * its stream before the producer applies `seq + 1` (the host republishes an unacknowledged outbox before it moves
 * on), though the effects of one `seq` may land in any order after a retry. So per producer the highest `seq` and
 * the set of `n` applied at it say exactly what was applied; any other id is kept in a bounded set.
 */
export interface OutboxId {
  producer: string;
  seq: number;
  n: number;
}

const OUTBOX_ID = /^(.+):(\d{1,15}):(\d{1,15})$/;

/** Splits an outbox id; undefined for any other id. */
export function parseOutboxId(id: string): OutboxId | undefined {
  const m = OUTBOX_ID.exec(id);
  return m ? { producer: m[1]!, seq: Number(m[2]), n: Number(m[3]) } : undefined;
}

/** The applied position of one producer: its highest `seq` and the `n` applied at it. */
export interface ProducerTop {
  seq: number;
  ns: number[];
}

/** True when `id` (of this producer) was applied, given the producer's top. */
export function appliedAt(top: ProducerTop | undefined, id: OutboxId): boolean {
  return !!top && (id.seq < top.seq || (id.seq === top.seq && top.ns.includes(id.n)));
}

/** The producer's top after applying `id`. */
export function advanceTop(top: ProducerTop | undefined, id: OutboxId): ProducerTop {
  if (!top || id.seq > top.seq) return { seq: id.seq, ns: [id.n] };
  if (id.seq < top.seq || top.ns.includes(id.n)) return top;
  return { seq: top.seq, ns: [...top.ns, id.n].sort((a, b) => a - b) };
}

/** Serialisable form of {@link AppliedIds}: plain arrays, least recently applied first. */
export interface AppliedIdsState {
  producers: [string, number, number[]][];
  recent: string[];
}

/** Limits of an {@link AppliedIds}. */
export interface AppliedIdsLimits {
  producers: number;
  recent: number;
}

/** A bounded in-memory applied-once set (kept in an actor's record: the producers that send it inputs are few). */
export class AppliedIds {
  readonly #producers = new Map<string, ProducerTop>();
  readonly #recent = new Map<string, true>();
  readonly #limits: AppliedIdsLimits;

  constructor(state?: AppliedIdsState, limits: AppliedIdsLimits = { producers: 256, recent: 256 }) {
    this.#limits = limits;
    for (const [p, seq, ns] of state?.producers ?? []) this.#producers.set(p, { seq, ns: [...ns] });
    for (const id of state?.recent ?? []) this.#recent.set(id, true);
  }

  /** True when this id was applied already. */
  has(msgId: string): boolean {
    const id = parseOutboxId(msgId);
    return id ? appliedAt(this.#producers.get(id.producer), id) : this.#recent.has(msgId);
  }

  /** Remembers an applied id. */
  add(msgId: string): void {
    const id = parseOutboxId(msgId);
    if (!id) return touch(this.#recent, msgId, true, this.#limits.recent);
    touch(this.#producers, id.producer, advanceTop(this.#producers.get(id.producer), id), this.#limits.producers);
  }

  toJSON(): AppliedIdsState {
    return { producers: [...this.#producers].map(([p, t]) => [p, t.seq, t.ns]), recent: [...this.#recent.keys()] };
  }
}

function touch<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) map.delete(map.keys().next().value!);
}
