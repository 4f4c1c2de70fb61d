import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import type { Buckets } from '../../nats/streams.ts';
import { frameKeys, parseAggregateKey, readAll } from './frame-store.ts';
import type { FinalAggregate, Frame, FrameKind } from './frame-store.ts';
import type { ClockBook } from './clock.ts';
import type { LiveState } from './heartbeats.ts';
import { highest, missing, type Gap } from './ranges.ts';
import { decodeRecord, normaliseRecord, recordKey, type SourceRecord } from './source-record.ts';
import { view, type TagStats, type TagView } from './stats.ts';

/** A registered edge source as `GET /sources` shows it (CONTRACT.md §2). */
export interface SourceView {
  id: string;
  kind: string;
  epoch: string | null;
  lastSeq: number | null;
  lastSeen: string | null;
  lastSeenMs: number | null;
  lagMs: number | null;
  gaps: { pending: number; lost: number; missing: { pending: number; lost: number }; ranges: Gap[] };
  bufferDepth?: number;
  oldestBufferedAt?: string;
  clockOffsetMs?: number;
  /** Estimated edge clock offset and drift (minimum-delay envelope), and whether it is beyond tolerance. */
  clock?: { offsetMs: number; driftPpm: number; skewed: boolean; since: string | null; points: number };
  duplicates: number;
  collector?: string;
  messages: number;
  samples: number;
  status: 'online' | 'stale' | 'offline' | 'never_seen';
}

/** An event frame with its aggregates as `GET /frames` shows it (CONTRACT.md §2). */
export interface FrameView extends Omit<Frame, 'start' | 'end' | 'openedBy' | 'closedBy'> {
  start: string;
  end?: string;
  startMs: number;
  endMs?: number;
  tags: Record<string, TagView>;
  late: number;
  annotations: FrameAnnotation[];
  /** The telemetry messages that fed the frame, per source and epoch (lineage: `GET /frames/:id/lineage`). */
  messages: { src: string; epoch: string; seqs: [number, number][] }[];
}

/** A note on a frame: its content is never rewritten (DESIGN.md principle 8). */
export interface FrameAnnotation {
  kind: 'clock_skew';
  source: string;
  offsetMs: number;
  from: string;
  to: string;
  fromMs: number;
  toMs: number;
  since: string;
}

/** Query of `GET /frames`: every given field must match. */
export interface FrameFilter {
  batch?: string;
  unit?: string;
  phase?: string;
  kind?: string;
}

/**
 * Every configured source with its sequence position, gaps and liveness: `online` within three heartbeat periods of
 * the last heartbeat or message, `stale` within ten, `offline` beyond (or when the collector reports `down`).
 */
export async function listSources(
  buckets: Buckets,
  config: PlantConfig,
  live: LiveState,
  now = Date.now(),
  clock?: ClockBook,
): Promise<SourceView[]> {
  return Promise.all(
    config.sources.map(async (def) => {
      const e = await buckets.ingest.get(recordKey(def.id));
      const rec = e && e.operation === 'PUT' ? decodeRecord(e.value) : undefined;
      const hb = live.get(def.id);
      const seen = Math.max(hb?.lastHeartbeatAt ?? -Infinity, rec?.lastReceivedAt ?? -Infinity);
      const gaps = rec ? Object.values(rec.epochs).flatMap((ep) => ep.gaps) : [];
      const period = Math.max(def.heartbeatIntervalMs, def.publishIntervalMs);
      const age = now - seen;
      const status: SourceView['status'] = !Number.isFinite(seen)
        ? 'never_seen'
        : hb?.collector === 'down' || age > 10 * period
          ? 'offline'
          : age > 3 * period
            ? 'stale'
            : 'online';
      const epoch = rec?.epoch ?? null;
      const est = clock?.get(def.id, true);
      return {
        id: def.id,
        kind: def.kind,
        epoch,
        lastSeq: epoch && rec ? highest(rec.epochs[epoch]?.ranges ?? []) : null,
        lastSeen: Number.isFinite(seen) ? new Date(seen).toISOString() : null,
        lastSeenMs: Number.isFinite(seen) ? seen : null,
        lagMs: rec?.lagMs ?? null,
        gaps: {
          pending: gaps.filter((g) => g.status === 'pending').length,
          lost: gaps.filter((g) => g.status === 'lost').length,
          missing: { pending: missing(gaps, 'pending'), lost: missing(gaps, 'lost') },
          ranges: gaps,
        },
        ...(hb ? { bufferDepth: hb.bufferDepth, clockOffsetMs: hb.clockOffsetMs, collector: hb.collector } : {}),
        ...(hb?.oldestBufferedAt !== undefined ? { oldestBufferedAt: new Date(hb.oldestBufferedAt).toISOString() } : {}),
        ...(est
          ? {
              clockOffsetMs: est.offsetMs,
              clock: {
                offsetMs: est.offsetMs,
                driftPpm: est.driftPpm,
                skewed: est.skewed,
                since: est.since === null ? null : new Date(est.since).toISOString(),
                points: est.points,
              },
            }
          : {}),
        duplicates: rec?.duplicates ?? 0,
        messages: rec?.messages ?? 0,
        samples: rec?.samples ?? 0,
        status,
      };
    }),
  );
}

