import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import type { AuditRequest } from '../../actors/envelope.ts';
import { decode, encode } from '../../nats/codec.ts';
import { AuditRequestSchema } from '../../nats/audit.schema.ts';
import { subjects } from '../../nats/subjects.ts';
import { resetOrderedConsumer } from '../../nats/consumers.ts';
import { chainEntry, type ChainHead } from './audit-chain.ts';

/** KV key (actors bucket) of the writer's position record: actor type `audit`, id `writer`. */
export const WRITER_KV_KEY = 'audit.writer';

/** The writer's position, persisted per batch; the AUDIT tail is the authority when it is ahead (21 CFR 11.10(c)). */
export interface WriterPosition {
  /** The INBOX incarnation (nats/stream-identity.ts) that `lastInboxSeq` refers to. */
  inboxIncarnation?: string;
  /** Written before incarnations existed (INBOX's reported creation time): read only to upgrade the record. */
  inboxCreated?: string;
  /** Highest INBOX sequence applied (chained, dead-lettered or skipped as a duplicate). */
  lastInboxSeq: number;
  /** Highest AUDIT stream sequence examined (ours or foreign). */
  auditSeq: number;
  head: ChainHead | null;
  sinceCheckpoint: number;
  lastCheckpointAt: number;
  /** AUDIT sequence up to which every chained request id is in the id index (src/records/audit-ids.ts). */
  idsUpTo?: number;
  /** Ids chained (or adopted from the tail) since they were last handed to the id index; not persisted. */
  chained: string[];
}

/** A fresh position for an empty trail. */
export function genesisPosition(inboxIncarnation: string, now: number): WriterPosition {
  return {
    inboxIncarnation,
    lastInboxSeq: 0,
    auditSeq: 0,
    head: null,
    sinceCheckpoint: 0,
    lastCheckpointAt: now,
    idsUpTo: 0,
    chained: [],
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
  // Records written before the id index held a bounded `dedupe` memory: it is dropped, the index is rebuilt instead.
  const { dedupe: _old, writer, ...r } = decode(e.value) as Omit<WriterPosition, 'chained'> & { dedupe?: unknown; writer: string };
  return { position: { ...r, chained: [] }, revision: e.revision, writer };
}

/** Compare-and-set of the writer's record; throws when another writer wrote it since (DESIGN.md principle 4). */
export async function savePosition(kv: KV, p: WriterPosition, revision: number, writer: string): Promise<number> {
  const { chained: _transient, ...kept } = p;
  const data = encode({ ...kept, writer });
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
  const parsed = AuditRequestSchema.safeParse(raw);
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
