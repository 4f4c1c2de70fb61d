/**
 * The portable core on Deno (DESIGN.md principle 13): `actors/` and `nats/` run unchanged against a real nats-server,
 * the connection injected. Runs under `npm run test:deno` (and under vitest too, as a plain integration test).
 */
import '../helpers/setup-logging.ts'; // first: vitest's setup file, which deno test does not have
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ActorHost } from '../../actors/host.ts';
import type { InputOutcome } from '../../actors/envelope.ts';
import { phaseKind } from '../../actors/phase.actor.ts';
import type { LogPort } from '../../actors/ports.ts';
import { unitKind } from '../../actors/unit.actor.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { Metrics } from '../../src/metrics.ts';
import { afterAll, beforeAll, describe, expect, it } from '../helpers/bdd.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';

let server: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
let buckets: Buckets;
const metrics = new Metrics();
const errors: unknown[] = [];
const log: LogPort = { info() {}, debug() {}, warn() {}, error: (obj) => void errors.push(obj) };
let owners = 0;
const startedAt = Date.now(); // the unit stays clean (hold of an hour) for the whole test

function makeHost(): ActorHost {
  const js = jetstream(nc);
  return new ActorHost({
    nc, js, jsm, kv: buckets.actors, leases: buckets.leases, configVersion: 'sha256:deno', log, metrics,
    kinds: [
      phaseKind({ phases: [{ id: 'R201.HEAT', unit: 'R201', execution: 'manual' }], commandExpiryMs: () => 10_000 }),
      unitKind([{ id: 'R201', phases: ['R201.HEAT'], cleanHoldMs: 3_600_000, createdAt: startedAt }]),
    ],
    deadLetter: (l) => deadLetter(js, metrics, l, `dlq:INBOX:${l.streamSeq}`),
    instance: { owner: `deno-${++owners}`, host: 'deno-test', pid: 1, alive: () => false }, now: Date.now,
    leaseTtlMs: 2_000,
  });
}

const send = (h: ActorHost, type: string, id: string, event: Record<string, unknown>): Promise<InputOutcome | undefined> =>
  h.send(type, id, { at: Date.now(), by: 'tester', ...event } as never, { timeoutMs: 5_000 });

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 25))) {
    if (Date.now() > end) throw new Error('timed out waiting');
  }
}

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url, noAsyncTraces: true });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  buckets = await ensureBuckets(nc);
}, 30_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
}, 30_000);

describe('actor host on a real nats-server', () => {
  it('applies inputs in order, rehydrates from KV after a restart and goes on from there', async () => {
    const host = makeHost();
    await host.start();
    try {
      const refused = await send(host, 'phase', 'R201.HEAT', { type: 'START' });
      expect(refused).toMatchObject({ accepted: false, state: 'Idle', rejection: { code: 'permissive_failed' } });
      const ctx = await send(host, 'unit', 'R201', { type: 'ASSERT_CONTEXT', contextId: 'c1', batchId: 'B1', specVersion: '1', seq: 1 });
      expect(ctx?.accepted).toBe(true);
      await waitFor(() => (host.get('phase', 'R201.HEAT')?.snapshot.context as any).permissives.contextId === 'c1');
      expect(await send(host, 'phase', 'R201.HEAT', { type: 'START' })).toMatchObject({ accepted: true, from: 'Idle', state: 'Running' });
    } finally {
      await host.stop();
    }

    const again = makeHost();
    await again.start();
    try {
      const phase = again.get('phase', 'R201.HEAT')!;
      expect(phase.snapshot.value).toBe('Running');
      expect((again.get('unit', 'R201')?.snapshot.context as any).context).toMatchObject({ contextId: 'c1', batchId: 'B1' });
      const held = await send(again, 'phase', 'R201.HEAT', { type: 'HOLD' });
      expect(held).toMatchObject({ accepted: true, from: 'Running', state: 'Holding' });
      expect(held!.seq).toBeGreaterThan(phase.lastSeq);
      const stale = await send(again, 'unit', 'R201', { type: 'ASSERT_CONTEXT', contextId: 'c0', batchId: 'B1', specVersion: '1', seq: 1 });
      expect(stale?.rejection).toMatchObject({ code: 'stale_sequence' });
    } finally {
      await again.stop();
    }
    expect(errors).toEqual([]);
  });

  it('rejects a command ISA-88 forbids in the current state and leaves the persisted state unchanged', async () => {
    const host = makeHost();
    await host.start();
    try {
      const bad = await send(host, 'phase', 'R201.HEAT', { type: 'RESET' });
      expect(bad?.rejection).toMatchObject({ code: 'command_not_allowed', state: 'Holding' });
      expect(host.get('phase', 'R201.HEAT')?.snapshot.value).toBe('Holding');
    } finally {
      await host.stop();
    }
  });
});
