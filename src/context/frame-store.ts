import type { KV } from '@nats-io/kv';
import { decode, encode } from '../../nats/codec.ts';
import { decodeId, encodeId } from '../../nats/ids.ts';
import type { TagStats } from './stats.ts';

/** ISA-88 procedural levels an event frame can stand for. */
export type FrameKind = 'batch' | 'unitProcedure' | 'operation' | 'phase';

/**
 * An event frame: a window of SOURCE time on one unit (DESIGN.md principle 8), `end` absent while it runs.
 * Stored in the frames bucket under `encodeId(id)`.
 */
export interface Frame {
  id: string;
  kind: FrameKind;
  batchId: string;
  unit: string;
  phase?: string;
  unitProcedure?: string;
  operation?: string;
  contextId?: string;
  start: number;
  end?: number;
  /** The message that opened / closed it (stream and sequence), for traceability. */
  openedBy?: string;
  closedBy?: string;
}

/** The aggregates one source contributed to a closed frame, moved out of the source record once final. */
export interface FinalAggregate {
  frame: string;
  src: string;
  end: number;
  tags: Record<string, TagStats>;
  finalisedAt: number;
  /** The messages of this source that fed the frame: epoch → seq ranges (lineage). */
  msgs?: Record<string, [number, number][]>;
}

/** Frames bucket key layout: frames are single tokens, aggregates and tracker cursors are prefixed. */
export const frameKeys = {
  frame: (id: string) => encodeId(id),
  aggregate: (frameId: string, src: string) => `agg.${encodeId(frameId)}.${encodeId(src)}`,
  unitCursor: (unit: string) => `trk.unit.${encodeId(unit)}`,
  phaseCursor: (phase: string) => `trk.phase.${encodeId(phase)}`,
  /** Watch filter that matches frames only. */
  frames: '*',
} as const;

/** Splits an aggregate key into frame id and source; undefined for other keys. */
export function parseAggregateKey(key: string): { frame: string; src: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'agg') return undefined;
  return { frame: decodeId(parts[1]!), src: decodeId(parts[2]!) };
}

/** Reads a stored frame (undefined when absent or deleted). */
export async function getFrame(kv: KV, id: string): Promise<Frame | undefined> {
  const e = await kv.get(frameKeys.frame(id));
  return e && e.operation === 'PUT' && e.value.length > 0 ? (decode(e.value) as Frame) : undefined;
}

/** Stores a frame (idempotent: the same frame gives the same value). */
export async function putFrame(kv: KV, frame: Frame): Promise<number> {
  return kv.put(frameKeys.frame(frame.id), encode(frame));
}

/** Reads every value under keys matching `filter`, in parallel. */
export async function readAll<T>(kv: KV, filter: string): Promise<Map<string, T>> {
  const keys: string[] = [];
  for await (const k of await kv.keys(filter)) keys.push(k);
  const out = new Map<string, T>();
  await Promise.all(
    keys.map(async (k) => {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT' && e.value.length > 0) out.set(k, decode(e.value) as T);
    }),
  );
  return out;
}
