import type { JetStreamManager } from '@nats-io/jetstream';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import type { Buckets } from '../../nats/streams.ts';
import { MSG_ID } from '../../nats/subjects.ts';
import { frameKeys, getFrame, type FinalAggregate } from './frame-store.ts';
import {
  describeConversion,
  lineageKeys,
  SEQ_BUCKET,
  type DictionaryEntry,
  type LineageBlock,
  type LineageMessage,
} from './lineage.ts';
import { hasSeq, type Range } from './ranges.ts';
import { decodeRecord, recordKey } from './source-record.ts';
import type { Sample } from '../../nats/telemetry.schema.ts';

/** The chain of one sample: the value in the record back to the raw value in the message it came from. */
export interface SampleLineage {
  tag: string;
  ts: number;
  tsIso: string;
  /** The normalised value (what frames aggregate); absent when the original message is no longer retained. */
  v?: Sample['v'];
  q?: Sample['q'];
  /** The value as the edge sent it, and where it read it. */
  raw: { v?: Sample['v']; node: string | null; sparkplug?: unknown; unit: string | null };
  engUnit: string | null;
  /** The conversion applied by the runtime (null: none, the raw value is the value). */
  conversion: Record<string, unknown> | null;
  tagDictionaryVersion: string;
  configVersion: string;
  /** The dictionary entry of that version (null when the version is not stored). */
  dictionaryEntry: DictionaryEntry | null;
  message: {
    msgId: string | null;
    src: string;
    epoch: string;
    seq: number;
    streamSeq: number;
    sent: number;
    sentIso: string;
    receivedAt: number;
    receivedAtIso: string;
    hist: boolean;
    ctx?: Record<string, string>;
    samples: number;
    /** The tag dictionary version the edge said it used, when it said so. */
    edgeDictionaryVersion?: string;
    /** `retained` while TELEMETRY still holds the original bytes, `expired` after. */
    original: 'retained' | 'expired';
  };
  clock: { offsetMs: number | null; skewed: boolean };
}

type Store = { buckets: Buckets; jsm: JetStreamManager; config: PlantConfig };

/** The lineage record of message (src, epoch, seq), with the block it is in; undefined when none is stored. */
export async function findMessage(
  s: Store,
  src: string,
  epoch: string,
  seq: number,
): Promise<{ block: LineageBlock; msg: LineageMessage } | undefined> {
  const keys: string[] = [];
  for await (const k of await s.buckets.lineage.keys(lineageKeys.bucketFilter(src, epoch, seq))) keys.push(k);
  const firsts = keys.map((k) => [k, Number(k.slice(k.lastIndexOf('.') + 1))] as const).filter(([, f]) => f <= seq);
  firsts.sort((a, b) => b[1] - a[1]);
  for (const [k] of firsts) {
    const e = await s.buckets.lineage.get(k);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
    const block = decode(e.value) as LineageBlock;
    const msg = block.msgs.find((m) => m.seq === seq);
    if (msg) return { block, msg };
  }
  return undefined;
}

const dictCache = new Map<string, Map<string, DictionaryEntry>>();

async function dictionary(s: Store, version: string): Promise<Map<string, DictionaryEntry> | undefined> {
  const hit = dictCache.get(version);
  if (hit) return hit;
  const e = await s.buckets.lineage.get(lineageKeys.dictionary(version));
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
  const d = decode(e.value) as { entries: DictionaryEntry[] };
  const map = new Map(d.entries.map((x) => [x.tag, x]));
  dictCache.set(version, map);
  return map;
}

/** The original message bytes from TELEMETRY, when still retained and still the same message. */
async function original(s: Store, block: LineageBlock, msg: LineageMessage): Promise<{ samples: Sample[] } | undefined> {
  try {
    const m = await s.jsm.streams.getMessage('TELEMETRY', { seq: msg.streamSeq });
    if (!m) return undefined;
    const id = m.header?.get(MSG_ID);
    const body = decode(m.data) as { src?: string; epoch?: string; seq?: number; samples?: Sample[] };
    if (body.src !== block.src || body.epoch !== block.epoch || body.seq !== msg.seq) return undefined;
    if (msg.msgId && id && id !== msg.msgId) return undefined;
    return { samples: body.samples ?? [] };
  } catch {
    return undefined; // expired, purged or a recreated stream
  }
}

