import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputEnvelope } from '../../actors/envelope.ts';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import type { DeadLetter } from '../../nats/dlq.ts';
import { encodeId } from '../../nats/ids.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { frameKeys } from '../../src/context/frame-store.ts';
import { startIngest, type Ingest, type IngestOptions } from '../../src/context/ingest.ts';
import { listFrames, listSources } from '../../src/context/queries.ts';
import { decodeRecord, recordKey } from '../../src/context/source-record.ts';
import { Metrics } from '../../src/metrics.ts';
import { connectTest, startTestNats, type TestConn } from '../helpers/nats.ts';

type Nats = Awaited<ReturnType<typeof startTestNats>>;
type Conn = TestConn;

const T0 = 1_700_000_000_000;
const TT = 'R201.TT01.PV';
let server: Nats;
let conn: Conn;
let buckets: Buckets;
let config: PlantConfig;
const open: { ingests: Ingest[]; conns: NatsConnection[] } = { ingests: [], conns: [] };

const connectTo = (): Promise<Conn> => connectTest(server.url, open.conns);

beforeEach(async () => {
  server = await startTestNats();
  conn = await connectTo();
  await ensureStreams(conn.jsm);
  buckets = await ensureBuckets(conn.nc);
  config = loadConfig('config');
});

afterEach(async () => {
  for (const i of open.ingests.splice(0)) await i.stop().catch(() => undefined);
  for (const nc of open.conns.splice(0)) if (!nc.isClosed()) await nc.close();
  await server.stop();
});

async function ingest(o: Partial<IngestOptions> = {}, c: Conn = conn): Promise<Ingest & { metrics: Metrics }> {
  const metrics = o.metrics ?? new Metrics();
  const b = c === conn ? buckets : await ensureBuckets(c.nc);
  const i = await startIngest({ ...c, buckets: b, config, metrics, tickMs: 50, ...o });
  open.ingests.push(i);
  return Object.assign(i, { metrics });
}

type S = [tag: string, v: number | boolean | string, ts: number, q?: 'good' | 'uncertain' | 'bad'];
function body(src: string, epoch: string, seq: number, samples: S[], extra: Record<string, unknown> = {}) {
  const list = samples.map(([tag, v, ts, q]) => ({ tag, v, q: q ?? 'good', ts }));
  return { src, epoch, seq, sent: Date.now(), samples: list, ...extra };
}
async function tlm(seq: number, samples: S[], o: { src?: string; epoch?: string; hist?: boolean; msgId?: string } = {}) {
  const src = o.src ?? 'line2';
  const epoch = o.epoch ?? 'e1';
  const data = encode(body(src, epoch, seq, samples, o.hist ? { hist: true } : {}));
  return conn.js.publish(subjects.telemetry(src), data, { msgID: o.msgId ?? `${src}:${epoch}:${seq}` });
}
async function context(unit: string, seq: number, at: number, extra: Record<string, unknown> = {}) {
  const ctx = { unit, contextId: `ctx-${seq}`, batchId: 'B1', specVersion: 1, seq, at, ...extra };
  await conn.js.publish(subjects.context(unit), encode(ctx));
}
async function phase(id: string, seq: number, from: string, to: string, at: number) {
  await conn.js.publish(subjects.event('phase', id), encode({ actor: id, type: 'phase', from, to, event: 'x', at, seq }));
}
async function deadLetters(): Promise<DeadLetter[]> {
  const last = (await conn.jsm.streams.info('DEADLETTER')).state.last_seq;
  const out: DeadLetter[] = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await conn.jsm.streams.getMessage('DEADLETTER', { seq });
    if (m) out.push(decode(m.data) as DeadLetter);
  }
  return out;
}
async function record(src = 'line2') {
  return decodeRecord((await buckets.ingest.get(recordKey(src)))?.value ?? undefined)!;
}
const byKind = async (kind: string) => (await listFrames(buckets, { unit: 'R201', kind }))[0]!;


