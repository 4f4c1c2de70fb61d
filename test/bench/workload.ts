import { readFile } from 'node:fs/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';

/** One tag of the workload with the way its values evolve (from the demo plant's tag dictionary). */
interface TagGen {
  tag: string;
  value: (n: number) => number | boolean;
}

/** A generator of CONTRACT.md §5.1 telemetry messages for one source: `samples` per message, tags round-robin. */
export interface Workload {
  src: string;
  epoch: string;
  tags: string[];
  /** Samples sent per tag so far (every message built counts, whether published or not). */
  sent: Map<string, number>;
  /**
   * Builds and encodes message `seq`: sample `j` has source time `ts0 + floor(j * stepMs)` (default one millisecond
   * apart; a fractional step packs several samples into one millisecond, never out of order). `sent` = edge clock.
   */
  message(seq: number, ts0: number, stepMs?: number, sent?: number): { data: Uint8Array; msgId: string };
}

/**
 * The workload of one source of the demo plant: every tag it publishes (`line2`: R201.TT01.PV, R201.PT01.PV,
 * PK301.RUN, PK301.COUNT.*), with a temperature and a pressure that oscillate, a running flag and monotonic counters.
 */
export function workload(config: PlantConfig, src: string, epoch: string, samplesPerMessage: number): Workload {
  const gens: TagGen[] = config.tags
    .filter((t) => t.source === src && t.collect !== false)
    .map((t) => ({ tag: t.tag, value: valueOf(t) }));
  if (gens.length === 0) throw new Error(`source ${src} has no tags in the config`);
  const sent = new Map(gens.map((g) => [g.tag, 0]));
  const counts = new Array<number>(gens.length).fill(0);
  return {
    src,
    epoch,
    tags: gens.map((g) => g.tag),
    sent,
    message(seq, ts0, stepMs = 1, at = Date.now()) {
      const samples = new Array(samplesPerMessage);
      for (let j = 0; j < samplesPerMessage; j++) {
        const k = j % gens.length;
        const g = gens[k]!;
        const n = counts[k]!++;
        samples[j] = { tag: g.tag, v: g.value(n), q: 'good', ts: ts0 + (stepMs === 1 ? j : Math.floor(j * stepMs)) };
      }
      for (let k = 0; k < gens.length; k++) sent.set(gens[k]!.tag, counts[k]!);
      const data = encode({ src, epoch, seq, sent: at, samples });
      return { data, msgId: `${src}:${epoch}:${seq}` };
    },
  };
}

function valueOf(t: PlantConfig['tags'][number]): (n: number) => number | boolean {
  if (t.dataType === 'boolean') return (n) => n % 500 !== 499; // stops briefly now and then
  if (t.dataType !== 'number') return () => 0;
  if (t.counter) {
    const per = /REJECT/.test(t.tag) ? 0.02 : /GOOD/.test(t.tag) ? 0.98 : 1;
    return (n) => Math.floor(n * per);
  }
  const lo = t.limits?.lo ?? 0;
  const hi = t.limits?.hi ?? 100;
  const mid = lo + (hi - lo) * 0.45;
  const amp = (hi - lo) * 0.1;
  return (n) => Math.round((mid + amp * Math.sin(n / 500) + (amp / 20) * Math.sin(n * 1.7)) * 1000) / 1000;
}

/** Outcome of a windowed publish run. */
export interface PublishRun {
  messages: number;
  ms: number;
  duplicates: number;
}

/**
 * Publishes `count` messages with `js.publish` (header `Nats-Msg-Id`), at most `window` awaiting their ack at a
 * time, and resolves once every ack is in. `onPublish` sees each ack (stream sequence) with the publish start time.
 */
export async function publishWindowed(
  js: JetStreamClient,
  subject: string,
  count: number,
  window: number,
  build: (i: number) => { data: Uint8Array; msgId: string },
): Promise<PublishRun> {
  let inflight = 0;
  let duplicates = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const settle = () => {
    inflight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    while (inflight >= window) await new Promise<void>((r) => (wake = r));
    if (failure) throw failure;
    const { data, msgId } = build(i);
    inflight++;
    js.publish(subject, data, { msgID: msgId }).then(
      (ack) => {
        if (ack.duplicate) duplicates++;
        settle();
      },
      (err: Error) => {
        failure ??= err;
        settle();
      },
    );
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r));
  if (failure) throw failure;
  return { messages: count, ms: performance.now() - t0, duplicates };
}

/** The `p`-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

/** CPU seconds used so far by this process and by another process (Linux `/proc/<pid>/stat`, else null). */
export interface CpuSnap {
  wall: number;
  self: number;
  other: number | null;
}

export async function cpuSnap(pid: number): Promise<CpuSnap> {
  const u = process.cpuUsage();
  let other: number | null = null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
    other = (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    other = null;
  }
  return { wall: performance.now(), self: (u.user + u.system) / 1e6, other };
}

/** CPU used between two snapshots, as seconds and as a share of one core over the wall time. */
export function cpuBetween(a: CpuSnap, b: CpuSnap) {
  const wall = (b.wall - a.wall) / 1000;
  const self = b.self - a.self;
  const other = a.other === null || b.other === null ? null : b.other - a.other;
  return { wallS: wall, nodeCpuS: self, natsCpuS: other, nodeCores: self / wall, natsCores: other === null ? null : other / wall };
}
