import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import type { AuditRequest } from '../../actors/envelope.ts';
import { decode, encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { resetOrderedConsumer } from '../../nats/consumers.ts';
import { chainEntry, type ChainHead } from './audit-chain.ts';

/** KV key (actors bucket) of the writer's position record: actor type `audit`, id `writer`. */
export const WRITER_KV_KEY = 'audit.writer';

/** Limits of the persisted producer-id memory. */
export interface DedupeLimits {
  /** Producers (`<id>:<seq>:<n>` prefixes) remembered with their highest applied position. */
  producers: number;
  /** Other message ids remembered, least recently applied first out. */
  recent: number;
}

/** Serialisable form of {@link ProducerDedupe}. */
export interface DedupeState {
  /** `[producer, seq, n]`, least recently applied first (an array keeps the order and any producer name safe). */
  producers: [string, number, number][];
  recent: string[];
}

const MONOTONIC_ID = /^(.+):(\d{1,15}):(\d{1,15})$/;

/**
 * Applied-once memory for producer message ids beyond JetStream's duplicate window (21 CFR 11.10(e): an entry is
 * recorded once). Ids of the form `<producer>:<seq>:<n>` (the outbox ids of DESIGN.md principle 3) are monotonic per
 * producer, so the highest `(seq, n)` per producer is enough; any other id is kept in a bounded LRU set.
 */
export class ProducerDedupe {
  readonly #producers = new Map<string, [number, number]>();
  readonly #recent = new Map<string, true>();
  readonly #limits: DedupeLimits;

  constructor(state?: DedupeState, limits: DedupeLimits = { producers: 4096, recent: 4096 }) {
    this.#limits = limits;
    for (const [p, seq, n] of state?.producers ?? []) this.#producers.set(p, [seq, n]);
    for (const id of state?.recent ?? []) this.#recent.set(id, true);
  }

  /** True when this id (or a later one of the same producer) was applied already. */
  seen(msgId: string): boolean {
    const m = MONOTONIC_ID.exec(msgId);
    if (!m) return this.#recent.has(msgId);
    const top = this.#producers.get(m[1]!);
    return !!top && compare([Number(m[2]), Number(m[3])], top) <= 0;
  }

  /** Remembers an applied id. */
  record(msgId: string): void {
    const m = MONOTONIC_ID.exec(msgId);
    if (!m) return touch(this.#recent, msgId, true, this.#limits.recent);
    const pos: [number, number] = [Number(m[2]), Number(m[3])];
    const top = this.#producers.get(m[1]!);
    touch(this.#producers, m[1]!, top && compare(pos, top) < 0 ? top : pos, this.#limits.producers);
  }

  toJSON(): DedupeState {
    return { producers: [...this.#producers].map(([p, [seq, n]]) => [p, seq, n]), recent: [...this.#recent.keys()] };
  }
}

/** The writer's position, persisted per batch; the AUDIT tail is the authority when it is ahead (21 CFR 11.10(c)). */
export interface WriterPosition {
  /** INBOX stream creation time: a recreated INBOX restarts its sequence numbers. */
  inboxCreated: string;
  /** Highest INBOX sequence applied (chained, dead-lettered or skipped as a duplicate). */
  lastInboxSeq: number;
  /** Highest AUDIT stream sequence examined (ours or foreign). */
  auditSeq: number;
  head: ChainHead | null;
  sinceCheckpoint: number;
  lastCheckpointAt: number;
  dedupe: ProducerDedupe;
}

/** A fresh position for an empty trail. */
export function genesisPosition(inboxCreated: string, now: number): WriterPosition {
  return {
    inboxCreated,
    lastInboxSeq: 0,
    auditSeq: 0,
    head: null,
    sinceCheckpoint: 0,
    lastCheckpointAt: now,
    dedupe: new ProducerDedupe(),
  };
}

/** The stored record and its KV revision (0 when absent). */
export interface StoredPosition {
  position: WriterPosition | null;
  revision: number;
  writer?: string;
}

/** Reads the writer's record from KV (21 CFR 11.10(c): the trail resumes intact after a restart). */
export async function loadPosition(kv: KV): Promise<StoredPosition> {
  const e = await kv.get(WRITER_KV_KEY);
  if (!e || e.operation !== 'PUT') return { position: null, revision: e?.revision ?? 0 };
  const r = decode(e.value) as Omit<WriterPosition, 'dedupe'> & { dedupe: DedupeState; writer: string };
  return { position: { ...r, dedupe: new ProducerDedupe(r.dedupe) }, revision: e.revision, writer: r.writer };
}

/** Compare-and-set of the writer's record; throws when another writer wrote it since (DESIGN.md principle 4). */
export async function savePosition(kv: KV, p: WriterPosition, revision: number, writer: string): Promise<number> {
  const data = encode({ ...p, dedupe: p.dedupe.toJSON(), writer });
  return revision === 0 ? kv.create(WRITER_KV_KEY, data) : kv.update(WRITER_KV_KEY, data, revision);
}

/** Another writer holds the position record (DESIGN.md principle 4: a writer that loses a CAS gives up). */
export class LostOwnershipError extends Error {
  constructor(other: string | undefined, options?: { cause?: unknown }) {
    super(`the audit writer record is held by ${other ?? 'another writer'}`, options);
    this.name = 'LostOwnershipError';
  }
}

/** {@link savePosition} that tells our own lost acknowledgement apart from another writer's claim. */
export async function savePositionOwned(kv: KV, p: WriterPosition, revision: number, writer: string): Promise<number> {
  try {
    return await savePosition(kv, p, revision, writer);
  } catch (err) {
    if (!isWrongLastSequence(err)) throw err;
    const now = await loadPosition(kv);
    if (now.writer !== writer) throw new LostOwnershipError(now.writer, { cause: err });
    return savePosition(kv, p, now.revision, writer);
  }
}

/** True for JetStream's answer to a failed expected-sequence check (publish or KV compare-and-set). */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10071;
}

/** (Re)creates the writer's durable pull consumer at `startSeq`, keeping the inbox strictly in order. */
export function resetAuditConsumer(jsm: JetStreamManager, name: string, startSeq: number, batch: number) {
  return resetOrderedConsumer(jsm, { stream: 'INBOX', durable: name, filter: subjects.auditInbox, maxAckPending: batch }, Math.max(1, startSeq));
}

const RequestSchema = z.strictObject({
  at: z.number().finite(),
  who: z.string().min(1),
  action: z.string().min(1),
  target: z.string().min(1),
  reason: z.string().optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  configVersion: z.string().optional(),
  ref: z.string().optional(),
});

/** A request that passed, or why it did not (`malformed`: not MessagePack; `invalid`: wrong shape). */
export type ParsedRequest = { ok: true; request: AuditRequest } | { ok: false; reason: string; detail: string };

/** Decodes and validates an audit request (EU GMP Annex 11 §5: built-in checks on data exchanged electronically). */
export function parseRequest(data: Uint8Array): ParsedRequest {
  let raw: unknown;
  try {
    raw = decode(data);
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `not MessagePack: ${(err as Error).message}` };
  }
  const parsed = RequestSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'invalid', detail: z.prettifyError(parsed.error) };
  if (parsed.data.action.startsWith('audit.')) {
    return { ok: false, reason: 'invalid', detail: `action ${parsed.data.action}: the audit. prefix is reserved` };
  }
  try {
    chainEntry(null, parsed.data as AuditRequest, 0); // must have a canonical JSON form (no lone surrogates, …)
  } catch (err) {
    return { ok: false, reason: 'invalid', detail: `not representable as canonical JSON: ${(err as Error).message}` };
  }
  return { ok: true, request: parsed.data as AuditRequest };
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

function touch<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) map.delete(map.keys().next().value!);
}
