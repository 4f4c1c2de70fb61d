import { DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { decode } from '../../nats/codec.ts';
import { PhaselineError } from '../errors.ts';
import {
  ChainVerifier,
  isEntry,
  type AuditEntry,
  type ChainFault,
  type PublicKeys,
  type VerifyResult,
} from './audit-chain.ts';

/** Filters of `GET /audit`; `from`/`to` bound `at` (inclusive), as ISO strings or epoch milliseconds. */
export interface AuditQuery {
  target?: string;
  from?: string | number;
  to?: string | number;
  /** Default 1000, at most 10 000. */
  limit?: number;
  /** Only entries with a higher `seq` (paging). */
  afterSeq?: number;
}

/** The result of `GET /audit/verify`; `firstBad.streamSeq` locates the offending message in the AUDIT stream. */
export interface AuditVerifyResult extends VerifyResult {
  firstBad?: { seq: number; reason: ChainFault; streamSeq: number };
}

const MAX_LIMIT = 10_000;

/** Reads audit entries in order, filtered by target and time (21 CFR 11.10(e) audit trail; EU GMP Annex 11 §9). */
export async function readAudit(jsm: JetStreamManager, query: AuditQuery = {}): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? 1000), 1), MAX_LIMIT);
  const from = toMillis(query.from, 'from') ?? -Infinity;
  const to = toMillis(query.to, 'to') ?? Infinity;
  const afterSeq = query.afterSeq ?? 0;
  const out: AuditEntry[] = [];
  // An entry's stream sequence is never below its chain seq (foreign messages only push it up), so start there.
  for await (const { value } of walkAudit(jsm, afterSeq + 1)) {
    if (!isEntry(value) || value.seq <= afterSeq) continue;
    if (query.target !== undefined && value.target !== query.target) continue;
    if (typeof value.at !== 'number' || value.at < from || value.at > to) continue;
    out.push(value);
    if (out.length >= limit) break;
  }
  return out;
}

/** Walks the whole AUDIT stream and checks the chain and every signed checkpoint (21 CFR 11.10(c), 11.10(a)). */
export async function verifyAudit(jsm: JetStreamManager, publicKeys: PublicKeys): Promise<AuditVerifyResult> {
  const verifier = new ChainVerifier(publicKeys);
  for await (const { streamSeq, value } of walkAudit(jsm, 1)) {
    if (verifier.push(value)) continue;
    const result = verifier.result();
    return { ...result, firstBad: { ...result.firstBad!, streamSeq } };
  }
  return verifier.result() as AuditVerifyResult;
}

/** Every AUDIT message from `startSeq` to the last at call time, in order (21 CFR 11.10(c) ready retrieval). */
export async function* walkAudit(
  jsm: JetStreamManager,
  startSeq: number,
): AsyncGenerator<{ streamSeq: number; value: unknown }> {
  const last = (await jsm.streams.info('AUDIT')).state.last_seq;
  if (last < startSeq) return;
  const consumer = await jsm
    .jetstream()
    .consumers.get('AUDIT', { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq });
  const messages = await consumer.consume({ max_messages: 512 });
  try {
    for await (const m of messages) {
      yield { streamSeq: m.seq, value: safeDecode(m.data) };
      if (m.seq >= last) break;
    }
  } finally {
    messages.stop();
  }
}

function toMillis(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new PhaselineError('ERR_HTTP_INVALID_REQUEST', `${field} is neither an ISO date nor epoch milliseconds`, {
      fields: [field],
    });
  }
  return ms;
}

function safeDecode(data: Uint8Array): unknown {
  try {
    return decode(data);
  } catch {
    return undefined;
  }
}