/** Every sample of `tag` (at `ts` when given) in message (src, epoch, seq), with its full chain. */
export async function messageLineage(
  s: Store,
  src: string,
  epoch: string,
  seq: number,
  tag?: string,
  ts?: number,
): Promise<{ message: SampleLineage['message']; samples: SampleLineage[] } | undefined> {
  const found = await findMessage(s, src, epoch, seq);
  if (!found) return undefined;
  const { block, msg } = found;
  const dict = await dictionary(s, block.tagDictionaryVersion);
  const orig = await original(s, block, msg);
  const message: SampleLineage['message'] = {
    msgId: msg.msgId ?? null,
    src: block.src,
    epoch: block.epoch,
    seq: msg.seq,
    streamSeq: msg.streamSeq,
    sent: msg.sent,
    sentIso: new Date(msg.sent).toISOString(),
    receivedAt: msg.receivedAt,
    receivedAtIso: new Date(msg.receivedAt).toISOString(),
    hist: msg.hist === true,
    ...(msg.ctx ? { ctx: msg.ctx } : {}),
    samples: msg.n,
    ...(msg.dict ? { edgeDictionaryVersion: msg.dict } : {}),
    original: orig ? 'retained' : 'expired',
  };
  const rawOf = new Map<string, number>();
  for (const [t, at, raw] of msg.conv ?? []) rawOf.set(`${t}\u0000${at}`, raw);
  const chain = (t: string, at: number, sample?: Sample): SampleLineage => {
    const entry = dict?.get(t);
    const conv = entry ? describeConversion(entry) : undefined;
    const raw = rawOf.get(`${t}\u0000${at}`);
    const converted = raw !== undefined;
    return {
      tag: t,
      ts: at,
      tsIso: new Date(at).toISOString(),
      // the stored message holds the raw value; the normalised one is recomputed by the recorded conversion
      ...(sample ? { v: converted ? normalised(entry, raw) : sample.v, q: sample.q } : {}),
      raw: { ...(converted ? { v: raw } : sample ? { v: sample.v } : {}), node: entry?.node ?? null, ...(entry?.sparkplug !== undefined ? { sparkplug: entry.sparkplug } : {}), unit: entry?.rawUnit ?? entry?.engUnit ?? null },
      engUnit: entry?.engUnit ?? null,
      conversion: converted && conv ? conv : null,
      tagDictionaryVersion: block.tagDictionaryVersion,
      configVersion: block.configVersion,
      dictionaryEntry: entry ?? null,
      message,
      clock: { offsetMs: msg.off ?? null, skewed: msg.skew === true },
    };
  };
  const samples: SampleLineage[] = [];
  if (orig) {
    for (const x of orig.samples) {
      if ((tag === undefined || x.tag === tag) && (ts === undefined || x.ts === ts)) samples.push(chain(x.tag, x.ts, x));
    }
  } else {
    for (const [t, at] of msg.conv ?? []) {
      if ((tag === undefined || t === tag) && (ts === undefined || at === ts)) samples.push(chain(t, at));
    }
  }
  return { message, samples };
}

function normalised(entry: DictionaryEntry | undefined, raw: number): number {
  const scale = entry?.scale;
  if (!scale) return raw;
  if ('factor' in scale) return raw * scale.factor + (scale.offset ?? 0);
  return scale.engLo + ((raw - scale.rawLo) * (scale.engHi - scale.engLo)) / (scale.rawHi - scale.rawLo);
}

/** The messages that fed `frameId` from `src`: epoch → seq ranges (open aggregates and final ones). */
async function frameMessages(s: Store, frameId: string, src: string): Promise<Record<string, Range[]>> {
  const out: Record<string, Range[]> = {};
  const merge = (m: Record<string, Range[]> | undefined) => {
    for (const [ep, r] of Object.entries(m ?? {})) (out[ep] ??= []).push(...r);
  };
  const rec = decodeRecord((await s.buckets.ingest.get(recordKey(src)))?.value);
  merge(rec?.frameMsgs?.[frameId]);
  const agg = await s.buckets.frames.get(frameKeys.aggregate(frameId, src));
  if (agg && agg.operation === 'PUT' && agg.value.length > 0) merge((decode(agg.value) as FinalAggregate).msgs);
  for (const ep of Object.keys(out)) {
    const sorted = out[ep]!.sort((a, b) => a[0] - b[0]);
    const merged: Range[] = [];
    for (const [lo, hi] of sorted) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    out[ep] = merged;
  }
  return out;
}

/**
 * The lineage of the sample(s) of `tag` at source time `ts` counted in frame `frameId`: the frame's messages from the
 * tag's source are narrowed by their recorded source-time span, then each candidate's original is searched.
 * Undefined when the frame or tag is unknown.
 */
export async function frameLineage(
  s: Store,
  frameId: string,
  tag: string,
  ts: number,
): Promise<{ frame: string; tag: string; ts: number; samples: SampleLineage[] } | undefined> {
  const frame = await getFrame(s.buckets.frames, frameId);
  const def = s.config.tags.find((t) => t.tag === tag);
  if (!frame || !def) return undefined;
  const out: SampleLineage[] = [];
  const msgs = await frameMessages(s, frameId, def.source);
  for (const [epoch, ranges] of Object.entries(msgs)) {
    const buckets = new Set<number>();
    for (const [lo, hi] of ranges) for (let b = Math.floor(lo / SEQ_BUCKET); b <= Math.floor(hi / SEQ_BUCKET); b++) buckets.add(b);
    for (const b of [...buckets].sort((x, y) => x - y)) {
      for await (const k of await s.buckets.lineage.keys(lineageKeys.bucketFilter(def.source, epoch, b * SEQ_BUCKET))) {
        const e = await s.buckets.lineage.get(k);
        if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
        const block = decode(e.value) as LineageBlock;
        for (const m of block.msgs) {
          if (m.n === 0 || ts < m.tsMin || ts > m.tsMax || !hasSeq(ranges, m.seq)) continue;
          const hit = await messageLineage(s, def.source, epoch, m.seq, tag, ts);
          for (const x of hit?.samples ?? []) {
            if (!out.some((y) => y.message.epoch === x.message.epoch && y.message.seq === x.message.seq && y.ts === x.ts)) out.push(x);
          }
        }
      }
    }
  }
  return { frame: frameId, tag, ts, samples: out };
}
