import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { startIngest, type Ingest } from '../../src/context/ingest.ts';
import { frameLineage, messageLineage } from '../../src/context/lineage-query.ts';
import { dictionaryVersion } from '../../src/context/lineage.ts';
import { listFrames, listSources, type FrameView } from '../../src/context/queries.ts';
import { decodeRecord, recordKey } from '../../src/context/source-record.ts';
import { recordRoutes } from '../../src/http/routes/records.routes.ts';
import { Metrics } from '../../src/metrics.ts';
import * as h from '../helpers/http-app.ts';
import { connectTest, startTestNats, type TestConn } from '../helpers/nats.ts';

const T0 = 1_700_000_000_000;
const TT = 'R201.TT01.PV';
const PT = 'R201.PT01.PV';
let server: Awaited<ReturnType<typeof startTestNats>>;
let conn: TestConn;
let buckets: Buckets;
let config: PlantConfig;
let configDir: string;
const conns: NatsConnection[] = [];
const ingests: Ingest[] = [];

/** The demo plant with R201.PT01.PV read in mbar (node id given) and scaled to bar, and a 1 s skew tolerance. */
async function scaledConfig(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'phaseline-lineage-'));
  await cp('config', dir, { recursive: true });
  const tags = JSON.parse(await readFile(join(dir, 'tags.json'), 'utf8')) as Record<string, unknown>[];
  const pt = tags.find((t) => t['tag'] === PT)!;
  Object.assign(pt, { node: 'ns=2;s=R201/PT01.PV', rawUnit: 'mbar', scale: { factor: 0.001, offset: 0 } });
  await writeFile(join(dir, 'tags.json'), JSON.stringify(tags));
  const rt = JSON.parse(await readFile(join(dir, 'runtime.json'), 'utf8')) as Record<string, unknown>;
  rt['clock'] = { skewToleranceMs: 1000, window: 32 };
  await writeFile(join(dir, 'runtime.json'), JSON.stringify(rt));
  return dir;
}

beforeAll(async () => {
  configDir = await scaledConfig();
  config = loadConfig(configDir);
});
afterAll(async () => {
  await rm(configDir, { recursive: true, force: true });
});

beforeEach(async () => {
  server = await startTestNats();
  conn = await connectTest(server.url, conns);
  await ensureStreams(conn.jsm);
  buckets = await ensureBuckets(conn.nc);
});

afterEach(async () => {
  for (const i of ingests.splice(0)) await i.stop().catch(() => undefined);
  for (const nc of conns.splice(0)) if (!nc.isClosed()) await nc.close();
  await server.stop();
});

async function ingest(): Promise<Ingest & { metrics: Metrics }> {
  const metrics = new Metrics();
  const i = await startIngest({ ...conn, buckets, config, metrics, tickMs: 50 });
  ingests.push(i);
  return Object.assign(i, { metrics });
}

type S = [tag: string, v: number | boolean | string, ts: number];
async function tlm(seq: number, samples: S[], sent: number, extra: Record<string, unknown> = {}) {
  const body = { src: 'line2', epoch: 'e1', seq, sent, samples: samples.map(([tag, v, ts]) => ({ tag, v, q: 'good', ts })), ...extra };
  return conn.js.publish(subjects.telemetry('line2'), encode(body), { msgID: `line2:e1:${seq}` });
}
async function openFrames() {
  const ctx = { unit: 'R201', contextId: 'ctx-1', batchId: 'B1', specVersion: 1, seq: 1, at: T0, unitProcedure: 'UP1', operation: 'OP1' };
  await conn.js.publish(subjects.context('R201'), encode(ctx));
  await conn.js.publish(subjects.event('phase', 'R201.HEAT'), encode({ actor: 'R201.HEAT', type: 'phase', from: 'Idle', to: 'Running', event: 'x', at: T0 + 10, seq: 1 }));
}
const frameOf = async (kind: string): Promise<FrameView> => (await listFrames(buckets, { unit: 'R201', kind }, config))[0]!;

