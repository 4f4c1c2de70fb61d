import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import type { DeadLetter } from '../../nats/dlq.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { startIngest, type Ingest } from '../../src/context/ingest.ts';
import { listFrames } from '../../src/context/queries.ts';
import { startSparkplugCollector, type SparkplugCollector } from '../../src/edge/sparkplug/collector.ts';
import { decodeState, edgeTopic, stateTopic } from '../../src/edge/sparkplug/topics.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestMqttBroker, type TestMqttBroker } from '../helpers/mqtt-broker.ts';
import { connectTest, startTestNats, type TestConn, type TestNats } from '../helpers/nats.ts';
import { SparkplugTestEdge, type EdgeMetricDef } from '../helpers/sparkplug-edge.ts';

const TT = 'R201.TT01.PV';
const PT = 'R201.PT01.PV';
const HOST = 'phaseline-test';
const R201: EdgeMetricDef[] = [
  { name: 'TT01/PV', alias: 1, type: 'Double', value: 20 },
  { name: 'PT01/PV', alias: 2, type: 'Double', value: 1 },
];
interface Tlm { src: string; epoch: string; seq: number; ctx?: Record<string, string>; samples: { tag: string; v: unknown; q: string; ts: number; hist?: boolean }[] }

let nats: TestNats;
let conn: TestConn;
let buckets: Buckets;
let broker: TestMqttBroker;
let ingest: Ingest;
let base: PlantConfig;
const conns: NatsConnection[] = [];
const open: { collectors: SparkplugCollector[]; edges: SparkplugTestEdge[]; dirs: string[] } = { collectors: [], edges: [], dirs: [] };
const T0 = Date.now() - 60_000;

function configFor(url: string, extra: Record<string, unknown> = {}): PlantConfig {
  const sources = base.sources.map((s) =>
    s.id === 'line2'
      ? { ...s, kind: 'mqtt' as const, endpoint: url, publishIntervalMs: 50, heartbeatIntervalMs: 200, sparkplug: { group: 'line2', hostId: HOST, reorderTimeoutMs: 400 }, ...extra }
      : s,
  );
  return { ...base, sources };
}

async function collector(o: { url?: string; extra?: Record<string, unknown>; metrics?: Metrics } = {}) {
  const varDir = await mkdtemp(join(tmpdir(), 'phaseline-sp-'));
  open.dirs.push(varDir);
  const metrics = o.metrics ?? new Metrics();
  const c = await startSparkplugCollector({ nc: conn.nc, config: configFor(o.url ?? broker.url, o.extra), sourceId: 'line2', varDir, metrics });
  open.collectors.push(c);
  return Object.assign(c, { metrics });
}

