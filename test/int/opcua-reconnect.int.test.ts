import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { startOpcuaCollector, type OpcuaCollector } from '../../src/edge/opcua-collector.ts';
import { provisionDemoPki } from '../../src/edge/opcua-pki.ts';
import type { OpcuaGap, Sample } from '../../src/edge/opcua-source.ts';
import { startPlcSimulator, type PlcSimulator } from '../../src/edge/plc-simulator.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

const TAGS = ['R101.TT01.PV', 'R101.PT01.PV', 'R101.LT01.PV', 'R101.AG01.RUN', 'R101.CHARGE.STATE', 'R101.HEAT.STATE'];
let nats: TestNats;
let nc: NatsConnection;
let config: PlantConfig;
let varDir: string;
let sim: PlcSimulator;
let proxy: TcpProxy;
let collector: OpcuaCollector;
let metrics: Metrics;
const samples: Sample[] = [];
const gaps: OpcuaGap[] = [];
const heartbeats: { collector: string; opcuaGap?: OpcuaGap }[] = [];

const simOpts = () => ({ config, varDir, timing: { runningMs: 1200, transientMs: 300, scanMs: 100 } });

beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url, noAsyncTraces: true });
  await ensureStreams(await jetstreamManager(nc));
  const base = loadConfig(join(import.meta.dirname, '../../config'));
  config = { ...base, sources: base.sources.map((s) => (s.id === 'sim' ? { ...s, heartbeatIntervalMs: 300 } : s)) };
  varDir = await mkdtemp(join(tmpdir(), 'opcua-reconnect-'));
  await provisionDemoPki(varDir);
  sim = await startPlcSimulator(simOpts());
  proxy = await startTcpProxy(sim.port);
  const sub = nc.subscribe('hb.sim');
  void (async () => {
    for await (const m of sub) heartbeats.push(decode(m.data) as (typeof heartbeats)[number]);
  })();
  metrics = new Metrics();
  collector = await startOpcuaCollector({
    nc, config, sourceId: 'sim', varDir, metrics, retryDelayMs: 250,
    endpoint: `opc.tcp://127.0.0.1:${proxy.port}/phaseline-sim`,
    onDurable: (msg) => samples.push(...msg.samples),
    onGap: (g) => gaps.push(g),
  });
  await until('every tag', () => (TAGS.every((t) => samples.some((s) => s.tag === t)) ? true : undefined));
});

afterAll(async () => {
  await collector?.stop();
  await proxy?.close();
  await sim?.stop();
  if (nc && !nc.isClosed()) await nc.close();
  await nats?.stop();
  if (varDir) await rm(varDir, { recursive: true, force: true });
});

