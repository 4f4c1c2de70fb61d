import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditRequest } from '../../actors/envelope.ts';

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);
/** The action of a signed checkpoint entry; the `audit.` action prefix is reserved for the writer. */
export const CHECKPOINT_ACTION = 'audit.checkpoint';
/**
 * The action of QA's signed disposition of requests recorded more than once (a trail that denies delete keeps them):
 * `after.seqs` names the duplicate entries it acknowledges, `after.signature` who signed and why.
 */
export const DISPOSITION_ACTION = 'qa.audit.duplicates.dispositioned';
/** Who writes checkpoints. */
export const WRITER_ID = 'system:audit-writer';

/** Where an entry came from: the INBOX stream sequence and the producer's message id (for crash reconciliation). */
export interface AuditSource {
  inboxSeq: number;
  /** The request's id (`Nats-Msg-Id`): the outbox's `<actor>:<seq>:<n>`, or the HTTP request's; chained once. */
  msgId?: string;
  /** The INBOX incarnation `inboxSeq` and `msgId` belong to (nats/stream-identity.ts). */
  incarnation?: string;
}

/** The signed body of a checkpoint entry (`after`). */
export interface CheckpointBody {
  upToSeq: number;
  upToHash: string;
  /** Base64 Ed25519 signature over `${upToSeq}:${upToHash}`. */
  signature: string;
  keyId: string;
}

/** One entry of the hash-chained audit trail (21 CFR 11.10(e) audit trail; 11.10(c) protection of records). */
export interface AuditEntry extends AuditRequest {
  seq: number;
  src?: AuditSource;
  prevHash: string;
  hash: string;
  /** The writer's system clock when it chained the entry (Part 11: system time, not client time). */
  recordedAt: number;
}

/** The end of a chain: what the next entry links to. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** A signing key as used for checkpoints. */
export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/** Public keys by key id (PEM text or key objects), as shipped with exports. */
export type PublicKeys = Readonly<Record<string, KeyObject | string>>;

/** Why an entry failed verification. */
export type ChainFault =
  | 'malformed'
  | 'seq_gap'
  | 'prev_hash_mismatch'
  | 'hash_mismatch'
  | 'checkpoint_mismatch'
  | 'unknown_key'
  | 'bad_signature';

/** An entry whose request (`src.msgId` in its INBOX incarnation) was recorded before, at `firstSeq`. */
export interface DuplicateEntry {
  seq: number;
  firstSeq: number;
  requestId: string;
  action: string;
  target: string;
  /** Acknowledged by a signed QA disposition entry (its seq). */
  dispositionedBy?: number;
}

/**
 * The outcome of walking a chain; `checked` counts entries verified before the first bad one (21 CFR 11.10(a)). A
 * request recorded twice fails it too (21 CFR 11.10(e): each action once), unless QA dispositioned the copy.
 */
export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBad?: { seq: number; reason: ChainFault };
  /** The last entry covered by a valid signed checkpoint (0 when none). */
  signedUpTo: number;
  /** Requests recorded more than once, in chain order (absent when there are none). */
  duplicates?: DuplicateEntry[];
}

/** Lowercase hex SHA-256 of a UTF-8 string. */
export function sha256hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The hash of an entry: SHA-256 over the previous hash and the RFC 8785 canonical JSON of the entry without `hash`
 * (21 CFR 11.10(e): changes must not obscure earlier information).
 */
export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...body } = entry;
  const text = canonicalize(body);
  if (text === undefined) throw new TypeError('audit entry is not serialisable');
  return sha256hex(entry.prevHash + text);
}

/** Chains one request onto `prev` (null for the first entry) (21 CFR 11.10(e) audit trail). */
export function chainEntry(
  prev: ChainHead | null,
  request: AuditRequest,
  recordedAt: number,
  src?: AuditSource,
): AuditEntry {
  const body: Omit<AuditEntry, 'hash'> = {
    seq: (prev?.seq ?? 0) + 1,
    at: request.at,
    who: request.who,
    action: request.action,
    target: request.target,
    ...optional(request),
    ...(src ? { src: sourceOf(src) } : {}),
    prevHash: prev?.hash ?? GENESIS_HASH,
    recordedAt,
  };
  return { ...body, hash: entryHash(body) };
}

/** Builds a signed checkpoint over `prev` (21 CFR 11.10(c) protection of records). */
export function checkpointEntry(prev: ChainHead, key: SigningKey, recordedAt: number): AuditEntry {
  const signature = sign(null, Buffer.from(`${prev.seq}:${prev.hash}`), key.privateKey).toString('base64');
  const after: CheckpointBody = { upToSeq: prev.seq, upToHash: prev.hash, signature, keyId: key.keyId };
  const body: Omit<AuditEntry, 'hash'> = {
    seq: prev.seq + 1,
    at: recordedAt,
    who: WRITER_ID,
    action: CHECKPOINT_ACTION,
    target: 'audit',
    after,
    prevHash: prev.hash,
    recordedAt,
  };
  return { ...body, hash: entryHash(body) };
}

/** Walks entries in order and checks seq continuity, links, hashes and checkpoint signatures (21 CFR 11.10(e)). */
export function verifyChain(
  entries: Iterable<unknown>,
  publicKeys: PublicKeys,
  anchor?: ChainHead,
): VerifyResult {
  const verifier = new ChainVerifier(publicKeys, anchor);
  for (const entry of entries) if (!verifier.push(entry)) break;
  return verifier.result();
}

