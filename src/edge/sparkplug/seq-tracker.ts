/** Why a message was not applied (stable snake_case reasons for dead letters and counters). */
export type SeqRejectReason = 'before_birth' | 'late_seq' | 'duplicate_seq' | 'invalid_seq' | 'superseded';

/** What the host must do after feeding the tracker a message or a clock tick. */
export type SeqAction<M> =
  | { kind: 'deliver'; msg: M }
  | { kind: 'reject'; msg: M; reason: SeqRejectReason; detail: string }
  | { kind: 'gap'; from: number; to: number; count: number }
  | { kind: 'rebirth'; reason: 'before_birth' | 'seq_gap' };

/** Options of {@link SeqTracker}. */
export interface SeqTrackerOptions {
  /** How long an out-of-order message waits for the missing ones (Sparkplug B 3.0 ch. 5, Reorder Timeout). */
  reorderTimeoutMs: number;
  /** Held messages beyond which the gap is resolved at once. */
  maxHeld?: number;
  /** Minimum time between two rebirth requests to the same edge node. */
  rebirthBackoffMs?: number;
}

const MOD = 256;
const dist = (seq: number, expected: number) => (((seq - expected) % MOD) + MOD) % MOD;

/**
 * Per-edge-node ordering of the `seq` field (Sparkplug B 3.0 ch. 6 Payload `seq`: 0–255 across NBIRTH, DBIRTH, NDATA,
 * DDATA and DDEATH of one edge node, wrapping to 0). A message ahead of the expected number is held for the reorder
 * timeout; a gap that does not fill in time is counted and answered with a rebirth request; messages behind are late
 * or duplicates. Pure: the caller passes the clock, so it is tested with an in-memory clock.
 */
export class SeqTracker<M extends { seq?: number }> {
  #born = false;
  #expected = 0;
  #held = new Map<number, M>();
  #heldSince: number | undefined;
  #lastRebirth = Number.NEGATIVE_INFINITY;
  readonly #o: Required<SeqTrackerOptions>;

  constructor(o: SeqTrackerOptions) {
    this.#o = { maxHeld: 64, rebirthBackoffMs: o.reorderTimeoutMs, ...o };
  }

  /** True between an NBIRTH and the next NDEATH. */
  get born(): boolean {
    return this.#born;
  }

  /** Messages held while waiting for a gap to fill. */
  get held(): number {
    return this.#held.size;
  }

  /** When {@link tick} next has something to do, or undefined. */
  deadline(): number | undefined {
    return this.#heldSince === undefined ? undefined : this.#heldSince + this.#o.reorderTimeoutMs;
  }

  /** An NBIRTH (ch. 4): a new session; held messages of the previous one are superseded. */
  birth(msg: M): SeqAction<M>[] {
    const out: SeqAction<M>[] = [...this.#held.values()].map((m) => reject(m, 'superseded', 'held across a new NBIRTH'));
    this.#held.clear();
    this.#heldSince = undefined;
    this.#born = true;
    this.#expected = ((msg.seq ?? 0) + 1) % MOD;
    out.push({ kind: 'deliver', msg });
    return out;
  }

  /** A valid NDEATH (ch. 4 NDEATH / DDEATH): what was held is delivered in order (it was sent before the death), then the node is dead. */
  death(): SeqAction<M>[] {
    const out = this.#resolve(false, 0);
    this.#born = false;
    return out;
  }

  /** NDATA, DBIRTH, DDATA or DDEATH of this node (ch. 6 Payload `seq`). */
  message(msg: M, now: number): SeqAction<M>[] {
    const seq = msg.seq;
    if (!this.#born) return [reject(msg, 'before_birth', 'no NBIRTH seen for this session'), ...this.#rebirth('before_birth', now)];
    if (seq === undefined || !Number.isInteger(seq) || seq < 0 || seq >= MOD)
      return [reject(msg, 'invalid_seq', `seq ${String(seq)} is not an integer 0–255`)];
    const d = dist(seq, this.#expected);
    if (d === 0) {
      this.#expected = (seq + 1) % MOD;
      return [{ kind: 'deliver', msg }, ...this.#drain()];
    }
    if (d >= MOD / 2) return [reject(msg, 'late_seq', `seq ${seq} is behind the expected ${this.#expected}`)];
    if (this.#held.has(seq)) return [reject(msg, 'duplicate_seq', `seq ${seq} is already held`)];
    this.#held.set(seq, msg);
    this.#heldSince ??= now;
    return this.#held.size > this.#o.maxHeld ? this.#resolve(true, now) : [];
  }

  /** Resolves a gap whose reorder timeout has passed. */
  tick(now: number): SeqAction<M>[] {
    const due = this.deadline();
    return due !== undefined && now >= due ? this.#resolve(true, now) : [];
  }

  #drain(): SeqAction<M>[] {
    const out: SeqAction<M>[] = [];
    for (let m = this.#held.get(this.#expected); m; m = this.#held.get(this.#expected)) {
      this.#held.delete(this.#expected);
      out.push({ kind: 'deliver', msg: m });
      this.#expected = (this.#expected + 1) % MOD;
    }
    if (this.#held.size === 0) this.#heldSince = undefined;
    return out;
  }

  #resolve(requestRebirth: boolean, now: number): SeqAction<M>[] {
    if (this.#held.size === 0) return [];
    const out: SeqAction<M>[] = [];
    const order = [...this.#held.keys()].sort((a, b) => dist(a, this.#expected) - dist(b, this.#expected));
    for (const seq of order) {
      const count = dist(seq, this.#expected);
      if (count > 0) out.push({ kind: 'gap', from: this.#expected, to: (seq + MOD - 1) % MOD, count });
      out.push({ kind: 'deliver', msg: this.#held.get(seq)! });
      this.#expected = (seq + 1) % MOD;
    }
    this.#held.clear();
    this.#heldSince = undefined;
    return requestRebirth ? [...out, ...this.#rebirth('seq_gap', now)] : out;
  }

  #rebirth(reason: 'before_birth' | 'seq_gap', now: number): SeqAction<M>[] {
    if (now - this.#lastRebirth < this.#o.rebirthBackoffMs) return [];
    this.#lastRebirth = now;
    return [{ kind: 'rebirth', reason }];
  }
}

function reject<M>(msg: M, reason: SeqRejectReason, detail: string): SeqAction<M> {
  return { kind: 'reject', msg, reason, detail };
}
