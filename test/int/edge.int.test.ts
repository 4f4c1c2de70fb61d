import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { MSG_ID } from '../../nats/subjects.ts';
import { startOpcuaCollector, type OpcuaCollector } from '../../src/edge/opcua-collector.ts';
import { startPlcSimulator, type PlcSimulator } from '../../src/edge/plc-simulator.ts';
import { provisionDemoPki } from '../../src/edge/opcua-pki.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestNats } from '../helpers/nats.ts';

interface Tlm {
  src: string;
  epoch: string;
  seq: number;
  ctx?: Record<string, string>;
  sent: number;
  samples: { tag: string; v: unknown; q: string; ts: number }[];
}
interface Res {
  id: string;
  tag: unknown;
  value: unknown;
  outcome: string;
  reason?: string;
  at: number;
}

const R101_TAGS = [
  'R101.TT01.PV',
  'R101.PT01.PV',
  'R101.LT01.PV',
  'R101.AG01.RUN',
  'R101.CHARGE.STATE',
  'R101.HEAT.STATE',
];

/** Reads a stream subject in order from a cursor with direct gets (fast, no consumer state). */
class Reader {
  cursor = 1;
  readonly seen: StoredMsg[] = [];
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
  ) {}
  async poll(): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    for (;;) {
      const query = { seq: this.cursor, next_by_subj: this.subject };
      const m = await this.jsm.direct.getMessage(this.stream, query).catch(() => null);
      if (!m) break;
      out.push(m);
      this.seen.push(m);
      this.cursor = m.seq + 1;
    }
    return out;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const tlm = (m: StoredMsg) => decode(m.data) as Tlm;

let nats: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sim: PlcSimulator;
let collector: OpcuaCollector | undefined;
let varDir: string;
let config: PlantConfig;
let metrics: Metrics;
let telemetry: Reader;
let results: Reader;

async function startCollector(): Promise<OpcuaCollector> {
  collector = await startOpcuaCollector({ nc, config, sourceId: 'sim', endpoint: sim.endpoint, varDir, metrics });
  return collector;
}

/** Waits for telemetry messages and returns every one read so far after `from` (a stream sequence). */
async function telemetryWhere(pred: (all: Tlm[]) => boolean, from = 0): Promise<Tlm[]> {
  return until('telemetry', async () => {
    await telemetry.poll();
    const all = telemetry.seen.filter((m) => m.seq > from).map(tlm);
    return pred(all) ? all : undefined;
  });
}

async function outcomeOf(id: string): Promise<Res> {
  return until(`outcome of ${id}`, async () => {
    await results.poll();
    const m = results.seen.find((r) => (decode(r.data) as Res).id === id);
    return m ? (decode(m.data) as Res) : undefined;
  });
}

function command(id: string, tag: string, value: unknown, expiresInMs = 10_000, roles = ['operator']) {
  const now = Date.now();
  return encode({ id, tag, value, by: 'test', roles, issuedAt: now, expiresAt: now + expiresInMs });
}

const stateSamples = (all: Tlm[], tag: string) =>
  all.flatMap((m) => m.samples.filter((s) => s.tag === tag).map((s) => s.v));

beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url, noAsyncTraces: true, reconnectTimeWait: 250 });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  const base = loadConfig(join(import.meta.dirname, '../../config'));
  // Faster heartbeats for the test; the config itself stays frozen.
  config = { ...base, sources: base.sources.map((s) => (s.id === 'sim' ? { ...s, heartbeatIntervalMs: 300 } : s)) };
  varDir = await mkdtemp(join(tmpdir(), 'edge-var-'));
  metrics = new Metrics();
  // A limit of 2 items per call makes the collector create its 6 monitored items in 3 chunks.
  await provisionDemoPki(varDir);
  sim = await startPlcSimulator({ config, varDir, timing: { runningMs: 1200, transientMs: 300 }, maxMonitoredItemsPerCall: 2 });
  telemetry = new Reader(jsm, 'TELEMETRY', 'tlm.sim');
  results = new Reader(jsm, 'COMMANDS', 'cmdres.sim');
  await startCollector();
});

