import type { JetStreamManager } from '@nats-io/jetstream';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import type { AuditRequest } from '../../../actors/envelope.ts';
import { isoTime } from '../../../actors/iso-time.ts';
import { PhaselineError } from '../../errors.ts';
import { DISPOSITION_ACTION, sha256hex, type DuplicateEntry, type PublicKeys } from '../../records/audit-chain.ts';
import { verifyAudit } from '../../records/audit-read.ts';
import type { PhaselineApp } from '../app.ts';
import { requireUser } from '../auth/guard.ts';
import { writeErrors } from '../openapi-errors.ts';
import type { UserStore } from '../auth/users.ts';

/** What the disposition route needs. */
export interface DispositionDeps {
  jsm: JetStreamManager;
  users: UserStore;
  publicKeys: () => PublicKeys | Promise<PublicKeys>;
  /** Appends an audit request with its deterministic request id (the audit writer chains it once). */
  audit: (request: Omit<AuditRequest, 'configVersion'>, requestId: string) => Promise<void>;
  now?: () => number;
}

/** The meaning of a disposition signature, set by the server (21 CFR 11.50(a)(3)), never taken from the client. */
const MEANING = { code: 'dispositioned', text: 'Reviewed: these audit entries record a request that was already recorded; the copies are acknowledged, not removed' };

/**
 * `POST /audit/duplicates/disposition`: QA's signed disposition of audit entries that record a request a second time
 * (a trail that denies delete keeps them, EU GMP Annex 11 §9): the signature binds the printed name, time, meaning
 * and the SHA-256 of exactly which copies it acknowledges (21 CFR 11.50, 11.70); `GET /audit/verify` then reports
 * them as dispositioned instead of failing.
 */
export async function auditDispositionRoutes(app: PhaselineApp, d: DispositionDeps): Promise<void> {
  const now = d.now ?? Date.now;
  app.post('/api/v1/audit/duplicates/disposition', {
    onRequest: app.requirePermission('audit.disposition'),
    schema: {
      summary: 'QA\'s signed disposition of audit entries that record a request twice', operationId: 'dispositionAuditDuplicates',
      body: z.strictObject({
        username: z.string().min(1).max(200),
        password: z.string().min(1).max(1000),
        reason: z.string().trim().min(1).max(4000),
        seqs: z.array(z.number().int().min(1)).min(1).max(100_000).optional(),
      }),
      response: {
        202: z.looseObject({ status: z.literal('submitted'), requestId: z.string(), seqs: z.array(z.number()) })
          .describe('submitted to the audit writer, which chains it once'),
        ...writeErrors(),
      },
    },
  }, async (req, reply) => {
    const user = requireUser(req);
    const b = req.body;
    if (b.username !== user.username) throw new PhaselineError('ERR_AUTH_FORBIDDEN', 'the signer must be the logged-in user', { username: b.username });
    const signer = await d.users.verify(b.username, b.password);
    if (!signer) {
      await d.audit({ at: now(), who: b.username, action: 'signature.failed', target: 'audit', reason: 'invalid credentials' }, `signature.failed:audit:${now()}:${b.username}`);
      throw new PhaselineError('ERR_AUTH_INVALID_CREDENTIALS', 'invalid username or password');
    }
    const open = ((await verifyAudit(d.jsm, await d.publicKeys())).duplicates ?? []).filter((x) => x.dispositionedBy === undefined);
    const chosen = pick(open, b.seqs);
    const duplicates = chosen.map(({ seq, firstSeq, requestId }) => ({ seq, firstSeq, requestId }));
    const content = { action: DISPOSITION_ACTION, seqs: chosen.map((x) => x.seq), duplicates, reason: b.reason };
    const contentHash = sha256hex(canonicalize(content)!);
    const at = now();
    const signature = { printedName: signer.displayName, username: signer.username, signedAt: isoTime(at), meaning: MEANING.code, meaningText: MEANING.text, contentHash };
    const requestId = `disposition:${contentHash}`;
    await d.audit({ at, who: signer.username, action: DISPOSITION_ACTION, target: 'audit', reason: b.reason, after: { ...content, signature } }, requestId);
    return reply.code(202).send({ status: 'submitted', requestId, seqs: content.seqs, duplicates, signature });
  });
}

/** The open duplicates the request names (all when it names none); an unknown or closed seq is refused. */
function pick(open: DuplicateEntry[], seqs: number[] | undefined): DuplicateEntry[] {
  if (open.length === 0) throw new PhaselineError('ERR_AUDIT_NOTHING_TO_DISPOSITION', 'the audit trail holds no undispositioned duplicate entries');
  if (!seqs) return open;
  const bySeq = new Map(open.map((x) => [x.seq, x]));
  const unknown = seqs.filter((s) => !bySeq.has(s));
  if (unknown.length) throw new PhaselineError('ERR_AUDIT_NOT_A_DUPLICATE', 'these entries are not undispositioned duplicates', { seqs: unknown });
  return [...new Set(seqs)].map((s) => bySeq.get(s)!);
}
