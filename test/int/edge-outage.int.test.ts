import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { startIngest, type Ingest } from '../../src/context/ingest.ts';
import { listFrames } from '../../src/context/queries.ts';
import { provisionDemoPki } from '../../src/edge/opcua-pki.ts';
import { startPlcSimulator, type PlcSimulator } from '../../src/edge/plc-simulator.ts';
import { Metrics } from '../../src/metrics.ts';
import { readTruth, startEdgeProcess, type EdgeProcess, type TruthLine } from '../helpers/edge-process.ts';
import { startTestNats, type TestConn, type TestNats } from '../helpers/nats.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { brokerUsers, ensureNatsCredentials, runtimeUser } from '../../src/broker/credentials.ts';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';

/**
 * Store-and-forward under real faults (issue "Store-and-forward"): a real nats-server killed and restarted, the PLC
 * simulator (real OPC UA server) producing data throughout, the edge as its own process (`src/edge/main.ts`), and
 * the runtime's ingest computing event frames. Ground truth: the edge's own log of every message durable in its
 * buffer (what the collector acknowledged).
 */
interface Tlm extends TruthLine {
  hist?: boolean;
  sent: number;
}

const OUTAGE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let nats: TestNats;
let conn: TestConn;
let buckets: Buckets;
let config: PlantConfig;
let ingest: Ingest;
let sim: PlcSimulator;
let varDir: string;
let ctxSeq = 0;
const conns: NatsConnection[] = [];
const edges: EdgeProcess[] = [];

