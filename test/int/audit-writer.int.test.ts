import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRequest } from '../../actors/envelope.ts';
import { decode, encode } from '../../nats/codec.ts';
import { INCARNATION_KEY } from '../../nats/stream-identity.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { Metrics } from '../../src/metrics.ts';
import { CHECKPOINT_ACTION, chainEntry, type AuditEntry } from '../../src/records/audit-chain.ts';
import { loadOrCreateAuditKey, readAuditPublicKeys, type AuditKey } from '../../src/records/audit-key.ts';
import { readAudit, verifyAudit } from '../../src/records/audit-read.ts';
import { WRITER_KV_KEY, loadPosition, savePosition } from '../../src/records/audit-state.ts';
import { startAuditWriter, type AuditWriter, type AuditWriterOptions } from '../../src/records/audit-writer.ts';
import { untilDedupeForgets } from '../helpers/dedupe.ts';
import { connectTest, startTestNats, type TestConn } from '../helpers/nats.ts';

type Nats = Awaited<ReturnType<typeof startTestNats>>;
type Conn = TestConn;

let server: Nats;
let conn: Conn;
let buckets: Buckets;
let varDir: string;
let key: AuditKey;
const open: { writers: AuditWriter[]; conns: NatsConnection[] } = { writers: [], conns: [] };

const connectTo = (): Promise<Conn> => connectTest(server.url, open.conns);

beforeEach(async () => {
  server = await startTestNats();
  conn = await connectTo();
  await ensureStreams(conn.jsm);
  buckets = await ensureBuckets(conn.nc);
  varDir = await mkdtemp(join(tmpdir(), 'audit-var-'));
  key = await loadOrCreateAuditKey(varDir);
});

afterEach(async () => {
  for (const w of open.writers.splice(0)) await w.stop();
  for (const nc of open.conns.splice(0)) if (!nc.isClosed()) await nc.close();
  await server.stop();
  await rm(varDir, { recursive: true, force: true });
});

async function writer(o: Partial<AuditWriterOptions> = {}, c: Conn = conn): Promise<AuditWriter> {
  const b = c === conn ? buckets : await ensureBuckets(c.nc);
  const w = await startAuditWriter({
    ...c,
    kv: b.actors,
    idsKv: b.audit,
    key,
    checkpointEvery: 50,
    checkpointIntervalMs: 60_000,
    metrics: new Metrics(),
    ...o,
  });
  open.writers.push(w);
  return w;
}

function request(i: number, extra: Partial<AuditRequest> = {}): AuditRequest {
  const target = `R101.P${i % 3}`;
  return { at: 1_700_000_000_000 + i, who: 'operator', action: 'phase.command', target, after: { i }, ...extra };
}

/** Publishes requests in order (one connection keeps publish order); returns the INBOX sequences. */
async function send(items: { req: unknown; id?: string }[], js: JetStreamClient = conn.js): Promise<number[]> {
  const acks = await Promise.all(
    items.map(({ req, id }) =>
      js.publish(subjects.auditInbox, req instanceof Uint8Array ? req : encode(req), id ? { msgID: id } : {}),
    ),
  );
  return acks.map((a) => a.seq);
}

const outbox = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => ({ req: request(from + k), id: `phase:R101.HEAT:${from + k}:0` }));

async function trail(): Promise<AuditEntry[]> {
  return readAudit(conn.jsm, { limit: 10_000 });
}

const requestsOf = (entries: AuditEntry[]) => entries.filter((e) => e.action !== CHECKPOINT_ACTION);

