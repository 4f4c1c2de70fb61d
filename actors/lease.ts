import type { KV } from '@nats-io/kv';
import { decode, encode } from '../nats/codec.ts';
import { ActorError } from './errors.ts';
import type { LogPort } from './ports.ts';

interface LeaseRecord {
  owner: string;
  host: string;
  pid: number;
  until: number;
}

export interface LeaseOptions {
  kv: KV;
  key: string;
  owner: string;
  host: string;
  pid: number;
  ttlMs: number;
  log: LogPort;
  /** Tells whether a process on this host is alive, so a crashed owner's lease is taken over at once. */
  alive: (pid: number) => boolean;
  onLost: () => void;
  /** The wall clock the lease's `until` is measured on (injected: actors/ reads no clock of its own). */
  now: () => number;
}

/**
 * A leased KV record that makes one process the single writer of a shard (DESIGN.md principle 4). Renewed by
 * compare-and-set; a renewal that loses the compare-and-set means another writer took over, and the shard is given up.
 */
export class Lease {
  #revision = 0;
  #timer?: ReturnType<typeof setInterval>;
  readonly #o: LeaseOptions;

  constructor(options: LeaseOptions) {
    this.#o = options;
  }

  /** Waits until the lease is ours (an expired lease, or one of a dead process on this host, is taken over). */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw new ActorError('ERR_ACTOR_LEASE_ABORTED', 'lease acquisition aborted');
      if (await this.#tryTake()) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    this.#timer = setInterval(() => void this.#renew(), Math.max(200, this.#o.ttlMs / 3));
    this.#timer.unref?.();
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#revision) return;
    try {
      await this.#o.kv.update(this.#o.key, encode({ ...this.#mine(), until: 0 }), this.#revision);
    } catch {
      // Someone else already holds it; nothing of ours to release.
    }
    this.#revision = 0;
  }

  async #tryTake(): Promise<boolean> {
    const { kv, key } = this.#o;
    const entry = await kv.get(key);
    try {
      if (!entry || entry.operation !== 'PUT') {
        this.#revision = await kv.create(key, encode(this.#mine()));
        return true;
      }
      const held = decode(entry.value) as LeaseRecord;
      const free = held.owner === this.#o.owner || held.until < this.#o.now() ||
        (held.host === this.#o.host && held.pid !== this.#o.pid && !this.#o.alive(held.pid));
      if (!free) return false;
      this.#revision = await kv.update(key, encode(this.#mine()), entry.revision);
      this.#o.log.info({ key, previous: held.owner }, 'lease taken');
      return true;
    } catch {
      return false;
    }
  }

  async #renew(): Promise<void> {
    try {
      this.#revision = await this.#o.kv.update(this.#o.key, encode(this.#mine()), this.#revision);
    } catch (err) {
      if (/wrong last sequence/i.test(String(err))) {
        clearInterval(this.#timer);
        this.#o.log.error({ key: this.#o.key }, 'lease lost to another writer: giving the shard up');
        this.#o.onLost();
      } else this.#o.log.warn({ key: this.#o.key, err: String(err) }, 'lease renewal failed; retrying');
    }
  }

  #mine(): LeaseRecord {
    return { owner: this.#o.owner, host: this.#o.host, pid: this.#o.pid, until: this.#o.now() + this.#o.ttlMs };
  }
}