describe('OPC UA collector faults (IEC 62541-4 §5.13 subscriptions, IEC 62541-11 HistoryRead)', () => {
  it('backfills a network outage from the server history, with source timestamps and without duplicates', async () => {
    const sessions = collector.opcua().sessions;
    const cutAt = Date.now();
    proxy.cut();
    await until('a down heartbeat', () => (heartbeats.some((h) => h.collector === 'down') ? true : undefined));
    await new Promise((r) => setTimeout(r, 2500)); // the PLC keeps changing values the collector cannot see
    const liveBefore = samples.filter((s) => !s.hist).length;
    proxy.restore();
    const gap = await until('the gap', () => gaps[0]);
    expect(gap.cause).toBe('connection_lost');
    expect(collector.opcua().sessions).toBe(sessions + 1);
    expect(gap.from).toBeGreaterThanOrEqual(cutAt - 50);
    expect(gap.to - gap.from).toBeGreaterThanOrEqual(2500);
    // The backfill: samples from inside the outage, read from history, flagged hist, with the PLC's source time.
    await until('the backfill durable', () => (samples.filter((s) => s.hist).length >= gap.backfilled ? true : undefined));
    const hist = samples.filter((s) => s.hist);
    expect(hist.length).toBe(gap.backfilled);
    expect(hist.length).toBeGreaterThan(3);
    const inWindow = hist.filter((s) => s.ts > gap.from && s.ts < gap.to);
    expect(new Set(inWindow.map((s) => s.tag))).toContain('R101.TT01.PV');
    for (const tag of TAGS) {
      const ts = hist.filter((s) => s.tag === tag).map((s) => s.ts);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
    }
    const keys = samples.map((s) => `${s.tag}@${s.ts}`);
    expect(new Set(keys).size).toBe(keys.length); // nothing delivered twice (live vs history)
    await until('live values again', () => (samples.filter((s) => !s.hist).length > liveBefore ? true : undefined));
    // The gap is reported: heartbeat annotation and metrics.
    await until('a heartbeat with the gap', () => (heartbeats.some((h) => h.opcuaGap?.from === gap.from) ? true : undefined));
    const text = metrics.render();
    expect(text).toMatch(/phaseline_edge_opcua_gaps_total\{src="sim"\} 1/);
    expect(text).toMatch(/phaseline_edge_opcua_backfilled_total\{src="sim"\} \d+/);
  });

  it('restores the subscription and every monitored item after the OPC UA server restarts, and reports the gap', async () => {
    const sessions = collector.opcua().sessions;
    const gapsBefore = gaps.length;
    const port = sim.port;
    await sim.stop();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    sim = await startPlcSimulator({ ...simOpts(), port });
    const restartedAt = Date.now();
    const gap = await until('the gap of the restart', () => gaps[gapsBefore]);
    expect(gap.cause).toBe('connection_lost');
    expect(gap.from).toBeLessThanOrEqual(stoppedAt + 1000);
    expect(gap.to).toBeGreaterThanOrEqual(restartedAt);
    expect(collector.opcua().sessions).toBe(sessions + 1);
    expect(collector.opcua().monitored).toBe(TAGS.length);
    // Values flow again from every item of the new server.
    await until('a fresh value from every item', () =>
      TAGS.every((t) => samples.some((s) => s.tag === t && s.ts >= restartedAt - 2000 && s.ts > stoppedAt)) ? true : undefined,
    );
    const n = samples.filter((s) => s.tag === 'R101.TT01.PV').length;
    await until('values keep flowing', () => (samples.filter((s) => s.tag === 'R101.TT01.PV').length > n + 2 ? true : undefined));
    await until('an ok heartbeat', () => (heartbeats.at(-1)?.collector === 'ok' ? true : undefined));
  });

  it('backfills the time the collector itself was stopped, from where its durable position got to', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    await collector.stop();
    const stoppedAt = Date.now();
    const lastBefore = Math.max(...samples.filter((s) => s.tag === 'R101.TT01.PV').map((s) => s.ts));
    const gapsBefore = gaps.length;
    await new Promise((r) => setTimeout(r, 2000)); // the PLC keeps running, nobody collects
    collector = await startOpcuaCollector({
      nc, config, sourceId: 'sim', varDir, metrics, retryDelayMs: 250,
      endpoint: `opc.tcp://127.0.0.1:${proxy.port}/phaseline-sim`,
      onDurable: (msg) => samples.push(...msg.samples),
      onGap: (g) => gaps.push(g),
    });
    const gap = await until('the gap of the collector restart', () => gaps[gapsBefore]);
    expect(gap.cause).toBe('collector_stopped'); // expected on a restart: information, not a warning
    expect(gap.from).toBeLessThanOrEqual(stoppedAt);
    expect(gap.from).toBeGreaterThanOrEqual(stoppedAt - 2000);
    expect(gap.backfilled).toBeGreaterThan(0);
    await until('the backfill durable', () => (samples.filter((s) => s.hist && s.ts > lastBefore && s.ts < gap.to).length >= 1 ? true : undefined));
    const keys = samples.map((s) => `${s.tag}@${s.ts}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
