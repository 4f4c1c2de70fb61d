import { randomUUID } from 'node:crypto';
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { encode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { judgePosition, streamIdentity, type StreamIdentity } from '../../nats/stream-identity.ts';
import { MSG_ID, subjects } from '../../nats/subjects.ts';
import { PhaselineError } from '../errors.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { WRITER_ID, chainEntry, checkpointEntry, type AuditEntry, type AuditSource, type PublicKeys } from './audit-chain.ts';
import { AuditIdIndex } from './audit-ids.ts';
import { walkAudit } from './audit-read.ts';
import { publishAuditPublicKey, type AuditKey } from './audit-key.ts';
import {
  LostOwnershipError,
  genesisPosition,
  isWrongLastSequence,
  loadPosition,
  parseRequest,
  resetAuditConsumer,
  savePosition,
  savePositionOwned,
  type WriterPosition,
} from './audit-state.ts';
import { applyEntry, reconcileTail, reportTail, type TailOutcome } from './audit-tail.ts';

/** Ports and settings of the audit writer. */
export interface AuditWriterOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The actors KV bucket: holds the writer's position record and the published public key. */
  kv: KV;
  /** The audit bucket: the index of every chained request id (src/records/audit-ids.ts). */
  idsKv: KV;
  key: Pick<AuditKey, 'keyId' | 'privateKey' | 'publicKeyPem'>;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  log?: Logger;
  metrics: Metrics;
  /** Earlier (rotated) public keys, so that their checkpoints on the tail are recognised. */
  publicKeys?: PublicKeys;
  /** Messages per fetch and the consumer's max_ack_pending (256); a fetch waits up to fetchExpiresMs (1000). */
  batchSize?: number;
  fetchExpiresMs?: number;
  consumerName?: string;
  now?: () => number;
}

/** A running audit writer (21 CFR 11.10(e) audit trail). */
export interface AuditWriter {
  /** Stops intake after the current request and persists the position. */
  stop(): Promise<void>;
  /** Resolves once every request now in the inbox is chained, checkpointed and the position persisted. */
  flush(): Promise<void>;
}

type Settings = Required<Omit<AuditWriterOptions, 'log' | 'publicKeys'>> & { log: Logger; publicKeys: PublicKeys };
type Waiter = { target: number; resolve: () => void; reject: (err: Error) => void };

/**
 * Starts the single audit writer: one ordered consumer on `inbox.audit.writer`, chaining each request onto the AUDIT
 * stream with `Nats-Expected-Last-Sequence` and signing periodic checkpoints (DESIGN.md principle 11; 21 CFR 11.10(e)
 * audit trail, 11.10(c) protection of records).
 */
export async function startAuditWriter(options: AuditWriterOptions): Promise<AuditWriter> {
  for (let attempt = 1; ; attempt++) {
    const writer = new Writer(options);
    try {
      await writer.init();
    } catch (err) {
      if (!isWrongLastSequence(err) || attempt >= 3) throw err; // the record moved while we read the tail
      continue;
    }
    writer.run();
    return { stop: () => writer.stop(), flush: () => writer.flush() };
  }
}

class Writer {
  readonly #o: Settings;
  readonly #id = randomUUID();
  #pos!: WriterPosition;
  #ids!: AuditIdIndex;
  #inbox!: StreamIdentity;
  #revision = 0;
  #dirty = false;
  #consumer!: Consumer;
  #iter: ConsumerMessages | undefined;
  #needsReset = false;
  #stopping = false;
  #failed: Error | undefined;
  #done: Promise<void> = Promise.resolve();
  readonly #waiters: Waiter[] = [];

