import type { KV } from '@nats-io/kv';
import { advanceTop, appliedAt, parseOutboxId, type ProducerTop } from '../../nats/applied-ids.ts';
import { decode, encode } from '../../nats/codec.ts';
import { encodeId } from '../../nats/ids.ts';

/**
 * The exact set of audit request ids the writer has chained (21 CFR 11.10(e): every request is recorded once), kept
 * in its own KV bucket so that it has no bound: per producer of outbox ids (`<producer>:<seq>:<n>`) its top
 * (nats/applied-ids.ts), and every other id by itself. Keys are scoped to the INBOX incarnation the ids belong to.
 * Lookups go through a small cache; what was chained is written back by {@link flush} before the writer persists
 * its position, and whatever was chained after the last flush is found again on the AUDIT tail at the next start.
 */
export class AuditIdIndex {
  readonly #kv: KV;
  readonly #scope: string;
  readonly #tops = new Map<string, ProducerTop | null>();
  readonly #ids = new Map<string, boolean>();
  readonly #dirtyTops = new Set<string>();
  readonly #dirtyIds = new Set<string>();
  readonly #cacheLimit: number;

  constructor(kv: KV, incarnation: string, cacheLimit = 4096) {
    this.#kv = kv;
    this.#scope = encodeId(incarnation);
    this.#cacheLimit = cacheLimit;
  }

  /** True when a request with this id was chained already. */
  async has(msgId: string): Promise<boolean> {
    const id = parseOutboxId(msgId);
    if (id) return appliedAt((await this.#top(id.producer)) ?? undefined, id);
    if (!this.#ids.has(msgId)) this.#ids.set(msgId, (await this.#kv.get(this.#key('r', msgId)))?.operation === 'PUT');
    return this.#ids.get(msgId)!;
  }

  /** Records a chained id (in memory until {@link flush}). */
  async add(msgId: string): Promise<void> {
    const id = parseOutboxId(msgId);
    if (!id) {
      this.#ids.set(msgId, true);
      this.#dirtyIds.add(msgId);
      return;
    }
    const top = (await this.#top(id.producer)) ?? undefined;
    const next = advanceTop(top, id);
    if (next === top) return;
    this.#tops.set(id.producer, next);
    this.#dirtyTops.add(id.producer);
  }

  /** Writes every id recorded since the last flush; then trims the cache. */
  async flush(): Promise<void> {
    const puts: Promise<unknown>[] = [];
    for (const p of this.#dirtyTops) puts.push(this.#kv.put(this.#key('p', p), encode(this.#tops.get(p))));
    for (const id of this.#dirtyIds) puts.push(this.#kv.put(this.#key('r', id), encode(1)));
    await Promise.all(puts);
    this.#dirtyTops.clear();
    this.#dirtyIds.clear();
    trim(this.#tops, this.#cacheLimit);
    trim(this.#ids, this.#cacheLimit);
  }

  async #top(producer: string): Promise<ProducerTop | null> {
    if (!this.#tops.has(producer)) {
      const e = await this.#kv.get(this.#key('p', producer));
      this.#tops.set(producer, e?.operation === 'PUT' ? (decode(e.value) as ProducerTop) : null);
    }
    return this.#tops.get(producer)!;
  }

  #key(kind: 'p' | 'r', id: string): string {
    return `${this.#scope}.${kind}.${encodeId(id)}`;
  }
}

/** Drops the oldest cached entries beyond `limit` (dirty ones are flushed by then). */
function trim<V>(map: Map<string, V>, limit: number): void {
  while (map.size > limit) map.delete(map.keys().next().value!);
}