async function edge(o: { url?: string; ca?: string; node?: string } = {}) {
  const e = new SparkplugTestEdge({ url: o.url ?? broker.url, group: 'line2', node: o.node ?? 'edge1', hostId: HOST, devices: { R201 }, ...(o.ca ? { ca: o.ca } : {}) });
  open.edges.push(e);
  await e.connect();
  return e;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads a stream from a cursor with direct gets. */
async function readFrom<T>(stream: string, subject: string, from: number): Promise<T[]> {
  const out: T[] = [];
  for (let seq = from; ; ) {
    const m = await conn.jsm.direct.getMessage(stream, { seq, next_by_subj: subject }).catch(() => null);
    if (!m) return out;
    out.push(decode(m.data) as T);
    seq = m.seq + 1;
  }
}
const lastSeq = async (stream: string) => (await conn.jsm.streams.info(stream)).state.last_seq;
const telemetryCursor = async () => {
  const from = (await lastSeq('TELEMETRY')) + 1;
  return async () => (await readFrom<Tlm>('TELEMETRY', 'tlm.line2', from)).flatMap((m) => m.samples);
};
const deadLetterCursor = async () => {
  const from = (await lastSeq('DEADLETTER')) + 1;
  return () => readFrom<DeadLetter>('DEADLETTER', 'dlq.mqtt.>', from);
};

beforeAll(async () => {
  nats = await startTestNats();
  conn = await connectTest(nats.url, conns);
  await ensureStreams(conn.jsm);
  buckets = await ensureBuckets(conn.nc);
  broker = await startTestMqttBroker();
  base = loadConfig('config');
  ingest = await startIngest({ ...conn, buckets, config: configFor(broker.url), metrics: new Metrics(), tickMs: 50 });
  const ctx = { unit: 'R201', contextId: 'ctx-1', batchId: 'B-SP-1', specVersion: 1, seq: 1, at: T0 };
  await conn.js.publish(subjects.context('R201'), encode(ctx));
  await ingest.idle();
});

afterEach(async () => {
  for (const e of open.edges.splice(0)) await e.close();
  for (const c of open.collectors.splice(0)) await c.stop();
});

afterAll(async () => {
  await ingest?.stop();
  for (const nc of conns) if (!nc.isClosed()) await nc.close();
  await broker?.stop();
  await nats?.stop();
  for (const d of open.dirs) await rm(d, { recursive: true, force: true });
});

describe('Sparkplug B MQTT collector (primary host application)', () => {
  it('feeds R201 temperature and pressure from a Sparkplug B edge into tlm.line2 and the batch frame on R201', async () => {
    const read = await telemetryCursor();
    const hbs: Record<string, unknown>[] = [];
    const sub = conn.nc.subscribe(subjects.heartbeat('line2'), { callback: (_e, m) => void hbs.push(decode(m.data) as Record<string, unknown>) });
    const c = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    const t1 = Date.now();
    await e.ddata('R201', [{ name: 'TT01/PV', value: 61.5, timestamp: t1 }, { name: 'PT01/PV', value: 1.25, timestamp: t1 }]);
    await e.ddata('R201', [{ name: 'TT01/PV', value: 62.5, timestamp: t1 + 10, quality: 0 }]);
    const samples = await until('samples', async () => ((await read()).length >= 5 ? read() : undefined));
    expect(samples).toEqual([
      { tag: TT, v: 20, q: 'good', ts: expect.any(Number) },
      { tag: PT, v: 1, q: 'good', ts: expect.any(Number) },
      { tag: TT, v: 61.5, q: 'good', ts: t1 },
      { tag: PT, v: 1.25, q: 'good', ts: t1 },
      { tag: TT, v: 62.5, q: 'bad', ts: t1 + 10 },
    ]);
    const msgs = await readFrom<Tlm>('TELEMETRY', 'tlm.line2', 1);
    expect(msgs.at(-1)!.ctx).toEqual({ R201: 'ctx-1' });
    await ingest.idle();
    const [batch] = await listFrames(buckets, { unit: 'R201', kind: 'batch' });
    expect(batch).toMatchObject({ batchId: 'B-SP-1' });
    // a bad sample is counted as bad and kept out of the statistics (the ingest's rule)
    expect(batch!.tags[TT]).toMatchObject({ count: 3, min: 20, max: 61.5, first: 20, last: 61.5, bad: 1 });
    expect(batch!.tags[PT]).toMatchObject({ count: 2, last: 1.25 });
    await until('an ok heartbeat', () => hbs.some((h) => h.collector === 'ok'));
    sub.unsubscribe();
    expect(c.metrics.get('phaseline_sparkplug_messages_total', { src: 'line2', type: 'DDATA' })).toBe(2);
  });

  it('reorders DDATA that arrives out of order within the reorder timeout, without a rebirth', async () => {
    const read = await telemetryCursor();
    const c = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    const t = Date.now();
    const a = e.prepare('R201', [{ name: 'TT01/PV', value: 30, timestamp: t }]);
    const b = e.prepare('R201', [{ name: 'TT01/PV', value: 31, timestamp: t + 1 }]);
    await e.send(b);
    await new Promise((r) => setTimeout(r, 100));
    await e.send(a);
    const got = await until('reordered', async () => ((await read()).filter((s) => s.v === 30 || s.v === 31).length === 2 ? read() : undefined));
    expect(got.filter((s) => s.tag === TT).map((s) => s.v).slice(-2)).toEqual([30, 31]);
    await new Promise((r) => setTimeout(r, 500));
    expect(c.metrics.total('phaseline_sparkplug_rebirth_requests_total')).toBe(0);
    expect(e.rebirthRequests).toBe(0);
  });

  it('waits the reorder timeout on a seq gap, requests a rebirth, and recovers', async () => {
    const read = await telemetryCursor();
    const c = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    const t = Date.now();
    const a = e.prepare('R201', [{ name: 'TT01/PV', value: 40, timestamp: t }]);
    e.prepare('R201', [{ name: 'TT01/PV', value: 41, timestamp: t + 1 }]); // dropped on the way
    const cc = e.prepare('R201', [{ name: 'TT01/PV', value: 42, timestamp: t + 2 }]);
    await e.send(a);
    await e.send(cc);
    await until('rebirth request', () => e.rebirthRequests >= 1);
    await until('rebirth', () => e.births >= 2);
    expect(c.metrics.get('phaseline_sparkplug_rebirth_requests_total', { src: 'line2', reason: 'seq_gap' })).toBe(1);
    expect(c.metrics.get('phaseline_sparkplug_seq_lost_total', { src: 'line2', node: 'edge1' })).toBe(1);
    await e.ddata('R201', [{ name: 'TT01/PV', value: 43, timestamp: t + 3 }]);
    const vs = await until('recovered', async () => {
      const v = (await read()).filter((s) => s.tag === TT).map((s) => s.v);
      return v.includes(43) ? v : undefined;
    });
    expect(vs).toEqual([20, 40, 42, 20, 43]); // birth, data, held data after the timeout, rebirth, data
  });

  it('marks R201 tags bad on NDEATH with the matching bdSeq and dead-letters a stale NDEATH', async () => {
    const read = await telemetryCursor();
    const letters = await deadLetterCursor();
    await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    await e.ddata('R201', [{ name: 'TT01/PV', value: 55, timestamp: Date.now() }]);
    await until('data', async () => (await read()).some((s) => s.v === 55));
    await e.death(e.bdSeq + 7);
    await until('stale death letter', async () => (await letters()).some((d) => d.reason === 'stale_death'));
    await e.death();
    const bad = await until('bad samples', async () => {
      const s = (await read()).filter((x) => x.q === 'bad');
      return s.length >= 2 ? s : undefined;
    });
    expect(bad.map((s) => [s.tag, s.v]).sort()).toEqual([[PT, 1], [TT, 55]]);
  });

  it('publishes its STATE online retained with the will timestamp and offline on stop', async () => {
    const c = await collector();
    await until('connected', () => c.host.connected);
    const online = await until('online STATE', async () => {
      const s = decodeState((await broker.retained(stateTopic(HOST))) ?? Buffer.from(''));
      return s?.online ? s : undefined;
    });
    await c.stop();
    const offline = decodeState((await broker.retained(stateTopic(HOST)))!);
    expect(offline).toEqual({ online: false, timestamp: online.timestamp });
  });

  it('when the host connection dies the broker publishes its STATE will (offline) and the host comes back online with a newer timestamp', async () => {
    const read = await telemetryCursor();
    const c = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    const from = broker.published.length;
    expect(broker.kick(`phaseline-${HOST}-`)).toBe(1);
    await until('host offline at the edge', () => !e.hostOnline);
    const t = Date.now();
    await e.ddata('R201', [{ name: 'TT01/PV', value: 77, timestamp: t }]); // buffered at the edge
    await until('reconnected', () => c.host.connected && e.hostOnline);
    const states = broker.published.slice(from).filter((p) => p.topic === stateTopic(HOST)).map((p) => decodeState(p.payload)!);
    expect(states[0]!.online).toBe(false);
    expect(states.at(-1)!.online).toBe(true);
    expect(states.at(-1)!.timestamp).toBeGreaterThan(states[0]!.timestamp);
    await until('flushed', async () => (await read()).some((s) => s.v === 77 && s.hist === true && s.ts === t));
    expect(e.births).toBe(2);
  });

  it('an edge buffers while the host is offline and flushes the buffer as historical samples once it is online', async () => {
    const read = await telemetryCursor();
    const first = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    await first.stop();
    await until('host offline at the edge', () => !e.hostOnline);
    const t = Date.now();
    await e.ddata('R201', [{ name: 'TT01/PV', value: 70, timestamp: t }]);
    await e.ddata('R201', [{ name: 'TT01/PV', value: 71, timestamp: t + 5 }]);
    expect(e.buffered).toBe(2);
    await collector();
    const hist = await until('historical', async () => {
      const h = (await read()).filter((s) => s.hist);
      return h.length >= 2 ? h : undefined;
    });
    expect(hist).toEqual([
      { tag: TT, v: 70, q: 'good', ts: t, hist: true },
      { tag: TT, v: 71, q: 'good', ts: t + 5, hist: true },
    ]);
  });

  it('dead-letters a malformed payload, an unknown alias and data before birth with their reasons and keeps going', async () => {
    const letters = await deadLetterCursor();
    const read = await telemetryCursor();
    const c = await collector();
    const e = await edge();
    await until('births', () => e.births >= 1);
    await e.raw(edgeTopic('line2', 'DDATA', 'edge1', 'R201'), new Uint8Array([0xff, 0xff, 0xff, 1, 2]));
    await e.send(e.prepare('R201', [{ name: 'XX99/PV', value: 1, alias: 99 }]));
    const stranger = await edge({ node: 'edge9' });
    await stranger.raw(edgeTopic('line2', 'NDATA', 'edge9'), new Uint8Array(0));
    await until('rebirth of edge9', () => stranger.rebirthRequests >= 1);
    const got = await until('letters', async () => {
      const l = await letters();
      return l.length >= 3 ? l : undefined;
    });
    expect(got.map((l) => l.reason).sort()).toEqual(['before_birth', 'malformed', 'unknown_alias']);
    expect(got.find((l) => l.reason === 'malformed')!.detail).toContain('spBv1.0/line2/DDATA/edge1/R201');
    expect(c.metrics.get('phaseline_sparkplug_rejected_total', { src: 'line2', reason: 'malformed' })).toBe(1);
    expect(c.metrics.get('phaseline_dead_letters_total', { stream: 'core', reason: 'unknown_alias' })).toBe(1);
    // the collector keeps going: the next value still arrives (the malformed message did not take a seq)
    await e.ddata('R201', [{ name: 'TT01/PV', value: 88, timestamp: Date.now() }]);
    await until('after bad input', async () => (await read()).some((s) => s.v === 88));
  });
});

describe('Sparkplug B MQTT collector over TLS', () => {
  let tlsBroker: TestMqttBroker;
  beforeAll(async () => {
    tlsBroker = await startTestMqttBroker({ tls: true });
  });
  afterAll(async () => {
    await tlsBroker?.stop();
  });

  it('connects with mqtts:// and the CA from tls.caFile, and does not connect without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phaseline-sp-ca-'));
    open.dirs.push(dir);
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, tlsBroker.caPem!);
    const read = await telemetryCursor();
    const c = await collector({ url: tlsBroker.url, extra: { tls: { caFile } } });
    const e = await edge({ url: tlsBroker.url, ca: tlsBroker.caPem! });
    await until('births over TLS', () => e.births >= 1);
    expect(c.host.connected).toBe(true);
    await e.ddata('R201', [{ name: 'PT01/PV', value: 2.5, timestamp: Date.now() }]);
    await until('TLS samples', async () => (await read()).some((s) => s.tag === PT && s.v === 2.5));

    const untrusted = await collector({ url: tlsBroker.url });
    await new Promise((r) => setTimeout(r, 1000));
    expect(untrusted.host.connected).toBe(false);
  });
});