  constructor(o: AuditWriterOptions) {
    this.#o = {
      ...o,
      batchSize: o.batchSize ?? 256,
      fetchExpiresMs: o.fetchExpiresMs ?? 1000,
      consumerName: o.consumerName ?? 'audit-writer',
      now: o.now ?? Date.now,
      log: o.log ?? logger('audit-writer'),
      publicKeys: { ...o.publicKeys, [o.key.keyId]: o.key.publicKeyPem },
    };
  }

  async init(): Promise<void> {
    const { jsm, kv } = this.#o;
    this.#inbox = await streamIdentity(jsm, 'INBOX');
    const stored = await loadPosition(kv);
    const { pos, migration } = this.#position(stored.position);
    this.#pos = pos;
    this.#ids = new AuditIdIndex(this.#o.idsKv, this.#inbox.incarnation);
    const indexed = await this.#index(pos.idsUpTo ?? 0, pos.auditSeq);
    await this.#report(await reconcileTail(jsm, pos, this.#o.publicKeys), false);
    await this.#syncIndex();
    this.#revision = await savePosition(kv, pos, stored.revision, this.#id); // claims the writer role
    await publishAuditPublicKey(kv, this.#o.key);
    if (migration) await this.#migrated(migration, indexed);
    await this.#resetConsumer();
    this.#o.log.info({ writer: this.#id, head: pos.head, lastInboxSeq: pos.lastInboxSeq }, 'audit writer started');
  }

  /**
   * Judges the stored position against INBOX as it is now (DESIGN.md principle 15): the same incarnation goes on; a
   * record from before incarnations existed takes the identity when its position lies within the stream; a
   * recreated INBOX restarts the inbox position (ids are scoped to the incarnation); a position past the stream's end
   * stops the writer with the reason. Returns what an upgrade changed, for its audit entry.
   */
  #position(stored: WriterPosition | null): { pos: WriterPosition; migration?: Record<string, unknown> } {
    const inc = this.#inbox.incarnation;
    let pos = stored ?? genesisPosition(inc, this.#o.now());
    const verdict = judgePosition({ incarnation: pos.inboxIncarnation, lastSeq: pos.lastInboxSeq }, this.#inbox);
    let migration: Record<string, unknown> | undefined;
    if (verdict.kind === 'beyond') {
      throw new PhaselineError('ERR_AUDIT_POSITION_BEYOND_STREAM', `the audit writer applied INBOX up to seq ${verdict.lastSeq}, but INBOX ends at ${verdict.streamLastSeq}: it was replaced or restored from an older copy; the writer does not reset its position`, verdict);
    }
    if (verdict.kind === 'recreated') {
      this.#o.log.warn({ was: verdict.was, now: inc }, 'INBOX is a new stream incarnation: the audit writer\'s inbox position restarts');
      pos = { ...pos, inboxIncarnation: inc, lastInboxSeq: 0, idsUpTo: pos.auditSeq };
    }
    if (verdict.kind === 'adopted') {
      migration = { incarnation: inc, lastInboxSeq: pos.lastInboxSeq, ...(pos.inboxCreated ? { inboxCreated: pos.inboxCreated } : {}) };
      const { inboxCreated: _legacy, ...rest } = pos;
      pos = { ...rest, inboxIncarnation: inc };
    }
    return migration ? { pos, migration } : { pos };
  }

  /**
   * Puts every request id chained on AUDIT seqs `(from, to]` into the id index (a record written before the index
   * existed starts at 0). Requests recorded more than once are counted and named by `GET /audit/verify`.
   */
  async #index(from: number, to: number): Promise<{ entries: number; duplicates: number }> {
    let entries = 0;
    let duplicates = 0;
    if (to <= from) return { entries, duplicates };
    for await (const { streamSeq, value } of walkAudit(this.#o.jsm, from + 1)) {
      if (streamSeq > to) break;
      const id = (value as AuditEntry | undefined)?.src?.msgId;
      if (typeof id !== 'string') continue;
      entries++;
      if (await this.#ids.has(id)) duplicates++;
      else await this.#ids.add(id);
    }
    if (duplicates) this.#o.log.warn({ duplicates }, 'the audit trail holds requests recorded more than once: GET /audit/verify names them');
    return { entries, duplicates };
  }

  /** The writer's own entry for an upgraded position record (EU GMP Annex 11 §4.8: data migration is verified and recorded). */
  async #migrated(migration: Record<string, unknown>, indexed: { entries: number; duplicates: number }): Promise<void> {
    const at = this.#o.now();
    const request = {
      at, who: WRITER_ID, action: 'audit.position.migrated', target: 'stream:INBOX',
      reason: 'writer record from before stream incarnations existed: it took the INBOX identity and indexed every chained request id; nothing was chained again',
      after: { ...migration, indexedEntries: indexed.entries, duplicatesFound: indexed.duplicates },
    };
    await this.#commit(() => chainEntry(this.#pos.head, request, this.#o.now()), `audit:migration:${this.#inbox.incarnation}`, () => false);
    await this.#persist();
  }

  /** Hands the ids chained since the last call to the index (in memory until the next flush). */
  async #drainChained(): Promise<void> {
    for (const id of this.#pos.chained.splice(0)) await this.#ids.add(id);
  }

  run(): void {
    this.#done = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#iter?.stop();
    await this.#done;
    if (!this.#failed && this.#dirty) {
      await this.#persist().catch((err) => this.#o.log.error({ err }, 'persist failed'));
    }
    this.#rejectAll(new PhaselineError('ERR_COMPONENT_STOPPED', 'audit writer stopped'));
  }

  async flush(): Promise<void> {
    if (this.#failed || this.#stopping) throw this.#failed ?? new PhaselineError('ERR_COMPONENT_STOPPED', 'audit writer stopped');
    const last = await this.#o.jsm.direct.getMessage('INBOX', { last_by_subj: subjects.auditInbox });
    return new Promise((resolve, reject) => this.#waiters.push({ target: last?.seq ?? 0, resolve, reject }));
  }

  async #loop(): Promise<void> {
    for (let backoff = 100; !this.#stopping; ) {
      try {
        if (this.#needsReset) await this.#recover();
        await this.#batch();
        backoff = 100;
      } catch (err) {
        if (this.#stopping) break;
        if (await this.#fatal(err)) return this.#fail(err as Error);
        this.#needsReset = true; // delivered but unapplied messages must come again, in order
        this.#o.metrics.inc('phaseline_audit_writer_errors_total', {}, 1, 'Audit writer batch failures (retried)');
        this.#o.log.error({ err }, 'audit batch failed; reconciling and retrying');
        await new Promise((r) => setTimeout(r, (backoff = Math.min(backoff * 2, 5000))));
      }
    }
  }

  async #batch(): Promise<void> {
    const { batchSize: max_messages, fetchExpiresMs: expires } = this.#o;
    this.#iter = await this.#consumer.fetch({ max_messages, expires });
    for await (const m of this.#iter) {
      await this.#handle(m);
      if (this.#pos.sinceCheckpoint >= this.#o.checkpointEvery) await this.#checkpoint();
      if (this.#waiters.length) await this.#serveWaiters();
    }
    if (this.#stopping) return;
    const due = this.#o.now() - this.#pos.lastCheckpointAt >= this.#o.checkpointIntervalMs;
    if (this.#pos.sinceCheckpoint > 0 && due) await this.#checkpoint();
    if (this.#dirty) await this.#persist();
    await this.#serveWaiters();
  }

  /** Applies one inbox message: skip, dead-letter or chain it; acknowledges only once that is on a stream. */
  async #handle(m: JsMsg): Promise<void> {
    const inboxSeq = m.seq;
    const msgId = m.headers?.get(MSG_ID) || undefined;
    if (inboxSeq <= this.#pos.lastInboxSeq) return this.#skip(m, 'inbox_seq');
    const parsed: ReturnType<typeof parseRequest> = msgId
      ? parseRequest(m.data)
      : { ok: false, reason: 'missing_request_id', detail: 'no Nats-Msg-Id: an audit request needs its deterministic request id to be recorded once' };
    if (!parsed.ok) {
      const letter = { ...parsed, subject: m.subject, data: m.data, stream: 'INBOX', streamSeq: inboxSeq, ...(msgId ? { msgId } : {}) };
      await deadLetter(this.#o.js, this.#o.metrics, letter, `audit-writer:dlq:${inboxSeq}`);
      this.#o.log.warn({ inboxSeq, msgId, ...parsed }, 'audit request dead-lettered');
      return this.#advance(m);
    }
    if (await this.#ids.has(msgId!)) return this.#skip(m, 'producer_id');
    const src: AuditSource = { inboxSeq, msgId: msgId!, incarnation: this.#inbox.incarnation };
    const build = () => chainEntry(this.#pos.head, parsed.request, this.#o.now(), src);
    await this.#commit(build, `audit:${this.#inbox.incarnation}:${inboxSeq}`, (tail) => tail.adoptedInbox.has(inboxSeq));
    await this.#drainChained();
    m.ack();
  }

  #skip(m: JsMsg, by: 'inbox_seq' | 'producer_id'): void {
    this.#o.metrics.inc('phaseline_audit_duplicates_total', { by }, 1, 'Audit requests skipped as already applied');
    this.#o.log.debug({ inboxSeq: m.seq, by }, 'audit request already applied');
    if (by === 'inbox_seq') return m.ack();
    this.#advance(m);
  }

  #advance(m: JsMsg): void {
    this.#pos.lastInboxSeq = m.seq;
    this.#dirty = true;
    m.ack();
  }

  async #checkpoint(): Promise<void> {
    const build = () => checkpointEntry(this.#pos.head!, this.#o.key, this.#o.now());
    await this.#commit(build, 'audit:cp', () => this.#pos.sinceCheckpoint === 0);
    this.#o.metrics.inc('phaseline_audit_checkpoints_total', {}, 1, 'Signed audit checkpoints written');
  }

  /** Publishes the next entry behind the current tail; on a conflict re-reads the tail and, unless done, rebuilds. */
  async #commit(build: () => AuditEntry, idBase: string, done: (tail: TailOutcome) => boolean): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = build();
      const id = attempt === 0 && idBase !== 'audit:cp' ? idBase : `${idBase}:${entry.seq}:${attempt}`;
      if (await this.#publish(entry, id)) {
        applyEntry(this.#pos, entry);
        this.#dirty = true;
        this.#o.metrics.inc('phaseline_audit_entries_total', {}, 1, 'Audit entries chained');
        this.#o.metrics.set('phaseline_audit_chain_seq', {}, entry.seq, 'Sequence of the last audit entry');
        return;
      }
      const tail = await reconcileTail(this.#o.jsm, this.#pos, this.#o.publicKeys, entry);
      this.#dirty = true;
      await this.#report(tail, true);
      if (done(tail)) return;
    }
    throw new PhaselineError('ERR_AUDIT_CHAIN_BROKEN', 'the audit tail keeps moving under the writer');
  }

  async #publish(entry: AuditEntry, msgID: string): Promise<boolean> {
    try {
      const expect = { lastSequence: this.#pos.auditSeq };
      const ack = await this.#o.js.publish(subjects.audit, encode(entry), { msgID, expect });
      if (ack.duplicate) return false; // a message with this id is already there: the tail says whose it is
      this.#pos.auditSeq = ack.seq;
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err; // a timeout may have landed: the batch is retried after reconciling the tail
    }
  }

  /** Reports foreign entries; with two live writers, the one that no longer holds the record gives up. */
  async #report(tail: TailOutcome, running: boolean): Promise<void> {
    const rival = reportTail(tail, running, this.#o.metrics, this.#o.log);
    if (rival && !(await this.#owner())) throw new LostOwnershipError(undefined);
  }

  /** Writes the id index up to the current AUDIT position; the position is persisted only after it (never ahead). */
  async #syncIndex(): Promise<void> {
    await this.#drainChained();
    await this.#ids.flush();
    this.#pos.idsUpTo = this.#pos.auditSeq;
  }

  async #persist(): Promise<void> {
    await this.#syncIndex();
    this.#revision = await savePositionOwned(this.#o.kv, this.#pos, this.#revision, this.#id);
    this.#dirty = false;
  }

  async #serveWaiters(): Promise<void> {
    const due = this.#waiters.filter((w) => w.target <= this.#pos.lastInboxSeq);
    if (due.length === 0) return;
    if (this.#pos.sinceCheckpoint > 0) await this.#checkpoint();
    if (this.#dirty) await this.#persist();
    for (const w of due) this.#waiters.splice(this.#waiters.indexOf(w), 1)[0]!.resolve();
  }

  async #recover(): Promise<void> {
    await this.#report(await reconcileTail(this.#o.jsm, this.#pos, this.#o.publicKeys), true);
    await this.#drainChained();
    await this.#resetConsumer();
    this.#needsReset = false;
  }

  async #resetConsumer(): Promise<void> {
    const { jsm, consumerName, batchSize } = this.#o;
    this.#consumer = await resetAuditConsumer(jsm, consumerName, this.#pos.lastInboxSeq + 1, batchSize);
  }

  /** True while the position record names this writer (unknown counts as yes: retry rather than give up). */
  async #owner(): Promise<boolean> {
    try {
      return (await loadPosition(this.#o.kv)).writer === this.#id;
    } catch {
      return true;
    }
  }

  /** Fatal: the connection is gone, or another writer holds the record (it has also reset our consumer). */
  async #fatal(err: unknown): Promise<boolean> {
    if (err instanceof LostOwnershipError || this.#o.nc.isClosed()) return true;
    return !(await this.#owner());
  }

  #fail(err: Error): void {
    this.#failed = err;
    this.#o.log.error({ err, writer: this.#id }, 'audit writer stopped: superseded or disconnected');
    this.#rejectAll(err);
  }

  #rejectAll(err: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