/** Incremental form of {@link verifyChain}, for streams too large to hold (21 CFR 11.10(c) protection of records). */
export class ChainVerifier {
  readonly #keys = new Map<string, KeyObject | null>();
  readonly #publicKeys: PublicKeys;
  #head: ChainHead | null;
  #checked = 0;
  #signedUpTo = 0;
  #bad: VerifyResult['firstBad'];
  readonly #requests = new Map<string, number>();
  readonly #duplicates: DuplicateEntry[] = [];
  readonly #dispositions = new Map<number, number>();

  constructor(publicKeys: PublicKeys, anchor?: ChainHead) {
    this.#publicKeys = publicKeys;
    this.#head = anchor ?? null;
  }

  /** Checks the next entry; false once a bad entry was seen. */
  push(entry: unknown): boolean {
    if (this.#bad) return false;
    const expected = (this.#head?.seq ?? 0) + 1;
    const fault = this.#fault(entry, expected);
    if (fault) {
      const seq = isEntry(entry) ? entry.seq : expected;
      this.#bad = { seq, reason: fault };
      return false;
    }
    const e = entry as AuditEntry;
    if (e.action === CHECKPOINT_ACTION) this.#signedUpTo = (e.after as CheckpointBody).upToSeq;
    this.#request(e);
    this.#head = { seq: e.seq, hash: e.hash };
    this.#checked++;
    return true;
  }

  result(): VerifyResult {
    const duplicates = this.#duplicates.map((d) => {
      const by = this.#dispositions.get(d.seq);
      return by === undefined ? d : { ...d, dispositionedBy: by };
    });
    const open = duplicates.some((d) => d.dispositionedBy === undefined);
    const out: VerifyResult = { ok: !this.#bad && !open, checked: this.#checked, signedUpTo: this.#signedUpTo };
    if (this.#bad) out.firstBad = this.#bad;
    if (duplicates.length) out.duplicates = duplicates;
    return out;
  }

  /** Remembers the entry's request id, or records it as a duplicate; collects QA dispositions. */
  #request(e: AuditEntry): void {
    if (e.action === DISPOSITION_ACTION) {
      const seqs = (e.after as { seqs?: unknown } | undefined)?.seqs;
      if (Array.isArray(seqs)) for (const s of seqs) if (Number.isSafeInteger(s)) this.#dispositions.set(s as number, e.seq);
      return;
    }
    const id = e.src?.msgId;
    if (typeof id !== 'string') return;
    // Entries written before incarnations existed belong to the incarnation INBOX took at the upgrade.
    const key = `${e.src?.incarnation ?? ''}/${id}`;
    const first = this.#requests.get(key) ?? this.#requests.get(`/${id}`);
    if (first === undefined) this.#requests.set(key, e.seq);
    else this.#duplicates.push({ seq: e.seq, firstSeq: first, requestId: id, action: e.action, target: e.target });
  }

  #fault(entry: unknown, expected: number): ChainFault | undefined {
    if (!isEntry(entry)) return 'malformed';
    if (entry.seq !== expected) return 'seq_gap';
    if (entry.prevHash !== (this.#head?.hash ?? GENESIS_HASH)) return 'prev_hash_mismatch';
    let hash: string;
    try {
      hash = entryHash(entry);
    } catch {
      return 'malformed';
    }
    if (hash !== entry.hash) return 'hash_mismatch';
    return entry.action === CHECKPOINT_ACTION ? this.#checkpointFault(entry) : undefined;
  }

  #checkpointFault(entry: AuditEntry): ChainFault | undefined {
    const body = entry.after as Partial<CheckpointBody> | undefined;
    if (!body || typeof body.signature !== 'string' || typeof body.keyId !== 'string') return 'malformed';
    if (body.upToSeq !== this.#head?.seq || body.upToHash !== this.#head?.hash) return 'checkpoint_mismatch';
    const key = this.#key(body.keyId);
    if (!key) return 'unknown_key';
    const data = Buffer.from(`${body.upToSeq}:${body.upToHash}`);
    return verify(null, data, key, Buffer.from(body.signature, 'base64')) ? undefined : 'bad_signature';
  }

  #key(keyId: string): KeyObject | null {
    if (!this.#keys.has(keyId)) {
      const raw = Object.hasOwn(this.#publicKeys, keyId) ? this.#publicKeys[keyId] : undefined;
      this.#keys.set(keyId, raw === undefined ? null : typeof raw === 'string' ? createPublicKey(raw) : raw);
    }
    return this.#keys.get(keyId) ?? null;
  }
}

/** True when a value has the shape of an entry (types only, not the hash). */
export function isEntry(value: unknown): value is AuditEntry {
  const e = value as Partial<AuditEntry> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    Number.isSafeInteger(e.seq) &&
    typeof e.prevHash === 'string' &&
    typeof e.hash === 'string' &&
    typeof e.action === 'string'
  );
}

/** Optional request fields, made JSON-plain so the stored (msgpack) form hashes the same after a round trip. */
function optional(request: AuditRequest): Partial<AuditEntry> {
  const out: Partial<AuditEntry> = {};
  if (request.reason !== undefined) out.reason = request.reason;
  if (request.before !== undefined) out.before = jsonPlain(request.before);
  if (request.after !== undefined) out.after = jsonPlain(request.after);
  if (request.configVersion !== undefined) out.configVersion = request.configVersion;
  if (request.ref !== undefined) out.ref = request.ref;
  return out;
}

/** The stored form of a source: only the fields that are set (an absent field and `undefined` hash differently). */
function sourceOf(src: AuditSource): AuditSource {
  return {
    inboxSeq: src.inboxSeq,
    ...(src.msgId !== undefined ? { msgId: src.msgId } : {}),
    ...(src.incarnation !== undefined ? { incarnation: src.incarnation } : {}),
  };
}

function jsonPlain(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}
