import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { KV } from '@nats-io/kv';
import type { TagDef } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { encodeId } from '../../nats/ids.ts';

/**
 * Sample lineage (21 CFR 11.10(e), EU GMP Annex 11 §9, ALCOA+ "original"): every normalised sample can be traced to
 * the telemetry message it came from, its raw value and node id, the conversion applied and the tag-dictionary
 * version that mapped it. Kept compact: one KV entry per (source, epoch, seq bucket, cycle) holds one short record
 * per message; a raw value is stored only when the runtime changed it (scaled tags); node ids, units and scaling
 * come from the dictionary version, stored once under `dict.<hash>`.
 */

/** The part of a tag dictionary entry that maps a raw value to the normalised one. */
export interface DictionaryEntry {
  tag: string;
  source: string;
  unit: string;
  node?: string;
  /** The Sparkplug B address of a tag collected over MQTT (group, node, device, metric), when configured. */
  sparkplug?: unknown;
  engUnit: string;
  rawUnit?: string;
  dataType: TagDef['dataType'];
  scale?: TagDef['scale'];
}

/** A tag dictionary version: the hash of the mapping fields of every tag. */
export interface DictionaryVersion {
  version: string;
  entries: DictionaryEntry[];
}

/** One applied message, as lineage keeps it. */
export interface LineageMessage {
  seq: number;
  /** TELEMETRY stream sequence (the original bytes, while the stream retains them). */
  streamSeq: number;
  msgId?: string;
  /** Edge clock when the message was stamped. */
  sent: number;
  /** Runtime clock when the message was received (the second timestamp). */
  receivedAt: number;
  hist?: true;
  ctx?: Record<string, string>;
  /** Samples in the message, and the range of their source times. */
  n: number;
  tsMin: number;
  tsMax: number;
  /** The tag dictionary version the edge said it mapped with, when it says so. */
  dict?: string;
  /** Estimated clock offset of the source at receipt; `skew` when beyond tolerance. */
  off?: number;
  skew?: true;
  /** Raw values the runtime converted: [tag, source ts, raw value]. */
  conv?: [string, number, number][];
}

/** A lineage block: the messages of one source epoch applied in one ingest cycle within one seq bucket. */
export interface LineageBlock {
  v: 1;
  src: string;
  epoch: string;
  tagDictionaryVersion: string;
  configVersion: string;
  msgs: LineageMessage[];
}

/** Seqs per key bucket: a lookup lists only the blocks of one bucket. */
export const SEQ_BUCKET = 1024;

export const lineageKeys = {
  block: (src: string, epoch: string, firstSeq: number) =>
    `msg.${encodeId(src)}.${encodeId(epoch)}.${Math.floor(firstSeq / SEQ_BUCKET)}.${firstSeq}`,
  bucketFilter: (src: string, epoch: string, seq: number) =>
    `msg.${encodeId(src)}.${encodeId(epoch)}.${Math.floor(seq / SEQ_BUCKET)}.*`,
  dictionary: (version: string) => `dict.${version.replace(/^sha256:/, '')}`,
} as const;

/** The mapping part of the dictionary and its version (`sha256:` of its canonical JSON). */
export function dictionaryVersion(tags: readonly TagDef[]): DictionaryVersion {
  const entries: DictionaryEntry[] = tags.map((t) => ({
    tag: t.tag,
    source: t.source,
    unit: t.unit,
    ...(t.node !== undefined ? { node: t.node } : {}),
    ...((t as { sparkplug?: unknown }).sparkplug !== undefined ? { sparkplug: (t as { sparkplug?: unknown }).sparkplug } : {}),
    engUnit: t.engUnit,
    ...(t.rawUnit !== undefined ? { rawUnit: t.rawUnit } : {}),
    dataType: t.dataType,
    ...(t.scale !== undefined ? { scale: t.scale } : {}),
  }));
  const version = 'sha256:' + createHash('sha256').update(canonicalize(entries) ?? '').digest('hex');
  return { version, entries };
}

/** `v = k × raw + c` for a tag with a `scale`, else undefined. */
export function linear(scale: TagDef['scale']): { k: number; c: number } | undefined {
  if (!scale) return undefined;
  if ('factor' in scale) return { k: scale.factor, c: scale.offset ?? 0 };
  const k = (scale.engHi - scale.engLo) / (scale.rawHi - scale.rawLo);
  return { k, c: scale.engLo - scale.rawLo * k };
}

/** A human-readable description of the conversion of a dictionary entry. */
export function describeConversion(e: DictionaryEntry): Record<string, unknown> | undefined {
  const l = linear(e.scale);
  if (!l || !e.scale) return undefined;
  const kind = 'factor' in e.scale ? 'factor' : 'range';
  return { kind, ...e.scale, formula: `v = ${l.k} × raw + ${l.c}`, ...(e.rawUnit ? { rawUnit: e.rawUnit } : {}), engUnit: e.engUnit };
}

/** Collects a cycle's lineage per (source, epoch, seq bucket) in the pure core; the shell stores it. */
export class LineageCollector {
  readonly #blocks = new Map<string, LineageBlock>();
  readonly #dict: string;
  readonly #config: string;

  constructor(tagDictionaryVersion: string, configVersion: string) {
    this.#dict = tagDictionaryVersion;
    this.#config = configVersion;
  }

  add(src: string, epoch: string, m: LineageMessage): void {
    const key = `${src}\u0000${epoch}\u0000${Math.floor(m.seq / SEQ_BUCKET)}`;
    let b = this.#blocks.get(key);
    if (!b) {
      b = { v: 1, src, epoch, tagDictionaryVersion: this.#dict, configVersion: this.#config, msgs: [] };
      this.#blocks.set(key, b);
    }
    b.msgs.push(m);
  }

  /** Takes the collected blocks (and forgets them). */
  take(): LineageBlock[] {
    const out = [...this.#blocks.values()];
    this.#blocks.clear();
    return out;
  }

  clear(): void {
    this.#blocks.clear();
  }
}

/** Stores blocks (idempotent puts: a retried cycle rewrites the block of the same first seq). */
export function storeBlocks(kv: KV, blocks: LineageBlock[]): Promise<unknown>[] {
  return blocks.map((b) => {
    const first = Math.min(...b.msgs.map((m) => m.seq));
    return kv.put(lineageKeys.block(b.src, b.epoch, first), encode(b));
  });
}

/** Stores the dictionary version once (kept for as long as lineage refers to it). */
export async function storeDictionary(kv: KV, d: DictionaryVersion, configVersion: string): Promise<void> {
  const key = lineageKeys.dictionary(d.version);
  if (await kv.get(key)) return;
  await kv.put(key, encode({ version: d.version, configVersion, entries: d.entries }));
}