describe('clock supervision', () => {
  it('shows a skewed edge clock in /sources, annotates the frames, and leaves sample timestamps as sent', async () => {
    const i = await ingest();
    await openFrames();
    await i.idle();
    // the edge clock runs 10 s behind the runtime: receipt minus sent ≈ +10 s
    const hb = { src: 'line2', epoch: 'e1', sent: Date.now() - 10_000, bufferDepth: 3, collector: 'ok' };
    conn.nc.publish(subjects.heartbeat('line2'), encode(hb));
    for (let seq = 1; seq <= 5; seq++) await tlm(seq, [[TT, seq, T0 + 100 * seq]], Date.now() - 10_000);
    await i.idle();

    const src = (await listSources(buckets, config, i.live, Date.now(), i.clock)).find((s) => s.id === 'line2')!;
    expect(src.clock).toMatchObject({ skewed: true });
    expect(src.clock!.offsetMs).toBeGreaterThanOrEqual(10_000);
    expect(src.clock!.offsetMs).toBeLessThan(10_500);
    expect(src.clock!.since).not.toBeNull();
    expect(src.clockOffsetMs).toBe(src.clock!.offsetMs);
    expect(src).toMatchObject({ bufferDepth: 3, lastSeq: 5, duplicates: 0, gaps: { pending: 0, lost: 0 } });

    for (const kind of ['batch', 'phase']) {
      const f = await frameOf(kind);
      expect(f.annotations).toHaveLength(1);
      expect(f.annotations[0]).toMatchObject({ kind: 'clock_skew', source: 'line2', fromMs: T0 + 100, toMs: T0 + 500 });
      expect(f.annotations[0]!.offsetMs).toBeGreaterThanOrEqual(10_000);
      // never rewritten: the samples keep the source time the edge sent
      expect(f.tags[TT]).toMatchObject({ count: 5, first: 1, last: 5 });
    }
    const rec = decodeRecord((await buckets.ingest.get(recordKey('line2')))!.value)!;
    expect(rec.tags[TT]).toMatchObject({ v: 5, ts: T0 + 500 });
    const lin = await frameLineage({ buckets, jsm: conn.jsm, config }, (await frameOf('batch')).id, TT, T0 + 300);
    expect(lin!.samples).toHaveLength(1);
    expect(lin!.samples[0]).toMatchObject({ ts: T0 + 300, v: 3, clock: { skewed: true } });

    const metrics = i.metrics.render();
    expect(metrics).toMatch(/phaseline_source_clock_offset_seconds\{source="line2"\} 1\d(\.\d+)?\n/);
    expect(metrics).toMatch(/phaseline_source_clock_skewed\{source="line2"\} 1/);
    expect(metrics).toMatch(/phaseline_source_clock_drift_ratio\{source="line2"\}/);
    expect(metrics).toMatch(/phaseline_source_buffer_depth\{source="line2"\} 3/);
  });

  it('does not flag or annotate a source whose clock agrees, and counts duplicates in /sources', async () => {
    const i = await ingest();
    await openFrames();
    await i.idle();
    for (let seq = 1; seq <= 3; seq++) await tlm(seq, [[TT, seq, T0 + 100 * seq]], Date.now());
    // the same (src, epoch, seq) again under another Nats-Msg-Id (as after the broker's duplicate window)
    await conn.js.publish(subjects.telemetry('line2'), encode({ src: 'line2', epoch: 'e1', seq: 2, sent: Date.now(), samples: [] }), { msgID: 'again' });
    await i.idle();
    const src = (await listSources(buckets, config, i.live, Date.now(), i.clock)).find((s) => s.id === 'line2')!;
    expect(src.clock).toMatchObject({ skewed: false, since: null });
    expect(Math.abs(src.clock!.offsetMs)).toBeLessThan(500);
    expect(src.duplicates).toBe(1);
    expect((await frameOf('batch')).annotations).toEqual([]);
  });
});

