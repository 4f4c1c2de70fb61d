import type { TagDef } from '../../config/plant.schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { OpcuaPosition } from './opcua-position.ts';
import { toSample, type Sample } from './opcua-status.ts';

/**
 * The monitoring step's delivery of samples to the collector, each once (CONTRACT.md §5.1): a re-created monitored item
 * first reports the value already delivered, and while a connection gap is being closed a value may come both from the
 * restored item and from the server's history (IEC 62541-4 §5.10.3 HistoryRead) — it is delivered once either way.
 */
export class SampleDelivery {
  readonly lastGood = new Map<string, Sample['v']>();
  /** Per tag: the latest source time delivered (a restart resumes from the persisted position). */
  readonly delivered: Map<string, number>;
  readonly #previous = new Map<string, Sample>();
  #window: { to: number; seen: Map<string, Set<number>>; before: Map<string, number> } | undefined;
  readonly #o: { src: string; log: Logger; metrics: Metrics; onSample(s: Sample): void };

  constructor(o: { src: string; log: Logger; metrics: Metrics; onSample(s: Sample): void; resumeFrom?: OpcuaPosition }) {
    this.#o = o;
    this.delivered = new Map(Object.entries(o.resumeFrom?.last ?? {}));
  }

  /** Opens a gap window: what was delivered before it is fixed now, before the new items report anything. */
  openGap(): Map<string, number> {
    const before = new Map(this.delivered);
    this.#window = { to: Infinity, seen: new Map(), before };
    return before;
  }

  /** Bounds the open gap window at `to`: values after it are live data again. */
  boundGap(to: number): void {
    const w = this.#window;
    if (!w) return;
    w.to = to;
    for (const seen of w.seen.values()) for (const ts of seen) if (ts > to) seen.delete(ts);
  }

  /** No gap is open (a first connection without a persisted position). */
  noGap(): void {
    this.#window = undefined;
  }

  /** A value reported by a monitored item. */
  onValue(tag: TagDef, dv: Parameters<typeof toSample>[1]): void {
    const { sample, unsupported } = toSample(tag, dv, this.lastGood);
    const p = this.#previous.get(tag.tag);
    // A re-created item first reports the current value: already delivered if its source timestamp has not moved.
    if (p && p.ts === sample.ts && p.v === sample.v && p.q === sample.q) return;
    if (unsupported) {
      this.#o.metrics.inc('phaseline_edge_unsupported_values_total', { src: this.#o.src }, 1, 'Values of an unsupported OPC UA type');
      this.#o.log.warn({ tag: tag.tag, dataType: dv.value?.dataType }, 'unsupported value type: sample kept as bad');
    }
    this.deliver(sample);
  }

  /** Delivers a sample unless the open gap window has it already; true when it was delivered. */
  deliver(s: Sample): boolean {
    const w = this.#window;
    if (w && s.ts <= w.to) {
      const seen = w.seen.get(s.tag) ?? new Set<number>();
      w.seen.set(s.tag, seen);
      // At or before the position reached before the gap: delivered then (a restored item re-sends its last value).
      if (seen.has(s.ts) || s.ts <= (w.before.get(s.tag) ?? -Infinity)) {
        this.#o.metrics.inc('phaseline_edge_opcua_duplicates_total', { src: this.#o.src }, 1, 'Samples both restored live and read from history, delivered once');
        return false;
      }
      seen.add(s.ts);
    }
    this.delivered.set(s.tag, Math.max(this.delivered.get(s.tag) ?? 0, s.ts));
    this.#previous.set(s.tag, s);
    this.#o.onSample(s);
    return true;
  }
}
