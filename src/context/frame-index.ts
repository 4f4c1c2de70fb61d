import type { Frame } from './frame-store.ts';

/** What an update did to the index. */
export type FrameChange = { type: 'opened' | 'closed' | 'moved'; frame: Frame; previous?: Frame };

interface Hit {
  from: number;
  to: number;
  frames: Frame[];
}

/**
 * The event frames of every unit, in memory, fed by a watch on the frames bucket. `at(unit, ts)` answers which
 * frames enclose a source timestamp (`start <= ts < end`, open end = still running); the answer is cached for the
 * whole interval in which it cannot change, so in-order telemetry costs one comparison per sample.
 */
export class FrameIndex {
  readonly #byId = new Map<string, Frame>();
  readonly #byUnit = new Map<string, Frame[]>();
  readonly #hits = new Map<string, Hit>();
  /** `<frameId>\u0000<src>` for frames whose aggregates of that source were finalised (moved to `agg.*`). */
  readonly #final = new Set<string>();

  get(id: string): Frame | undefined {
    return this.#byId.get(id);
  }

  /** Adds or updates a frame; returns what changed for the aggregates (a new frame, or a newly known end). */
  upsert(frame: Frame): FrameChange | undefined {
    const previous = this.#byId.get(frame.id);
    if (previous && previous.start === frame.start && previous.end === frame.end) return undefined;
    this.#byId.set(frame.id, frame);
    let list = this.#byUnit.get(frame.unit);
    if (!list) this.#byUnit.set(frame.unit, (list = []));
    if (previous) list[list.indexOf(previous)] = frame;
    else list.push(frame);
    this.#hits.delete(frame.unit);
    if (!previous) return { type: 'opened', frame };
    if (previous.end === undefined && frame.end !== undefined) return { type: 'closed', frame, previous };
    return { type: 'moved', frame, previous }; // start or end rewritten: not expected from the tracker
  }

  /** Frames of `unit` enclosing source time `ts`. The returned array must not be modified. */
  at(unit: string, ts: number): readonly Frame[] {
    const hit = this.#hits.get(unit);
    if (hit && ts >= hit.from && ts < hit.to) return hit.frames;
    const list = this.#byUnit.get(unit);
    if (!list) return NONE;
    let from = -Infinity;
    let to = Infinity;
    const frames: Frame[] = [];
    for (const f of list) {
      const end = f.end ?? Infinity;
      if (f.start <= ts && ts < end) frames.push(f);
      for (const b of [f.start, end]) {
        if (b <= ts && b > from) from = b;
        if (b > ts && b < to) to = b;
      }
    }
    this.#hits.set(unit, { from, to, frames });
    return frames;
  }

  /** Number of frames without an end. */
  openCount(): number {
    let n = 0;
    for (const f of this.#byId.values()) if (f.end === undefined) n++;
    return n;
  }

  markFinal(frameId: string, src: string): void {
    this.#final.add(`${frameId}\u0000${src}`);
  }

  isFinal(frameId: string, src: string): boolean {
    return this.#final.has(`${frameId}\u0000${src}`);
  }
}

const NONE: readonly Frame[] = Object.freeze([]);
