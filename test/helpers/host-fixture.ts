import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { ActorHost } from '../../actors/host.ts';
import type { ActorKind } from '../../actors/kind.ts';
import { exceptionKind } from '../../actors/exception.actor.ts';
import { phaseKind } from '../../actors/phase.actor.ts';
import { unitKind } from '../../actors/unit.actor.ts';
import { decode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { startTestNats, type TestNats } from './nats.ts';

/** A real nats-server per test file and a small demo host (R201.HEAT manual, R101.CHARGE automatic, two units). */
export interface HostFixture {
  readonly server: TestNats;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly buckets: Buckets;
  readonly metrics: Metrics;
  makeHost(cleanHoldMs?: number, phaseOverride?: Partial<ActorKind>): ActorHost;
  send(h: ActorHost, type: string, id: string, event: Record<string, unknown>): ReturnType<ActorHost['send']>;
  waitFor<T>(f: () => T | undefined | false, ms?: number): Promise<T>;
  subjectMessages(stream: string, filter: string): Promise<{ subject: string; data: unknown; seq: number }[]>;
}

/** Registers the file's beforeAll/afterAll and returns the fixture (its fields are set once beforeAll ran). */
export function hostFixture(): HostFixture {
  const log = logger('test-host');
  let n = 0;
  const f = { metrics: new Metrics() } as HostFixture & { server: TestNats; nc: NatsConnection; jsm: JetStreamManager; buckets: Buckets };
  beforeAll(async () => {
    f.server = await startTestNats();
    f.nc = await connectNats(f.server.url, { name: 'test-host' });
    f.jsm = await jetstreamManager(f.nc);
    await ensureStreams(f.jsm);
    f.buckets = await ensureBuckets(f.nc);
  });
  afterAll(async () => {
    await f.nc?.close();
    await f.server?.stop();
  });
  f.makeHost = (cleanHoldMs?: number, phaseOverride: Partial<ActorKind> = {}) => {
    const js = jetstream(f.nc);
    return new ActorHost({
      nc: f.nc, js, jsm: f.jsm, kv: f.buckets.actors, leases: f.buckets.leases, configVersion: 'sha256:test', log, metrics: f.metrics,
      kinds: [
        { ...phaseKind({
          phases: [
            { id: 'R201.HEAT', unit: 'R201', execution: 'manual' },
            { id: 'R101.CHARGE', unit: 'R101', execution: 'automatic', source: 'sim', commandTag: 'R101.CHARGE.CMD' },
          ],
          commandExpiryMs: () => 10_000,
        }), ...phaseOverride },
        unitKind([
          { id: 'R201', phases: ['R201.HEAT'], cleanHoldMs: 3_600_000, createdAt: Date.now() },
          { id: 'R101', phases: ['R101.CHARGE'], cleanHoldMs: 3_600_000, createdAt: Date.now() },
          ...(cleanHoldMs ? [{ id: 'T1', phases: [], cleanHoldMs, createdAt: Date.now() }] : []),
        ]),
        exceptionKind(new Map(), { batches: false }),
      ],
      deadLetter: (l) => deadLetter(js, f.metrics, l, `dlq:INBOX:${l.streamSeq}`),
      instance: { owner: `test-${++n}`, host: 'test', pid: process.pid, alive: () => false }, now: Date.now,
      leaseTtlMs: 2_000,
    });
  };
  f.send = (h, type, id, event) =>
    h.send(type, id, { at: Date.now(), by: 'tester', ...event } as never, { timeoutMs: 5_000 });

  f.waitFor = async <T,>(g: () => T | undefined | false, ms = 5_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = g();
      if (v) return v;
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  f.subjectMessages = async (stream: string, filter: string) => {
    const js = jetstream(f.nc);
    const c = await js.consumers.get(stream, { filter_subjects: [filter] });
    const out: { subject: string; data: unknown; seq: number }[] = [];
    const info = await f.jsm.streams.info(stream);
    if (info.state.messages === 0) return out;
    for (;;) {
      const m = await c.next({ expires: 1000 });
      if (!m) break;
      try {
        out.push({ subject: m.subject, data: decode(m.data), seq: m.seq });
      } catch {
        // the malformed envelopes an earlier test sent on purpose
      }
      if (m.info.pending === 0) break;
    }
    return out;
  };
  return f;
}
