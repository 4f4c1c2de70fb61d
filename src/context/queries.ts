import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import type { Buckets } from '../../nats/streams.ts';
import { frameKeys, parseAggregateKey, readAll } from './frame-store.ts';
import type { FinalAggregate, Frame, FrameKind } from './frame-store.ts';
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
  clockOffsetMs?: number;
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
  annotations: unknown[];
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
export async function listFrames(buckets: Buckets, filter: FrameFilter = {}): Promise<FrameView[]> {
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
  return matching.map((f) => frameView(f, recs, finals.get(f.id) ?? []));
}

function frameView(f: Frame, records: SourceRecord[], finals: FinalAggregate[]): FrameView {
  const tags: Record<string, TagView> = {};
  const add = (stats: Record<string, TagStats>) => {
    for (const [tag, s] of Object.entries(stats)) tags[tag] = view(s, f.end);
  };
  let late = 0;
  for (const a of finals) add(a.tags);
  for (const r of records) {
    const open = r.frames[f.id];
    if (open) add(open);
    late += r.late[f.id] ?? 0;
  }
  const { openedBy: _o, closedBy: _c, start, end, ...rest } = f;
  return {
    ...rest,
    start: new Date(start).toISOString(),
    startMs: start,
    ...(end !== undefined ? { end: new Date(end).toISOString(), endMs: end } : {}),
    tags,
    late,
    annotations: [],
  };
}

async function keysOf(buckets: Buckets, filter: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await buckets.frames.keys(filter)) out.push(k);
  return out;
}