async function until(cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('audit writer', () => {
  it('chains 200 requests in inbox order with a signed checkpoint every 50, and the whole trail verifies', async () => {
    const metrics = new Metrics();
    const w = await writer({ metrics });
    const seqs = await send(outbox(1, 200));
    await w.flush();
    const entries = await trail();
    expect(entries).toHaveLength(204);
    expect(requestsOf(entries).map((e) => e.src!.inboxSeq)).toEqual(seqs);
    expect(entries.filter((e) => e.action === CHECKPOINT_ACTION).map((e) => e.seq)).toEqual([51, 102, 153, 204]);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 204 }, (_, i) => i + 1));
    const keys = await readAuditPublicKeys(buckets.actors);
    expect(keys[key.keyId]).toBe(key.publicKeyPem);
    expect(await verifyAudit(conn.jsm, keys)).toEqual({ ok: true, checked: 204, signedUpTo: 203 });
    expect(metrics.get('phaseline_audit_entries_total')).toBe(204);
    expect((await loadPosition(buckets.actors)).position?.lastInboxSeq).toBe(seqs.at(-1));
  });

  it('keeps the signing key private (mode 0600) under var/keys', async () => {
    const st = await stat(join(varDir, 'keys', 'audit-ed25519.key.pem'));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await loadOrCreateAuditKey(varDir)).keyId).toBe(key.keyId);
  });

  it('writes a checkpoint after the interval only when there were new entries', async () => {
    const w = await writer({ checkpointEvery: 1000, checkpointIntervalMs: 1000 });
    await send(outbox(1, 3));
    await until(async () => (await trail()).some((e) => e.action === CHECKPOINT_ACTION));
    await new Promise((r) => setTimeout(r, 2100));
    const entries = await trail();
    expect(entries.map((e) => e.action)).toEqual([...Array(3).fill('phase.command'), CHECKPOINT_ACTION]);
    await w.flush();
    expect(await trail()).toHaveLength(4);
  });

  it('applies a producer id once even when it returns after the duplicate window, also after a restart', async () => {
    // JetStream only dedupes Nats-Msg-Id inside duplicate_window; shrink it so the replay is really stored again.
    const inbox = await conn.jsm.streams.info('INBOX');
    await conn.jsm.streams.update('INBOX', { ...inbox.config, duplicate_window: 200 * 1e6 });
    const metrics = new Metrics();
    let w = await writer({ metrics });
    const items = [...outbox(1, 3), { req: request(9), id: 'login:9f2c' }];
    await send(items);
    await w.flush();
    await untilDedupeForgets(conn.js, 'inbox.probe.dedupe');
    expect(await send(items)).toHaveLength(4); // stored again: JetStream did not catch them
    await send([{ req: request(2), id: 'phase:R101.HEAT:1:7' }]); // below the producer's highest applied id
    await w.flush();
    expect(metrics.get('phaseline_audit_duplicates_total', { by: 'producer_id' })).toBe(5);
    await w.stop();
    w = await writer();
    await untilDedupeForgets(conn.js, 'inbox.probe.dedupe');
    await send([items[0]!, items[3]!, { req: request(4), id: 'phase:R101.HEAT:4:0' }]);
    await w.flush();
    expect(requestsOf(await trail()).map((e) => e.src!.msgId)).toEqual([
      'phase:R101.HEAT:1:0',
      'phase:R101.HEAT:2:0',
      'phase:R101.HEAT:3:0',
      'login:9f2c',
      'phase:R101.HEAT:4:0',
    ]);
  });

  it('continues with no gap or double after a crash between publishing entries and persisting its position', async () => {
    const a = await connectTo();
    await writer({ batchSize: 1000, fetchExpiresMs: 30_000, checkpointEvery: 25 }, a);
    const seqs = await send(outbox(1, 100));
    await until(async () => requestsOf(await trail()).length >= 40);
    await a.nc.close(); // the crash: its position record still says nothing was applied
    expect((await loadPosition(buckets.actors)).position?.lastInboxSeq).toBe(0);
    const metrics = new Metrics();
    const b = await writer({ metrics, checkpointEvery: 25 });
    await b.flush();
    const entries = await trail();
    expect(requestsOf(entries).map((e) => e.src!.inboxSeq)).toEqual(seqs);
    const verdict = await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem });
    expect(verdict).toMatchObject({ ok: true, checked: entries.length });
    expect(metrics.total('phaseline_security_events_total')).toBe(0);
  });

  it('rides out a broker restart while requests are pending, with no gap or double', async () => {
    const w = await writer({ batchSize: 1000, checkpointEvery: 100 });
    const seqs = await send(outbox(1, 1000));
    await until(async () => requestsOf(await trail()).length >= 100);
    await server.restart();
    await until(() => conn.jsm.streams.info('INBOX').then(() => true, () => false), 30_000);
    const more = await send(outbox(1001, 1020));
    await until(async () => requestsOf(await trail().catch(() => [])).length >= 1020, 30_000);
    await w.flush();
    const entries = await trail();
    expect(requestsOf(entries).map((e) => e.src!.inboxSeq)).toEqual([...seqs, ...more]);
    expect((await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem })).ok).toBe(true);
  });

  it('lets a second writer take over: the first gives up and nothing is lost or doubled', async () => {
    const a = await connectTo();
    const first = await writer({}, a);
    await send(outbox(1, 30));
    await first.flush();
    const second = await writer();
    const seqs = await send(outbox(31, 80));
    await second.flush();
    await expect(first.flush()).rejects.toThrow();
    expect(requestsOf(await trail()).map((e) => e.src!.inboxSeq).slice(30)).toEqual(seqs);
    expect((await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem })).ok).toBe(true);
  });

  it('flags a foreign message on the audit subject: verify points at it, the writer counts a security event', async () => {
    const metrics = new Metrics();
    const w = await writer({ metrics });
    await send(outbox(1, 3));
    await w.flush(); // 3 entries + checkpoint
    const forged = await conn.js.publish(subjects.audit, encode({ seq: 5, hello: 'not an entry' }));
    await send(outbox(4, 5));
    await w.flush();
    expect(metrics.get('phaseline_security_events_total', { event: 'audit_foreign_entry' })).toBe(1);
    const result = await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem });
    const firstBad = { seq: 5, reason: 'malformed', streamSeq: forged.seq };
    expect(result).toMatchObject({ ok: false, checked: 4, firstBad });
    expect(requestsOf(await trail())).toHaveLength(5); // the writer went on, chaining past it
  });

  it('does not adopt a well-formed forged entry that links to its head, and verify breaks right after it', async () => {
    const metrics = new Metrics();
    const w = await writer({ metrics });
    await send(outbox(1, 2));
    await w.flush();
    const head = (await trail()).at(-1)!;
    const fake = chainEntry(head, request(99, { who: 'mallory' }), Date.now(), { inboxSeq: 2 });
    const forged = await conn.js.publish(subjects.audit, encode(fake));
    await send(outbox(3, 3));
    await w.flush();
    expect(metrics.get('phaseline_security_events_total', { event: 'audit_foreign_entry' })).toBe(1);
    const result = await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem });
    const firstBad = { seq: fake.seq, reason: 'seq_gap', streamSeq: forged.seq + 1 };
    expect(result).toMatchObject({ ok: false, firstBad });
  });

  it('is refused by the server when anyone deletes or purges audit entries or lifts that protection', async () => {
    const w = await writer();
    await send(outbox(1, 2));
    await w.flush();
    await expect(conn.jsm.streams.deleteMessage('AUDIT', 1)).rejects.toThrow(/not permitted/);
    await expect(conn.jsm.streams.purge('AUDIT')).rejects.toThrow(/not permitted/);
    const info = await conn.jsm.streams.info('AUDIT');
    await expect(conn.jsm.streams.update('AUDIT', { ...info.config, deny_delete: false })).rejects.toThrow();
    expect((await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem })).ok).toBe(true);
  });

  it('dead-letters malformed and invalid requests with their reason and keeps going', async () => {
    const metrics = new Metrics();
    const w = await writer({ metrics });
    const garbage = new Uint8Array([0x85, 0xa1]);
    const [bad] = await send([
      { req: garbage, id: 'x:1:0' },
      { req: { at: 1, action: 'a', target: 't' }, id: 'x:2:0' },
      { req: request(3, { action: 'audit.checkpoint' }), id: 'x:3:0' },
      { req: request(4), id: 'x:4:0' },
    ]);
    await w.flush();
    expect(requestsOf(await trail()).map((e) => e.src!.msgId)).toEqual(['x:4:0']);
    expect(metrics.get('phaseline_dead_letters_total', { stream: 'INBOX', reason: 'malformed' })).toBe(1);
    expect(metrics.get('phaseline_dead_letters_total', { stream: 'INBOX', reason: 'invalid' })).toBe(2);
    const dlq = await conn.jsm.direct.getMessage('DEADLETTER', { seq: 1 });
    expect(dlq?.subject).toBe(`dlq.${subjects.auditInbox}`);
    expect(dlq?.header.get('Phaseline-Reason')).toBe('malformed');
    const letter = decode(dlq!.data) as { reason: string; data: Uint8Array; streamSeq: number; subject: string };
    expect(letter).toMatchObject({ reason: 'malformed', subject: subjects.auditInbox, streamSeq: bad });
    expect([...letter.data]).toEqual([...garbage]);
    expect((await conn.jsm.streams.info('DEADLETTER')).state.messages).toBe(3);
  });

  it('reads the trail filtered by target and time, with a limit and paging', async () => {
    const w = await writer({ checkpointEvery: 1000 });
    await send(outbox(1, 9));
    await w.flush();
    const r1 = await readAudit(conn.jsm, { target: 'R101.P1' });
    expect(r1.map((e) => e.at - 1_700_000_000_000)).toEqual([1, 4, 7]);
    const to = new Date(1_700_000_000_005).toISOString();
    const window = await readAudit(conn.jsm, { from: 1_700_000_000_003, to });
    expect(window.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect((await readAudit(conn.jsm, { limit: 2, afterSeq: 6 })).map((e) => e.seq)).toEqual([7, 8]);
    await expect(readAudit(conn.jsm, { from: 'yesterday' })).rejects.toThrow(/from/);
  });
  it('dead-letters a request that carries no request id (it could not be recorded once)', async () => {
    const metrics = new Metrics();
    const w = await writer({ metrics });
    await send([{ req: request(1) }, { req: request(2), id: 'x:2:0' }]);
    await w.flush();
    expect(requestsOf(await trail()).map((e) => e.src!.msgId)).toEqual(['x:2:0']);
    expect(metrics.get('phaseline_dead_letters_total', { stream: 'INBOX', reason: 'missing_request_id' })).toBe(1);
  });

  it('stamps every entry with its request id and INBOX incarnation, and keeps its position across broker restarts after a stream update', async () => {
    const metrics = new Metrics();
    let w = await writer({ metrics });
    await send(outbox(1, 5));
    await w.flush();
    const incarnation = (await conn.jsm.streams.info('INBOX')).config.metadata?.[INCARNATION_KEY];
    expect(requestsOf(await trail()).every((e) => e.src!.incarnation === incarnation && e.src!.msgId)).toBe(true);
    // nats-server 2.10.27 reported a new `created` after update() + restart (FACTS.md): identity must not move.
    for (let i = 0; i < 3; i++) {
      await w.stop();
      await ensureStreams(conn.jsm);
      await server.restart();
      await until(() => conn.jsm.streams.info('INBOX').then(() => true, () => false), 30_000);
      w = await writer({ metrics });
      await send(outbox(6 + i, 6 + i));
      await w.flush();
    }
    expect(requestsOf(await trail()).map((e) => e.src!.msgId)).toEqual(outbox(1, 8).map((o) => o.id));
    expect((await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem })).ok).toBe(true);
  });

  it('upgrades a position record from before incarnations: nothing chained again, the migration audited, old ids still refused', async () => {
    const inbox = await conn.jsm.streams.info('INBOX');
    await conn.jsm.streams.update('INBOX', { ...inbox.config, duplicate_window: 200 * 1e6 });
    let w = await writer();
    const items = outbox(1, 4);
    await send(items);
    await w.flush();
    await w.stop();
    // What the previous version left: `inboxCreated`, a bounded `dedupe` memory, no id index.
    const stored = await loadPosition(buckets.actors);
    const { inboxIncarnation: _i, idsUpTo: _u, chained: _c, ...legacy } = stored.position!;
    await buckets.actors.put(WRITER_KV_KEY, encode({ ...legacy, inboxCreated: '2026-11-30T10:00:00Z', dedupe: { producers: [], recent: [] }, writer: 'old' }));
    for await (const k of await buckets.audit.keys()) await buckets.audit.delete(k);
    await untilDedupeForgets(conn.js, 'inbox.probe.dedupe');
    w = await writer();
    await send([items[1]!, { req: request(5), id: 'phase:R101.HEAT:5:0' }]); // an old id past the window, and a new one
    await w.flush();
    const entries = requestsOf(await trail());
    expect(entries.map((e) => e.src?.msgId ?? e.action)).toEqual([...items.map((o) => o.id), 'audit.position.migrated', 'phase:R101.HEAT:5:0']);
    const migrated = entries.find((e) => e.action === 'audit.position.migrated')!;
    expect(migrated.after).toMatchObject({ indexedEntries: 4, duplicatesFound: 0, inboxCreated: '2026-11-30T10:00:00Z' });
    expect((await verifyAudit(conn.jsm, { [key.keyId]: key.publicKeyPem })).ok).toBe(true);
  });

  it('refuses to start when its position is past the end of INBOX, instead of resetting it', async () => {
    const w = await writer();
    await send(outbox(1, 2));
    await w.flush();
    await w.stop();
    const stored = await loadPosition(buckets.actors);
    await savePosition(buckets.actors, { ...stored.position!, lastInboxSeq: 10_000 }, stored.revision, 'test');
    await expect(writer()).rejects.toMatchObject({ code: 'ERR_AUDIT_POSITION_BEYOND_STREAM' });
  });
});

