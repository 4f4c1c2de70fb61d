import type { JetStreamManager } from '@nats-io/jetstream';
import { decode } from '../../nats/codec.ts';
import { MSG_ID, subjects } from '../../nats/subjects.ts';
import { PhaselineError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  CHECKPOINT_ACTION,
  ChainVerifier,
  chainEntry,
  isEntry,
  type AuditEntry,
  type PublicKeys,
} from './audit-chain.ts';
import { parseRequest, type WriterPosition } from './audit-state.ts';

/** How a message found on the AUDIT tail was judged. */
export type TailVerdict = 'attempted' | 'reproduced' | 'foreign';

/** One message on the tail that this writer incarnation did not just publish. */
export interface TailFinding {
  streamSeq: number;
  verdict: Exclude<TailVerdict, 'attempted'>;
  /** Why a foreign message was not adopted. */
  reason?: string;
}

/** What reconciling the tail found. */
export interface TailOutcome {
  adopted: number;
  /** INBOX sequences whose entries were adopted. */
  adoptedInbox: Set<number>;
  findings: TailFinding[];
}

/**
 * Moves the writer's position over every AUDIT message after `position.auditSeq`, adopting only entries that are this
 * writer's own (the `attempted` one, or one that reproduces exactly from its INBOX request, or a checkpoint signed by a
 * known key) and skipping anything else as foreign (21 CFR 11.10(c) protection of records).
 */
export async function reconcileTail(
  jsm: JetStreamManager,
  position: WriterPosition,
  keys: PublicKeys,
  attempted?: AuditEntry,
): Promise<TailOutcome> {
  const last = (await jsm.streams.info('AUDIT')).state.last_seq;
  if (last < position.auditSeq) {
    throw new PhaselineError('ERR_AUDIT_CHAIN_BROKEN', 'the AUDIT stream is behind the audit writer record', {
      streamLastSeq: last,
      recordAuditSeq: position.auditSeq,
    });
  }
  const outcome: TailOutcome = { adopted: 0, adoptedInbox: new Set(), findings: [] };
  for (let seq = position.auditSeq + 1; seq <= last; seq++) {
    const stored = await jsm.direct.getMessage('AUDIT', { seq });
    const entry = stored ? safeDecode(stored.data) : undefined;
    const judged = await judge(jsm, position, keys, entry, attempted);
    if (judged.verdict !== 'foreign') {
      applyEntry(position, entry as AuditEntry);
      outcome.adopted++;
      if ((entry as AuditEntry).src) outcome.adoptedInbox.add((entry as AuditEntry).src!.inboxSeq);
    }
    if (judged.verdict !== 'attempted') outcome.findings.push({ streamSeq: seq, ...judged } as TailFinding);
    position.auditSeq = seq;
  }
  return outcome;
}

/**
 * Logs and counts what the tail held besides this writer's own publishes as the security event `audit_foreign_entry`
 * (DESIGN.md principle 11; 21 CFR 11.300(d)); true when valid entries show another live writer.
 */
export function reportTail(tail: TailOutcome, running: boolean, metrics: Metrics, log: Logger): boolean {
  for (const f of tail.findings) {
    if (f.verdict === 'reproduced' && !running) continue; // our previous incarnation's, not yet in its record
    metrics.inc('phaseline_security_events_total', { event: 'audit_foreign_entry' }, 1, 'Security events, by kind');
    log.error({ event: 'audit_foreign_entry', ...f }, 'an audit entry this writer did not write appeared');
  }
  if (tail.adopted) log.info({ adopted: tail.adopted }, 'adopted audit tail entries');
  return running && tail.findings.some((f) => f.verdict === 'reproduced');
}

/** Advances the position over an entry now on the trail, ours or adopted (21 CFR 11.10(e): each entry once). */
export function applyEntry(position: WriterPosition, entry: AuditEntry): void {
  position.head = { seq: entry.seq, hash: entry.hash };
  if (entry.action === CHECKPOINT_ACTION) {
    position.sinceCheckpoint = 0;
    position.lastCheckpointAt = entry.recordedAt;
    return;
  }
  position.sinceCheckpoint++;
  if (!entry.src) return;
  position.lastInboxSeq = Math.max(position.lastInboxSeq, entry.src.inboxSeq);
  if (entry.src.msgId !== undefined) position.chained.push(entry.src.msgId);
}

async function judge(
  jsm: JetStreamManager,
  position: WriterPosition,
  keys: PublicKeys,
  entry: unknown,
  attempted?: AuditEntry,
): Promise<{ verdict: TailVerdict; reason?: string }> {
  // Links, hash and (for checkpoints) the signature, exactly as a verifier would see them.
  const verifier = new ChainVerifier(keys, position.head ?? undefined);
  if (!verifier.push(entry)) return { verdict: 'foreign', reason: verifier.result().firstBad!.reason };
  const e = entry as AuditEntry;
  if (attempted && e.hash === attempted.hash) return { verdict: 'attempted' };
  if (e.action === CHECKPOINT_ACTION) return { verdict: 'reproduced' };
  const reason = await reproduceFault(jsm, position, e);
  return reason ? { verdict: 'foreign', reason } : { verdict: 'reproduced' };
}

/** Rebuilds the entry from the INBOX request it claims to come from; any difference makes it foreign. */
async function reproduceFault(jsm: JetStreamManager, position: WriterPosition, e: AuditEntry): Promise<string | null> {
  const inboxSeq = e.src?.inboxSeq;
  if (!Number.isSafeInteger(inboxSeq)) return 'no_source';
  if (inboxSeq! <= position.lastInboxSeq) return 'source_already_applied';
  const req = await jsm.direct.getMessage('INBOX', { seq: inboxSeq! });
  if (!req || req.subject !== subjects.auditInbox) return 'source_missing';
  const parsed = parseRequest(req.data);
  if (!parsed.ok) return 'source_invalid';
  const msgId = req.header?.get(MSG_ID) || undefined;
  if (msgId !== e.src!.msgId) return 'source_mismatch';
  const again = chainEntry(position.head, parsed.request, e.recordedAt, { ...e.src!, inboxSeq: inboxSeq!, msgId });
  return again.hash === e.hash ? null : 'source_mismatch';
}

function safeDecode(data: Uint8Array): unknown {
  try {
    const value = decode(data);
    return isEntry(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