afterAll(async () => {
  await collector?.stop();
  await sim?.stop();
  if (nc && !nc.isClosed()) await nc.close();
  await nats?.stop();
  if (varDir) await rm(varDir, { recursive: true, force: true });
});

describe('OPC UA edge collector', () => {
  it('publishes samples of every R101 tag with consecutive seq and Nats-Msg-Id <src>:<epoch>:<seq>', async () => {
    const all = await telemetryWhere((a) => R101_TAGS.every((t) => a.some((m) => m.samples.some((s) => s.tag === t))));
    expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => i + 1));
    expect(new Set(all.map((m) => m.epoch)).size).toBe(1);
    telemetry.seen.forEach((m, i) => expect(m.header?.get(MSG_ID)).toBe(`sim:${all[i]!.epoch}:${all[i]!.seq}`));
    for (const m of all) {
      expect(m.src).toBe('sim');
      for (const s of m.samples) {
        expect(s.q).toBe('good');
        expect(s.ts).toBeGreaterThan(Date.now() - 60_000);
        expect(s.tag.endsWith('.CMD')).toBe(false);
      }
    }
    expect(metrics.total('phaseline_edge_bad_items_total')).toBe(0);
  });

  it('sends heartbeats with the epoch and collector ok', async () => {
    const sub = nc.subscribe('hb.sim', { max: 1 });
    for await (const m of sub) {
      const hb = decode(m.data) as Record<string, unknown>;
      expect(hb).toMatchObject({ src: 'sim', collector: 'ok', bufferDepth: 0 });
      expect(typeof hb.epoch).toBe('string');
    }
  });

  it('executes an allowlisted START: the PLC reports Running, then Complete, and the outcome is executed', async () => {
    const from = telemetry.cursor - 1;
    await js.publish('cmd.sim', command('c-start', 'R101.CHARGE.CMD', 'START'));
    expect(await outcomeOf('c-start')).toMatchObject({ tag: 'R101.CHARGE.CMD', value: 'START', outcome: 'executed' });
    const all = await telemetryWhere((a) => stateSamples(a, 'R101.CHARGE.STATE').includes('Complete'), from);
    expect(stateSamples(all, 'R101.CHARGE.STATE')).toEqual(['Running', 'Complete']);
    const levels = all.flatMap((m) => m.samples.filter((s) => s.tag === 'R101.LT01.PV').map((s) => s.v as number));
    expect(Math.max(...levels)).toBeGreaterThan(0);
  });

  it('refuses an expired command, a tag off the allowlist, a bad value and malformed payloads, writing nothing', async () => {
    const from = telemetry.cursor - 1;
    await js.publish('cmd.sim', command('c-expired', 'R101.HEAT.CMD', 'START', -1));
    await js.publish('cmd.sim', command('c-tag', 'R101.HEAT.STATE', 'Running'));
    await js.publish('cmd.sim', command('c-value', 'R101.HEAT.CMD', 'LAUNCH'));
    await js.publish('cmd.sim', command('c-role', 'R101.HEAT.CMD', 'START', 10_000, ['qa']));
    await js.publish('cmd.sim', command('c-noroles', 'R101.HEAT.CMD', 'START', 10_000, []));
    await js.publish('cmd.sim', encode({ id: 'c-malformed', tag: 'R101.HEAT.CMD' }));
    await js.publish('cmd.sim', new Uint8Array([0xc1, 0xff]));
    expect(await outcomeOf('c-expired')).toMatchObject({ outcome: 'refused', reason: 'expired' });
    expect(await outcomeOf('c-tag')).toMatchObject({ outcome: 'refused', reason: 'not_allowlisted' });
    expect(await outcomeOf('c-value')).toMatchObject({ outcome: 'refused', reason: 'value_not_allowed' });
    expect(await outcomeOf('c-role')).toMatchObject({ outcome: 'refused', reason: 'role_not_allowed' });
    expect(await outcomeOf('c-noroles')).toMatchObject({ outcome: 'refused', reason: 'role_not_allowed' });
    expect(await outcomeOf('c-malformed')).toMatchObject({ outcome: 'refused', reason: 'malformed' });
    const garbageAnswered = () => results.seen.some((r) => (decode(r.data) as Res).id.startsWith('unknown:'));
    await until('garbage outcome', async () => ((await results.poll(), garbageAnswered()) ? true : undefined));
    const dlq = await jsm.streams.info('DEADLETTER');
    expect(dlq.state.messages).toBe(2);
    // A written START would show HEAT Running within a scan; give it a few publish intervals.
    await new Promise((r) => setTimeout(r, 800));
    await telemetry.poll();
    const after = telemetry.seen.filter((m) => m.seq > from).map(tlm);
    expect(stateSamples(after, 'R101.HEAT.STATE')).toEqual([]);
  });

  it('stamps ctx from the latest ctx.R101 assertion', async () => {
    const from = telemetry.cursor - 1;
    await js.publish('ctx.R101', encode({ unit: 'R101', contextId: 'ctx-A', batchId: 'B1', seq: 1, at: Date.now() }));
    const all = await telemetryWhere((a) => a.some((m) => m.ctx?.R101 === 'ctx-A'), from);
    const first = all.findIndex((m) => m.ctx?.R101 === 'ctx-A');
    expect(all.slice(first).every((m) => m.ctx?.R101 === 'ctx-A')).toBe(true);
  });

  it('continues the same epoch with higher seq after a collector restart, stamping the context read back', async () => {
    const before = tlm(telemetry.seen.at(-1)!);
    await collector!.stop();
    await telemetry.poll();
    const last = tlm(telemetry.seen.at(-1)!);
    const from = telemetry.cursor - 1;
    await startCollector();
    const all = await telemetryWhere((a) => a.length >= 2, from);
    expect(all[0]!.epoch).toBe(before.epoch);
    expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => last.seq + 1 + i));
    expect(all[0]!.ctx).toEqual({ R101: 'ctx-A' });
  });

  it('mints a new epoch starting at seq 1 when the sequence store is deleted', async () => {
    const old = tlm(telemetry.seen.at(-1)!).epoch;
    await collector!.stop();
    await telemetry.poll();
    const from = telemetry.cursor - 1;
    await rm(join(varDir, 'edge', 'sim', 'sequence.json'));
    await startCollector();
    const all = await telemetryWhere((a) => a.length >= 2, from);
    expect(all[0]!.epoch).not.toBe(old);
    expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => i + 1));
  });
  it('keeps every telemetry message through a NATS restart: same epoch, no gap, commands still answered', async () => {
    await telemetry.poll();
    const epoch = tlm(telemetry.seen.at(-1)!).epoch;
    await nats.restart();
    await new Promise((r) => setTimeout(r, 1000));
    const reachable = () => jsm.streams.info('TELEMETRY').then(() => true).catch(() => undefined);
    await until('reconnect', reachable);
    await js.publish('cmd.sim', command('c-reset', 'R101.CHARGE.CMD', 'RESET'));
    expect(await outcomeOf('c-reset')).toMatchObject({ outcome: 'executed' });
    const ofEpoch = (a: Tlm[]) => a.filter((m) => m.epoch === epoch);
    const whole = (a: Tlm[]) => ofEpoch(a).length === Math.max(0, ...ofEpoch(a).map((m) => m.seq));
    const all = await telemetryWhere((a) => stateSamples(ofEpoch(a), 'R101.CHARGE.STATE').includes('Idle') && whole(a));
    // The backlog replayed from the disk buffer interleaves with live messages (CONTRACT.md §5.1): every seq once, none missing.
    const seqs = all.filter((m) => m.epoch === epoch).map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('reports the collector down while the PLC is away and recovers its subscription when it is back', async () => {
    const from = telemetry.cursor - 1;
    const port = sim.port;
    await sim.stop();
    const down = await until('a down heartbeat', async () => {
      const sub = nc.subscribe('hb.sim', { max: 1 });
      for await (const m of sub) return (decode(m.data) as { collector: string }).collector === 'down' || undefined;
    });
    expect(down).toBe(true);
    sim = await startPlcSimulator({ config, varDir, port, timing: { runningMs: 1200, transientMs: 300 } });
    // A fresh PLC reports every value again, its phase states included.
    await telemetryWhere((a) => stateSamples(a, 'R101.HEAT.STATE').includes('Idle'), from);
  });
});