beforeAll(async () => {
  // The broker as the runtime runs it: per-source users (the edge process finds var/nats/edge-sim.json), runtime user.
  config = loadConfig('config');
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-edge-outage-'));
  const users = await ensureNatsCredentials(varDir, config.sources.map((s) => s.id));
  nats = await startTestNats({ users: brokerUsers(users, config) });
  const runtime = runtimeUser(users);
  // Reconnect forever (the product's options): the test's own connection must outlive the 30 s outage.
  const nc = await connectNats(nats.url, { name: 'test', highRate: true, user: runtime.user, pass: runtime.password });
  conns.push(nc);
  conn = { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
  await ensureStreams(conn.jsm);
  buckets = await ensureBuckets(conn.nc);
  ingest = await startIngest({ ...conn, buckets, config, metrics: new Metrics(), tickMs: 100 });
  await provisionDemoPki(varDir);
  sim = await startPlcSimulator({ config, varDir, timing: { runningMs: 4000, transientMs: 300 } });
});

afterAll(async () => {
  for (const e of edges) await e.kill().catch(() => undefined);
  await ingest?.stop().catch(() => undefined);
  await sim?.stop().catch(() => undefined);
  for (const nc of conns) await nc.close().catch(() => undefined);
  await nats?.stop();
  await rm(varDir, { recursive: true, force: true });
});

function edge(truthFile: string): EdgeProcess {
  const e = startEdgeProcess({ natsUrl: nats.url, endpoint: sim.endpoint, varDir, truthFile });
  edges.push(e);
  return e;
}

async function context(batchId: string, at: number, released = false): Promise<void> {
  const seq = ++ctxSeq;
  const ctx = { unit: 'R101', contextId: `ctx-${seq}`, batchId, specVersion: 1, seq, at, ...(released ? { released } : {}) };
  await conn.js.publish(subjects.context('R101'), encode(ctx));
}

/** Every stored message of `tlm.sim`, in stream order. */
async function stored(): Promise<Tlm[]> {
  const out: Tlm[] = [];
  for (let seq = 1; ; ) {
    const m = await conn.jsm.direct.getMessage('TELEMETRY', { seq, next_by_subj: subjects.telemetry('sim') }).catch(() => null);
    if (!m) return out;
    out.push(decode(m.data) as Tlm);
    seq = m.seq + 1;
  }
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await probe()); await sleep(200)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

const key = (m: { epoch: string; seq: number }) => `${m.epoch}:${m.seq}`;

/** Every truth message is stored exactly once with the same samples; returns the stored ones by key. */
function expectExactlyOnce(truth: TruthLine[], all: Tlm[]): Map<string, Tlm> {
  const byKey = new Map<string, Tlm[]>();
  for (const m of all) byKey.set(key(m), [...(byKey.get(key(m)) ?? []), m]);
  const missing = truth.filter((t) => !byKey.has(key(t))).map(key);
  const doubled = truth.filter((t) => (byKey.get(key(t))?.length ?? 0) > 1).map(key);
  expect({ missing, doubled }).toEqual({ missing: [], doubled: [] });
  for (const t of truth) expect(byKey.get(key(t))![0]!.samples).toEqual(t.samples);
  return new Map([...byKey].map(([k, v]) => [k, v[0]!]));
}

/** The batch frame's per-tag aggregates equal those computed from the ground truth samples in its window. */
async function expectFramesMatch(batchId: string, truth: TruthLine[]): Promise<number> {
  const [frame] = await listFrames(buckets, { unit: 'R101', kind: 'batch', batch: batchId });
  expect(frame).toBeDefined();
  const inside = truth.flatMap((t) => t.samples).filter((s) => s.ts >= frame!.startMs && s.ts < frame!.endMs!);
  const tags = new Map<string, typeof inside>();
  for (const s of inside) tags.set(s.tag, [...(tags.get(s.tag) ?? []), s]);
  for (const [tag, list] of tags) {
    const nums = list.filter((s) => s.q === 'good' && typeof s.v === 'number').map((s) => s.v as number);
    const got = frame!.tags[tag];
    expect({ tag, count: got?.count }).toEqual({ tag, count: list.length });
    if (nums.length > 0) {
      expect({ tag, min: got!.min, max: got!.max }).toEqual({ tag, min: Math.min(...nums), max: Math.max(...nums) });
      expect(got!.mean).toBeCloseTo(nums.reduce((a, b) => a + b, 0) / nums.length, 6);
    }
  }
  return inside.length;
}

describe('edge store-and-forward under faults (real nats-server, OPC UA simulator, edge process)', () => {
  it('delivers every collected sample exactly once after NATS is down for 30 s, replayed ones marked hist, frames equal the ground truth', async () => {
    const truthFile = join(varDir, 'truth-a.jsonl');
    const start = Date.now();
    await context('B-OUTAGE', start);
    const e = edge(truthFile);
    await e.ready;
    await until('live telemetry', async () => (await stored()).length >= 4);

    nats.kill();
    const downAt = Date.now();
    await sleep(OUTAGE_MS);
    const upAt = Date.now();
    await nats.restart();
    const replayed = async () => {
      const keys = new Set((await stored()).map(key));
      return (await readTruth(truthFile)).every((t) => keys.has(key(t)));
    };
    await until('the backlog replayed while live data flows', replayed, 30_000);
    const replayedIn = Date.now() - upAt;
    await sleep(2000);
    expect(await e.stop()).toBe(0);
    await until('the last live messages', replayed, 5000);
    const truth = await readTruth(truthFile);
    expect(replayedIn).toBeLessThan(30_000);
    const all = await stored();
    const byKey = expectExactlyOnce(truth, all);
    // Sealed while NATS was down (with a margin for the kill to be noticed): published only from the disk buffer.
    const outage = [...byKey.values()].filter((m) => m.sent > downAt + 6000 && m.sent < upAt - 1000);
    expect(outage.length).toBeGreaterThan(OUTAGE_MS / 1000);
    expect(outage.filter((m) => m.hist !== true).map(key)).toEqual([]);
    expect([...byKey.values()].filter((m) => m.sent > upAt + replayedIn + 1000 && m.hist).map(key)).toEqual([]);
    // Source times are the PLC's, never the replay's.
    const outageSamples = outage.flatMap((m) => m.samples);
    expect(outageSamples.every((s) => s.ts < upAt)).toBe(true);

    await context('B-OUTAGE', Math.max(...truth.flatMap((t) => t.samples.map((s) => s.ts))) + 1, true);
    await until('ingest idle', async () => (await ingest.idle(), true), 30_000);
    const counted = await expectFramesMatch('B-OUTAGE', truth);
    expect(counted).toBeGreaterThan(100);
  }, 120_000);

  it('loses nothing acknowledged when the edge is killed with SIGKILL while buffering and restarted before NATS returns', async () => {
    const truthFile = join(varDir, 'truth-b.jsonl');
    const before = new Set((await stored()).map(key));
    await context('B-KILL', Date.now());
    let e = edge(truthFile);
    await e.ready;
    await until('live telemetry', async () => (await stored()).length >= before.size + 4);
    nats.kill();
    await sleep(5000);
    const buffered = (await readTruth(truthFile)).length;
    await e.kill();
    e = edge(truthFile); // comes up while NATS is still down: collects on top of the backlog the buffer on disk holds
    await e.ready;
    await sleep(2000);
    await nats.restart();
    await e.attached;
    await sleep(3000);
    expect(await e.stop()).toBe(0);

    const truth = await readTruth(truthFile);
    expect(truth.length).toBeGreaterThan(buffered);
    await until('the backlog replayed', async () => {
      const keys = new Set((await stored()).map(key));
      return truth.every((t) => keys.has(key(t)));
    });
    const all = (await stored()).filter((m) => !before.has(key(m)));
    expectExactlyOnce(truth, all);
    await context('B-KILL', Math.max(...truth.flatMap((t) => t.samples.map((s) => s.ts))) + 1, true);
    await ingest.idle();
    expect(await expectFramesMatch('B-KILL', truth)).toBeGreaterThan(20);
  }, 90_000);

  it('collects into the disk buffer when started while NATS is down, then delivers it all once, hist, frames equal the ground truth', async () => {
    const truthFile = join(varDir, 'truth-c.jsonl');
    const before = new Set((await stored()).map(key));
    await context('B-COLD', Date.now());
    nats.kill();
    const e = edge(truthFile); // a fresh process that has never reached NATS
    await e.ready;
    await until('collection while NATS is down', async () => (await readTruth(truthFile)).length >= 6, 15_000);
    const grown = (await readTruth(truthFile)).length;
    await sleep(2000);
    expect((await readTruth(truthFile)).length).toBeGreaterThan(grown); // still collecting, not stuck
    const upAt = Date.now();
    await nats.restart();
    await e.attached;
    const replayed = async () => {
      const keys = new Set((await stored()).map(key));
      return (await readTruth(truthFile)).every((t) => keys.has(key(t)));
    };
    await until('the backlog replayed while live data flows', replayed);
    await sleep(2000);
    expect(await e.stop()).toBe(0);
    await until('the last live messages', replayed, 5000);

    const truth = await readTruth(truthFile);
    const byKey = expectExactlyOnce(truth, (await stored()).filter((m) => !before.has(key(m))));
    // Sealed before NATS came back: only in the disk buffer, published as history; no context stamp was known yet.
    const offline = [...byKey.values()].filter((m) => m.sent < upAt);
    expect(offline.length).toBeGreaterThan(grown - 1);
    expect(offline.filter((m) => m.hist !== true).map(key)).toEqual([]);
    expect(offline.filter((m) => (m as { ctx?: unknown }).ctx !== undefined).map(key)).toEqual([]);
    await context('B-COLD', Math.max(...truth.flatMap((t) => t.samples.map((s) => s.ts))) + 1, true);
    await ingest.idle();
    expect(await expectFramesMatch('B-COLD', truth)).toBeGreaterThan(20);
  }, 60_000);
});
