import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { INCARNATION_KEY } from '../../nats/stream-identity.ts';
import { ensureStreams, type Buckets } from '../../nats/streams.ts';
import { untilDedupeForgets } from '../helpers/dedupe.ts';
import { hostFixture } from '../helpers/host-fixture.ts';

const fx = hostFixture();
const { makeHost, send, waitFor, subjectMessages, metrics } = fx;
let nc: NatsConnection;
let jsm: JetStreamManager;
let buckets: Buckets;
beforeAll(() => void ({ nc, jsm, buckets } = fx));

/** DESIGN.md principles 3 and 15: positions are our own data, effects once, restarts change nothing. */
describe('actor host across restarts', () => {
  it('marks an outbox published once it is out, and does not publish it again on the next start', async () => {
    const host = makeHost();
    await host.start();
    await send(host, 'phase', 'R201.HEAT', { type: 'ABORT', reason: 'marking' });
    await host.stop();
    const rec = decode((await buckets.actors.get('phase.R201=2EHEAT'))!.value) as any;
    expect(rec.outboxPublished).toBe(true);
    const before = (await jsm.streams.info('EVENTS')).state.last_seq;
    const again = makeHost();
    await again.start();
    try {
      expect((await jsm.streams.info('EVENTS')).state.last_seq).toBe(before);
    } finally {
      await again.stop();
    }
  });

  it('applies an input once when its message id comes back after the duplicate window (a republished outbox)', async () => {
    const info = await jsm.streams.info('INBOX');
    await jsm.streams.update('INBOX', { ...info.config, duplicate_window: 200 * 1e6 });
    const host = makeHost();
    await host.start();
    try {
      const js = jetstream(nc);
      const input = encode({ event: { type: 'RESET', at: Date.now(), by: 'tester' } });
      const before = host.get('phase', 'R201.HEAT')!.lastSeq;
      await js.publish('inbox.phase.R201=2EHEAT', input, { msgID: 'exception.EXC-9:4:0' });
      await waitFor(() => host.get('phase', 'R201.HEAT')!.lastSeq > before);
      const applied = host.get('phase', 'R201.HEAT')!;
      await untilDedupeForgets(js, 'inbox.probe.dedupe');
      const ack = await js.publish('inbox.phase.R201=2EHEAT', input, { msgID: 'exception.EXC-9:4:0' });
      expect(ack.duplicate).toBe(false);
      const probe = await send(host, 'phase', 'R201.HEAT', { type: 'ABORT', reason: 'probe' });
      expect(probe?.seq).toBeGreaterThan(ack.seq);
      const skipped = (await subjectMessages('INBOX', 'inbox.audit.writer')).filter((m) => m.seq > ack.seq && (m.data as any).ref === `inbox:${ack.seq}`);
      expect(skipped).toHaveLength(0); // nothing applied (nor audited) for the replay
      expect(host.get('phase', 'R201.HEAT')!.seen).toBeDefined();
      expect(applied.lastSeq).toBeLessThan(ack.seq);
      expect(metrics.get('phaseline_actor_duplicate_inputs_total', { type: 'phase' })).toBeGreaterThanOrEqual(1);
    } finally {
      await host.stop();
      await jsm.streams.update('INBOX', { ...(await jsm.streams.info('INBOX')).config, duplicate_window: 120 * 1e9 });
    }
  });

  it('keeps its INBOX position across restarts: the stream identity is the incarnation id in its metadata', async () => {
    const info = await jsm.streams.info('INBOX');
    const incarnation = info.config.metadata?.[INCARNATION_KEY];
    expect(incarnation).toMatch(/^[0-9a-f-]{36}$/);
    await ensureStreams(jsm); // an update keeps it
    expect((await jsm.streams.info('INBOX')).config.metadata?.[INCARNATION_KEY]).toBe(incarnation);
    const host = makeHost();
    await host.start();
    try {
      expect(host.get('phase', 'R201.HEAT')!.incarnation).toBe(incarnation);
    } finally {
      await host.stop();
    }
  });

  it('quarantines an actor whose position is past the end of INBOX instead of resetting it', async () => {
    const e = await buckets.actors.get('phase.R101=2ECHARGE');
    const rec = decode(e!.value) as any;
    const last = (await jsm.streams.info('INBOX')).state.last_seq;
    await buckets.actors.put('phase.R101=2ECHARGE', encode({ ...rec, lastSeq: last + 1000 }));
    const host = makeHost();
    await host.start();
    try {
      expect(host.get('phase', 'R101.CHARGE')?.quarantined?.reason).toMatch(/stream ends at/);
    } finally {
      await host.stop();
      await buckets.actors.put('phase.R101=2ECHARGE', encode(rec));
    }
  });

  it('upgrades a record written before incarnations existed without re-applying anything, and audits the migration once', async () => {
    const e = await buckets.actors.get('unit.R201');
    const rec = decode(e!.value) as any;
    const { incarnation: _i, ...legacy } = rec;
    await buckets.actors.put('unit.R201', encode({ ...legacy, streamCreated: '2026-11-30T10:00:00.000Z' }));
    const host = makeHost();
    await host.start();
    try {
      const now = host.get('unit', 'R201')!;
      expect(now.lastSeq).toBe(rec.lastSeq);
      expect(now.incarnation).toBe(rec.incarnation);
      expect(now.streamCreated).toBeUndefined();
      const migrations = (await subjectMessages('INBOX', 'inbox.audit.writer')).filter((m) => (m.data as any).action === 'actors.position.migrated');
      expect(migrations).toHaveLength(1);
      expect((migrations[0]!.data as any).after.records).toEqual({ unit: 1 });
    } finally {
      await host.stop();
    }
  });
});
