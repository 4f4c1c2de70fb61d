import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMqttBroker, type TestMqttBroker } from '../helpers/mqtt-broker.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';
import { SparkplugTestEdge } from '../helpers/sparkplug-edge.ts';

let rt: PhaselineProcess;
let broker: TestMqttBroker;
let edge: SparkplugTestEdge;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phaseline-sp-e2e-'));
  broker = await startTestMqttBroker();
  // The demo plant with one setting changed: line2 becomes an MQTT source collected as a Sparkplug B primary host.
  const configDir = join(dir, 'config');
  await cp('config', configDir, { recursive: true });
  const sources = JSON.parse(await readFile(join(configDir, 'sources.json'), 'utf8')) as Record<string, unknown>[];
  const line2 = sources.find((s) => s.id === 'line2')!;
  Object.assign(line2, { kind: 'mqtt', endpoint: broker.url, publishIntervalMs: 100, sparkplug: { group: 'line2', hostId: 'phaseline' } });
  await writeFile(join(configDir, 'sources.json'), JSON.stringify(sources, null, 2));
  rt = await startPhaseline(join(dir, 'var'), { PHASELINE_CONFIG: configDir, PHASELINE_SIMULATOR: 'off' });
  edge = new SparkplugTestEdge({
    url: broker.url, group: 'line2', node: 'edge1', hostId: 'phaseline',
    devices: { R201: [{ name: 'TT01/PV', alias: 1, type: 'Double', value: 21 }, { name: 'PT01/PV', alias: 2, type: 'Double', value: 1.1 }] },
  });
  await edge.connect();
}, 90_000);

afterAll(async () => {
  await edge?.close();
  await rt?.stop();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Sparkplug B edge → MQTT collector in the runtime (opt-in source kind "mqtt")', () => {
  it('feeds R201 temperature and pressure into the batch frame asserted by the MES', async () => {
    const mes = await rt.token('mes');
    const ctx = await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-SP-E2E', specVersion: '1', seq: 1 } });
    expect(ctx.status).toBe(200);
    await eventually(() => edge.hostOnline && edge.births >= 1);
    const t = Date.now();
    await edge.ddata('R201', [{ name: 'TT01/PV', value: 64.5, timestamp: t + 1 }, { name: 'PT01/PV', value: 1.8, timestamp: t + 1 }]);
    await edge.ddata('R201', [{ name: 'TT01/PV', value: 65.5, timestamp: t + 2 }]);
    const op = await rt.token('operator');
    const frame = await eventually(async () => {
      const frames = (await rt.api('GET', '/api/v1/frames?unit=R201&kind=batch', { token: op })).body as any[];
      const f = frames.find((x) => x.batchId === 'B-SP-E2E');
      return f?.tags?.['R201.TT01.PV']?.last === 65.5 && f?.tags?.['R201.PT01.PV']?.last === 1.8 ? f : undefined;
    });
    expect(frame.tags['R201.TT01.PV']).toMatchObject({ max: 65.5, last: 65.5 });
    const sources = (await rt.api('GET', '/api/v1/sources', { token: op })).body as any[];
    expect(sources.find((s) => s.id === 'line2')).toMatchObject({ kind: 'mqtt' });
  });

  it('counts a malformed Sparkplug payload in /metrics with its reason and keeps collecting', async () => {
    await edge.raw('spBv1.0/line2/DDATA/edge1/R201', new Uint8Array([0xff, 0xff, 0xff, 1, 2]));
    await eventually(async () => /phaseline_sparkplug_rejected_total\{src="line2",reason="malformed"\} 1/.test((await rt.api('GET', '/metrics')).body as string));
    // stored in DEADLETTER over the runtime's connection (the edge's NATS user may publish only its own subjects)
    await eventually(async () => /phaseline_dead_letters_total\{stream="core",reason="malformed"\} 1/.test((await rt.api('GET', '/metrics')).body as string));
  });
});