describe('sample lineage', () => {
  it('traces a scaled sample in a frame to its raw value, node id, conversion, dictionary version and message', async () => {
    const i = await ingest();
    await openFrames();
    await i.idle();
    const sent = Date.now();
    const before = Date.now();
    await tlm(1, [[PT, 1500, T0 + 50], [TT, 20, T0 + 60]], sent, { ctx: { R201: 'ctx-1' }, dict: 'edge-dict-7' });
    await tlm(2, [[PT, 2500, T0 + 150]], sent);
    await i.idle();
    const after = Date.now();

    const batch = await frameOf('batch');
    // frames aggregate the normalised value (bar), and name the messages that fed them
    expect(batch.tags[PT]).toMatchObject({ count: 2, first: 1.5, last: 2.5 });
    expect(batch.messages).toEqual([{ src: 'line2', epoch: 'e1', seqs: [[1, 2]] }]);

    const store = { buckets, jsm: conn.jsm, config };
    const lin = await frameLineage(store, batch.id, PT, T0 + 50);
    expect(lin!.samples).toHaveLength(1);
    const s = lin!.samples[0]!;
    expect(s).toMatchObject({
      tag: PT,
      ts: T0 + 50,
      v: 1.5,
      q: 'good',
      raw: { v: 1500, node: 'ns=2;s=R201/PT01.PV', unit: 'mbar' },
      engUnit: 'bar',
      conversion: { kind: 'factor', factor: 0.001, offset: 0, rawUnit: 'mbar', engUnit: 'bar' },
      tagDictionaryVersion: dictionaryVersion(config.tags).version,
      configVersion: config.version,
      dictionaryEntry: { tag: PT, node: 'ns=2;s=R201/PT01.PV' },
      message: { msgId: 'line2:e1:1', src: 'line2', epoch: 'e1', seq: 1, sent, hist: false, ctx: { R201: 'ctx-1' }, samples: 2, edgeDictionaryVersion: 'edge-dict-7', original: 'retained' },
      clock: { skewed: false },
    });
    expect(s.message.receivedAt).toBeGreaterThanOrEqual(before);
    expect(s.message.receivedAt).toBeLessThanOrEqual(after);
    expect(s.message.streamSeq).toBeGreaterThan(0);

    // an unscaled tag: no conversion, the raw value is the value
    const tt = (await frameLineage(store, batch.id, TT, T0 + 60))!.samples[0]!;
    expect(tt).toMatchObject({ v: 20, raw: { v: 20, node: null, unit: '°C' }, conversion: null });

    // the lineage stays after the original message is gone from TELEMETRY (raw value kept for converted samples)
    await conn.jsm.streams.purge('TELEMETRY');
    const kept = (await messageLineage(store, 'line2', 'e1', 2, PT))!;
    expect(kept.message.original).toBe('expired');
    expect(kept.samples[0]).toMatchObject({ ts: T0 + 150, raw: { v: 2500 }, conversion: { factor: 0.001 } });

    // a sample time no message of the frame carries gives an empty chain
    expect((await frameLineage(store, batch.id, PT, T0 + 51))!.samples).toEqual([]);
  });

  it('names the messages of a frame opened after its samples were applied (backfill)', async () => {
    const i = await ingest();
    await tlm(1, [[PT, 1000, T0 + 20]], Date.now());
    await tlm(2, [[TT, 30, T0 + 40]], Date.now());
    await i.idle();
    await openFrames();
    await i.idle();
    const batch = await frameOf('batch');
    expect(batch.tags[PT]).toMatchObject({ count: 1, first: 1 });
    expect(batch.messages).toEqual([{ src: 'line2', epoch: 'e1', seqs: [[1, 2]] }]);
    const lin = await frameLineage({ buckets, jsm: conn.jsm, config }, batch.id, PT, T0 + 20);
    expect(lin!.samples[0]).toMatchObject({ v: 1, raw: { v: 1000 }, message: { seq: 1 } });
  });

  it('answers GET /frames/:id/lineage and GET /lineage with records.read, 404 for an unknown frame', async () => {
    const fx = await h.startHttpFixture();
    try {
      const c = await connectTest(fx.server.url, conns);
      await ensureStreams(c.jsm);
      const b = await ensureBuckets(c.nc);
      const i = await startIngest({ ...c, buckets: b, config, metrics: new Metrics(), tickMs: 50 });
      ingests.push(i);
      const ctx = { unit: 'R201', contextId: 'ctx-1', batchId: 'B1', specVersion: 1, seq: 1, at: T0 };
      await c.js.publish(subjects.context('R201'), encode(ctx));
      await i.idle();
      const body = { src: 'line2', epoch: 'e1', seq: 1, sent: Date.now(), samples: [{ tag: PT, v: 999, q: 'good', ts: T0 + 5 }] };
      await c.js.publish(subjects.telemetry('line2'), encode(body), { msgID: 'line2:e1:1' });
      await i.idle();
      const store = { buckets: b, jsm: c.jsm, config };
      const { app } = await h.testApp(fx, {}, (a) =>
        recordRoutes(a, {
          config, jsm: c.jsm, metrics: new Metrics(), publicKeys: () => ({}) as never,
          sources: () => listSources(b, config, i.live, Date.now(), i.clock),
          frames: (f) => listFrames(b, f, config),
          lineage: {
            frame: (id, tag, ts) => frameLineage(store, id, tag, ts),
            message: (src, epoch, seq, tag, ts) => messageLineage(store, src, epoch, seq, tag, ts),
          },
        }),
      );
      const qa = await h.bearer(fx, app, 'qa');
      const frames = (await app.inject({ method: 'GET', url: '/api/v1/frames?unit=R201&kind=batch', headers: qa })).json();
      const id = frames[0].id as string;
      const url = `/api/v1/frames/${encodeURIComponent(id)}/lineage?tag=${PT}&ts=${new Date(T0 + 5).toISOString()}`;
      const res = await app.inject({ method: 'GET', url, headers: qa });
      expect(res.statusCode).toBe(200);
      expect(res.json().samples[0]).toMatchObject({ v: 0.999, raw: { v: 999 }, message: { msgId: 'line2:e1:1' } });
      const byMsg = await app.inject({ method: 'GET', url: `/api/v1/lineage?src=line2&epoch=e1&seq=1&tag=${PT}`, headers: qa });
      expect(byMsg.json().samples[0]).toMatchObject({ ts: T0 + 5, raw: { v: 999 } });
      expect((await app.inject({ method: 'GET', url: `/api/v1/frames/nope/lineage?tag=${PT}&ts=1`, headers: qa })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: `/api/v1/lineage?src=line2&epoch=e1&seq=9`, headers: qa })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: `/api/v1/frames/${id}/lineage?tag=${PT}&ts=soon`, headers: qa })).statusCode).toBe(400);
      expect((await app.inject({ method: 'GET', url: `/api/v1/lineage?src=line2&epoch=e1&seq=1` })).statusCode).toBe(401);
      const doc = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
      expect(doc.statusCode).toBe(200);
      expect(Object.keys(doc.json().paths)).toEqual(expect.arrayContaining(['/api/v1/frames/{id}/lineage', '/api/v1/lineage']));
      const sources = (await app.inject({ method: 'GET', url: '/api/v1/sources', headers: qa })).json();
      expect(sources.find((s: { id: string }) => s.id === 'line2')).toMatchObject({ clock: { skewed: false }, duplicates: 0 });
      await app.close();
    } finally {
      for (const i of ingests.splice(0)) await i.stop().catch(() => undefined);
      await fx.stop();
    }
  });
});