describe('contextualiser ingest', () => {
  it('attaches samples to the frames that enclose their source time, once per frame (phase in operation in batch)', async () => {
    const i = await ingest();
    await context('R201', 1, T0, { unitProcedure: 'UP1', operation: 'OP1' });
    await phase('R201.HEAT', 10, 'Idle', 'Running', T0 + 100);
    await phase('R201.HEAT', 11, 'Running', 'Complete', T0 + 200);
    await i.idle();
    await tlm(1, [[TT, 1, T0 - 50], [TT, 2, T0 + 50], [TT, 4, T0 + 150], [TT, 8, T0 + 250]]);
    await i.idle();
    await context('R201', 2, T0 + 300, { released: true });
    await i.idle();
    await tlm(2, [[TT, 16, T0 + 350]]);
    await i.idle();

    for (const kind of ['batch', 'unitProcedure', 'operation']) {
      const f = await byKind(kind);
      expect(f).toMatchObject({ batchId: 'B1', startMs: T0, endMs: T0 + 300, late: 0 });
      expect(f.tags[TT]).toMatchObject({ count: 3, min: 2, max: 8, first: 2, last: 8, bad: 0 });
      // from the first sample in the frame, each value holding until the next one and the last until the end
      expect(f.tags[TT]!.twa).toBeCloseTo((2 * 100 + 4 * 100 + 8 * 50) / 250);
    }
    const ph = await byKind('phase');
    expect(ph).toMatchObject({ phase: 'R201.HEAT', startMs: T0 + 100, endMs: T0 + 200, start: new Date(T0 + 100).toISOString() });
    expect(ph.tags[TT]).toMatchObject({ count: 1, first: 4, twa: 4 });
    // closed frames the source has moved past leave the source record for agg.* keys
    expect((await record()).frames).toEqual({});
    expect(await buckets.frames.get(frameKeys.aggregate(ph.id, 'line2'))).not.toBeNull();
  });

  it('applies replayed backlog interleaved with live data once, fills the gap, and rejects a re-sent duplicate', async () => {
    const i = await ingest();
    await context('R201', 1, T0);
    await i.idle();
    for (const seq of [1, 2, 3, 7, 8, 9]) await tlm(seq, [[TT, seq, T0 + seq * 10]]);
    await i.idle();
    let [line2] = (await listSources(buckets, config, i.live)).filter((s) => s.id === 'line2');
    expect(line2!.gaps).toMatchObject({ pending: 1, lost: 0, ranges: [{ epoch: 'e1', from: 4, to: 6, status: 'pending' }] });
    for (const [seq, hist] of [[10, false], [4, true], [11, false], [5, true], [12, false], [6, true]] as const) {
      await tlm(seq, [[TT, seq, T0 + seq * 10]], { hist });
    }
    await tlm(5, [[TT, 5, T0 + 50]], { hist: true, msgId: 'line2:e1:5:replayed-after-the-window' });
    await i.idle();
    [line2] = (await listSources(buckets, config, i.live)).filter((s) => s.id === 'line2');
    expect(line2).toMatchObject({ epoch: 'e1', lastSeq: 12, messages: 12, samples: 12, status: 'online' });
    expect(line2!.gaps).toMatchObject({ pending: 0, lost: 0, ranges: [] });
    expect((await byKind('batch')).tags[TT]).toMatchObject({ count: 12, min: 1, max: 12, first: 1, last: 12 });
    expect(i.metrics.get('phaseline_ingest_duplicates_total', { source: 'line2' })).toBe(1);
    expect(i.metrics.get('phaseline_dead_letters_total', { stream: 'TELEMETRY', reason: 'duplicate' })).toBe(1);
    const letters = (await deadLetters()).map((d) => [d.reason, d.msgId]);
    expect(letters).toEqual([['duplicate', 'line2:e1:5:replayed-after-the-window']]);
  });

  it('dead-letters malformed, invalid, oversized, unknown-source and unknown-tag messages and keeps going', async () => {
    const i = await ingest();
    const js = conn.js;
    await js.publish('tlm.line2', encode({ src: 'line2' }).slice(0, 5));
    const badQuality = { ...body('line2', 'e1', 1, []), samples: [{ tag: TT, v: 1, q: 'nice', ts: T0 }] };
    await js.publish('tlm.line2', encode(badQuality));
    await js.publish('tlm.line2', encode(body('line2', 'e1', 1, Array.from({ length: 10_001 }, (_, k): S => [TT, k, T0 + k]))));
    await js.publish('tlm.nowhere', encode(body('nowhere', 'e1', 1, [[TT, 1, T0]])));
    await js.publish('tlm.line2', encode(body('sim', 'e1', 1, [[TT, 1, T0]])));
    await tlm(1, [[TT, 1, T0], ['NO.SUCH.TAG', 2, T0]]);
    await tlm(2, [[TT, 3, T0 + 1]]);
    await i.idle();
    const letters = await deadLetters();
    const reasons = ['malformed', 'invalid', 'oversized', 'unknown_source', 'unknown_source', 'unknown_tag'];
    expect(letters.map((d) => d.reason)).toEqual(reasons);
    expect(letters[1]!.detail).toContain('samples.0.q');
    expect(decode(letters[5]!.data)).toMatchObject({ seq: 1, samples: [{ tag: 'NO.SUCH.TAG', v: 2 }] });
    expect(letters.every((d) => d.stream === 'TELEMETRY' && typeof d.streamSeq === 'number')).toBe(true);
    for (const reason of ['malformed', 'invalid', 'oversized', 'unknown_source', 'unknown_tag']) {
      const n = i.metrics.get('phaseline_dead_letters_total', { stream: 'TELEMETRY', reason });
      expect(n).toBe(reason === 'unknown_source' ? 2 : 1);
    }
    const rec = await record();
    expect(rec.messages).toBe(2);
    expect(rec.tags[TT]).toMatchObject({ v: 3, ts: T0 + 1 });
  });

  it('applies nothing twice when an instance commits but crashes before acknowledging', async () => {
    await context('R201', 1, T0);
    let armed = false;
    const first = await ingest({
      faults: {
        beforeAck: () => {
          if (armed) throw new Error('power cut');
        },
      },
    });
    await first.idle();
    armed = true;
    for (let seq = 1; seq <= 20; seq++) await tlm(seq, [[TT, seq, T0 + seq]]);
    await expect(first.idle()).rejects.toThrow(/simulated crash/);
    await first.stop();
    armed = false;
    const committed = (await record()).messages;
    expect(committed).toBeGreaterThan(0); // the first instance did commit

    const second = await ingest();
    for (let seq = 21; seq <= 25; seq++) await tlm(seq, [[TT, seq, T0 + seq]]);
    await second.idle();
    const rec = await record();
    expect(rec.messages).toBe(25);
    expect(rec.epochs['e1']!.ranges).toEqual([[1, 25]]);
    expect((await byKind('batch')).tags[TT]).toMatchObject({ count: 25, min: 1, max: 25 });
    expect(second.metrics.get('phaseline_ingest_redelivered_total', { source: 'line2' })).toBe(committed);
    expect(second.metrics.total('phaseline_dead_letters_total')).toBe(0);
  });

  it('applies every message once when a connection dies mid-stream or a crash hits before the commit', async () => {
    await context('R201', 1, T0);
    const c1 = await connectTo();
    const first = await ingest({ consumerName: 'contextualiser' }, c1);
    await first.idle();
    const publishing = (async () => {
      for (let seq = 1; seq <= 300; seq++) await tlm(seq, [[TT, seq, T0 + seq], ['R201.PT01.PV', 1, T0 + seq]]);
    })();
    await new Promise((r) => setTimeout(r, 30));
    await c1.nc.close(); // abrupt: whatever was in flight is neither committed nor acknowledged
    await first.stop().catch(() => undefined);
    await publishing;

    const crash = () => {
      throw new Error('crash before commit');
    };
    const second = await ingest({ faults: { beforeCommit: crash } }, await connectTo());
    await expect(second.idle()).rejects.toThrow(/simulated crash/);
    await second.stop();

    const third = await ingest({}, await connectTo());
    await third.idle();
    const rec = await record();
    expect(rec.messages).toBe(300);
    expect(rec.samples).toBe(600);
    expect(rec.epochs['e1']!.ranges).toEqual([[1, 300]]);
    expect((await byKind('batch')).tags[TT]).toMatchObject({ count: 300, min: 1, max: 300 });
    expect(third.metrics.get('phaseline_ingest_duplicates_total', { source: 'line2' })).toBe(0);
  });

  it('sends the phase actor a PLC_STATE input when a state tag changes, and the first one after a restart', async () => {
    const first = await ingest();
    const tag = 'R101.CHARGE.STATE';
    await tlm(1, [[tag, 'Idle', T0], [tag, 'Idle', T0 + 1]], { src: 'sim' });
    await tlm(2, [[tag, 'Running', T0 + 2], ['R101.TT01.PV', 20, T0 + 2]], { src: 'sim' });
    await tlm(3, [[tag, 'Running', T0 + 3]], { src: 'sim' });
    await first.idle();
    await first.stop();
    const second = await ingest();
    await tlm(4, [[tag, 'Running', T0 + 4]], { src: 'sim' }); // unchanged, but the first one this run: reconcile
    await tlm(5, [[tag, 'Running', T0 + 5]], { src: 'sim' });
    await second.idle();
    const subject = `inbox.phase.${encodeId('R101.CHARGE')}`;
    const last = (await conn.jsm.streams.info('INBOX')).state.last_seq;
    const inputs = [];
    for (let seq = 1; seq <= last; seq++) {
      const m = await conn.jsm.streams.getMessage('INBOX', { seq });
      if (m?.subject === subject) inputs.push({ id: m.header.get('Nats-Msg-Id'), env: decode(m.data) as InputEnvelope });
    }
    const input = (at: number, state: string) => ({ event: { type: 'PLC_STATE', at, state, by: 'plc:sim' } });
    expect(inputs).toEqual([
      { id: 'plc:sim:e1:1:R101.CHARGE.STATE', env: input(T0, 'Idle') },
      { id: 'plc:sim:e1:2:R101.CHARGE.STATE', env: input(T0 + 2, 'Running') },
      { id: 'plc:sim:e1:4:R101.CHARGE.STATE', env: input(T0 + 4, 'Running') },
    ]);
  });

  it('backfills a phase frame that opens after telemetry of its window was applied', async () => {
    const i = await ingest();
    await context('R201', 1, T0);
    await i.idle();
    await tlm(1, [[TT, 1, T0 + 10], [TT, 2, T0 + 20], [TT, 3, T0 + 30]]);
    await i.idle();
    await phase('R201.HEAT', 1, 'Idle', 'Running', T0 + 15); // started over HTTP while the telemetry was in flight
    await i.idle();
    expect((await byKind('phase')).tags[TT]).toMatchObject({ count: 2, first: 2, last: 3 });
    expect((await byKind('batch')).tags[TT]).toMatchObject({ count: 3 });
  });

  it('reloads committed state after a lost compare-and-set and still applies each message once', async () => {
    const i = await ingest();
    await context('R201', 1, T0);
    await i.idle();
    for (let seq = 1; seq <= 10; seq++) await tlm(seq, [[TT, seq, T0 + seq]]);
    await i.idle();
    const e = (await buckets.ingest.get(recordKey('line2')))!;
    await buckets.ingest.put(recordKey('line2'), e.value); // another writer touched the record: the next CAS fails
    for (let seq = 11; seq <= 20; seq++) await tlm(seq, [[TT, seq, T0 + seq]]);
    await i.idle();
    expect(i.metrics.get('phaseline_ingest_failures_total')).toBeGreaterThanOrEqual(1);
    const rec = await record();
    expect(rec.messages).toBe(20);
    expect((await byKind('batch')).tags[TT]).toMatchObject({ count: 20, min: 1, max: 20 });
  });

  it('keeps a gap pending while the edge reports buffered data and declares it lost after the timeout', async () => {
    let clock = Date.now();
    config = { ...config, sources: config.sources.map((s) => ({ ...s, gapLostAfterMs: 10_000 })) };
    const i = await ingest({ now: () => clock });
    const hb = (bufferDepth: number) =>
      conn.nc.publish(
        subjects.heartbeat('line2'),
        encode({ src: 'line2', epoch: 'e1', sent: clock - 40, bufferDepth, collector: 'ok' }),
      );
    hb(3);
    await tlm(1, [[TT, 1, T0]]);
    await tlm(5, [[TT, 5, T0 + 5]]);
    await conn.nc.flush();
    await i.idle();
    clock += 60_000;
    await i.idle();
    const gaps = async () => (await listSources(buckets, config, i.live, clock)).find((s) => s.id === 'line2')!;
    expect((await gaps()).gaps).toMatchObject({ pending: 1, missing: { pending: 3, lost: 0 } });
    expect(await gaps()).toMatchObject({ bufferDepth: 3, clockOffsetMs: 40, collector: 'ok' });
    hb(0);
    await conn.nc.flush();
    await new Promise((r) => setTimeout(r, 50));
    await i.idle();
    expect((await gaps()).gaps).toMatchObject({ pending: 0, lost: 1, ranges: [{ from: 2, to: 4, status: 'lost' }] });
    expect(i.metrics.get('phaseline_ingest_gaps', { source: 'line2', status: 'lost' })).toBe(1);
    conn.nc.publish(subjects.heartbeat('line2'), encode({ src: 'line2', bufferDepth: -1 }));
    await conn.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect((await deadLetters()).map((d) => [d.reason, d.subject])).toEqual([['invalid', 'hb.line2']]);
  });
});
