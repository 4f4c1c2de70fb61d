import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

const MESSAGES = 2000;
const PER_MESSAGE = 20;
const EPOCH = 'e2e-epoch-1';

let rt: PhaselineProcess;
let varDir: string;
let nc: NatsConnection;
let t0 = Date.now(); // reset once the frames are open: every sample must fall inside them

const message = (seq: number, epoch = EPOCH) => ({
  src: 'line2', epoch, seq, sent: Date.now(),
  samples: Array.from({ length: PER_MESSAGE }, (_, i) => ({ tag: 'R201.TT01.PV', v: 20 + (seq % 50), q: 'good', ts: t0 + 10 + seq * PER_MESSAGE + i })),
});

async function publish(from: number, to: number): Promise<void> {
  const js = jetstream(nc);
  const inflight: Promise<unknown>[] = [];
  for (let seq = from; seq <= to; seq++) {
    inflight.push(js.publish('tlm.line2', encode(message(seq)), { msgID: `line2:${EPOCH}:${seq}` }));
    if (inflight.length >= 200) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-crash-'));
  rt = await startPhaseline(varDir, { PHASELINE_SIMULATOR: 'off' });
  nc = await connectNats(rt.natsUrl, { name: 'e2e-edge', ...(await rt.natsUser('runtime')) });
}, 90_000);

afterAll(async () => {
  await nc?.close();
  expect(await rt?.stop()).toBe(0);
  await rm(varDir, { recursive: true, force: true });
});

describe('kill -9 of the runtime during ingest', () => {
  it('applies every acknowledged telemetry message exactly once and keeps phases, events and audit whole', async () => {
    const mes = await rt.token('mes');
    const op = await rt.token('operator');
    expect((await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-CRASH', specVersion: '1', seq: 1 } })).status).toBe(200);
    expect((await rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'start' } })).body.state).toBe('Running');
    t0 = Date.now();

    await publish(1, MESSAGES / 2);
    // A command in flight and ingest busy at the moment of the kill.
    const hold = rt.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: 'hold' } }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    await rt.kill();
    await hold;
    await publish(MESSAGES / 2 + 1, MESSAGES); // the broker child outlives the runtime; the edge keeps publishing

    rt = await startPhaseline(varDir, { PHASELINE_SIMULATOR: 'off' });
    const qa = await rt.token('qa');
    const phaseFrame = await eventually(async () => {
      const frames = (await rt.api('GET', '/api/v1/frames?unit=R201', { token: qa })).body as any[];
      const f = frames.find((x) => x.kind === 'phase');
      (globalThis as any).lastFrames = frames.map((x) => [x.kind, x.start, x.end, x.tags['R201.TT01.PV']?.count, x.late]);
      return f?.tags['R201.TT01.PV']?.count === MESSAGES * PER_MESSAGE ? frames : undefined;
    }, 60_000).catch((err) => { throw new Error(`${err}: ${JSON.stringify((globalThis as any).lastFrames)}`); });
    // Each sample counted once in every frame that encloses it (batch and phase).
    for (const f of phaseFrame) expect(f.tags['R201.TT01.PV'].count, f.kind).toBe(MESSAGES * PER_MESSAGE);
    const src = (await rt.api('GET', '/api/v1/sources', { token: qa })).body.find((s: any) => s.id === 'line2');
    expect(src).toMatchObject({ epoch: EPOCH, lastSeq: MESSAGES });
    expect(src.gaps.pending + src.gaps.lost).toBe(0);

    const phase = (await rt.api('GET', '/api/v1/phases/R201.HEAT', { token: qa })).body;
    expect(['Running', 'Holding']).toContain(phase.state);
    const audit = (await rt.api('GET', '/api/v1/audit?target=phase:R201.HEAT&limit=10000', { token: qa })).body as any[];
    const transitions = audit.filter((e) => e.action === 'phase.transition').map((e) => e.after.state);
    expect(transitions).toEqual(phase.state === 'Running' ? ['Running'] : ['Running', 'Holding']);
    // EVENTS: each transition of the phase published exactly once, none missing.
    const events: string[] = [];
    const c = await jetstream(nc).consumers.get('EVENTS', { filter_subjects: ['evt.phase.R201=2EHEAT'] });
    for (;;) {
      const m = await c.next({ expires: 1000 });
      if (!m) break;
      events.push((decode(m.data) as { to: string }).to);
      if (m.info.pending === 0) break;
    }
    expect(events).toEqual(transitions);
    const refs = audit.map((e) => e.src?.msgId).filter(Boolean);
    expect(new Set(refs).size).toBe(refs.length);
    expect((await rt.api('GET', '/api/v1/audit/verify', { token: qa })).body.ok).toBe(true);
  }, 180_000);

  it('dead-letters malformed, invalid, unknown-source, oversized and duplicate messages with reasons, and keeps ingesting', async () => {
    const js = jetstream(nc);
    await js.publish('tlm.line2', new Uint8Array([0xc1, 0x00, 0xff]), { msgID: 'bad-1' });
    await js.publish('tlm.line2', encode({ src: 'line2', epoch: EPOCH, seq: 'x', samples: [] }), { msgID: 'bad-2' });
    await js.publish('tlm.nosuch', encode({ ...message(1), src: 'nosuch' }), { msgID: 'bad-3' });
    const big = { ...message(MESSAGES + 1), samples: Array.from({ length: 10_001 }, (_, i) => ({ tag: 'R201.TT01.PV', v: 1, q: 'good', ts: t0 + i })) };
    await js.publish('tlm.line2', encode(big), { msgID: 'bad-4' });
    const h = headers();
    await js.publish('tlm.line2', encode(message(5)), { msgID: 'line2:replayed-long-after-the-window:5', headers: h }); // duplicate, fresh msg id
    await js.publish('tlm.line2', encode(message(MESSAGES + 1)), { msgID: `line2:${EPOCH}:${MESSAGES + 1}` });
    const metric = (text: string, reason: string) =>
      Number(text.match(new RegExp(`phaseline_dead_letters_total\\{stream="TELEMETRY",reason="${reason}"\\} (\\d+)`))?.[1] ?? 0);
    const text = await eventually(async () => {
      const m = (await rt.api('GET', '/metrics')).body as string;
      // dead letters are counted when published, ingest counters once their cycle is committed (a moment later)
      const committed = /phaseline_ingest_duplicates_total\{source="line2"\} [1-9]/.test(m);
      return committed && ['malformed', 'invalid', 'unknown_source', 'oversized', 'duplicate'].every((r) => metric(m, r) >= 1) ? m : undefined;
    });
    expect(text).toMatch(/phaseline_ingest_duplicates_total\{source="line2"\} [1-9]/);
    const qa = await rt.token('qa');
    await eventually(async () => {
      const src = (await rt.api('GET', '/api/v1/sources', { token: qa })).body.find((s: any) => s.id === 'line2');
      return src.lastSeq === MESSAGES + 1;
    });
  });
});