/**
 * Event frames matching the filter, each merged with the aggregates every source contributed: open ones from the
 * source records, final ones from `agg.*`. Sorted by start.
 */
export async function listFrames(
  buckets: Buckets,
  filter: FrameFilter = {},
  config?: PlantConfig,
): Promise<FrameView[]> {
  const [frames, records, aggKeys] = await Promise.all([
    readAll<Frame>(buckets.frames, frameKeys.frames),
    readAll<SourceRecord>(buckets.ingest, '*'),
    keysOf(buckets, 'agg.>'),
  ]);
  const matching = [...frames.values()].filter(
    (f) =>
      (!filter.batch || f.batchId === filter.batch) &&
      (!filter.unit || f.unit === filter.unit) &&
      (!filter.phase || f.phase === filter.phase) &&
      (!filter.kind || f.kind === filter.kind),
  );
  const wanted = new Set(matching.map((f) => f.id));
  const finals = new Map<string, FinalAggregate[]>();
  await Promise.all(
    aggKeys.map(async (k) => {
      const parsed = parseAggregateKey(k);
      if (!parsed || !wanted.has(parsed.frame)) return;
      const e = await buckets.frames.get(k);
      if (!e || e.operation !== 'PUT' || e.value.length === 0) return;
      const list = finals.get(parsed.frame) ?? [];
      list.push(decode(e.value) as FinalAggregate);
      finals.set(parsed.frame, list);
    }),
  );
  const recs = [...records.values()].map(normaliseRecord);
  matching.sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
  const feeds = config ? unitSources(config) : undefined;
  return matching.map((f) => frameView(f, recs, finals.get(f.id) ?? [], feeds?.get(f.unit)));
}

/** The sources that publish tags of each unit (or that the unit names). */
export function unitSources(config: PlantConfig): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (unit: string, src: string) => (out.get(unit) ?? out.set(unit, new Set()).get(unit)!).add(src);
  for (const u of config.units) add(u.id, u.source);
  for (const t of config.tags) add(t.unit, t.source);
  return out;
}

function frameView(f: Frame, records: SourceRecord[], finals: FinalAggregate[], feeds?: Set<string>): FrameView {
  const tags: Record<string, TagView> = {};
  const add = (stats: Record<string, TagStats>) => {
    for (const [tag, s] of Object.entries(stats)) tags[tag] = view(s, f.end);
  };
  let late = 0;
  const messages: FrameView['messages'] = [];
  const addMsgs = (src: string, msgs: Record<string, [number, number][]> | undefined) => {
    for (const [epoch, seqs] of Object.entries(msgs ?? {})) messages.push({ src, epoch, seqs });
  };
  const annotations: FrameAnnotation[] = [];
  for (const a of finals) {
    add(a.tags);
    addMsgs(a.src, a.msgs);
  }
  for (const r of records) {
    const open = r.frames[f.id];
    if (open) add(open);
    addMsgs(r.src, r.frameMsgs?.[f.id]);
    late += r.late[f.id] ?? 0;
    if (feeds && !feeds.has(r.src)) continue;
    for (const k of r.skews ?? []) {
      if (k.to < f.start || (f.end !== undefined && k.from >= f.end)) continue;
      const iso = (ms: number) => new Date(ms).toISOString();
      annotations.push({
        kind: 'clock_skew',
        source: r.src,
        offsetMs: k.offsetMs,
        from: iso(k.from),
        to: iso(k.to),
        fromMs: k.from,
        toMs: k.to,
        since: iso(k.since),
      });
    }
  }
  const { openedBy: _o, closedBy: _c, start, end, ...rest } = f;
  return {
    ...rest,
    start: new Date(start).toISOString(),
    startMs: start,
    ...(end !== undefined ? { end: new Date(end).toISOString(), endMs: end } : {}),
    tags,
    late,
    annotations,
    messages,
  };
}

async function keysOf(buckets: Buckets, filter: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await buckets.frames.keys(filter)) out.push(k);
  return out;
}
