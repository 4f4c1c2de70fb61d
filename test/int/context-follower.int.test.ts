import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { ContextFollower } from '../../src/edge/context-follower.ts';
import { logger, type Logger } from '../../src/log.ts';
import { startTestNats, type TestNats } from '../helpers/nats.ts';
import { until } from '../helpers/wait.ts';

// The edge's context follower reads the one `ctx.<unit>` schema (nats/context.schema.ts, CONTRACT.md §5.3): an
// assertion sets the stamp, the release at batch end ends it, and a malformed message changes nothing.

let server: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
const errors: string[] = [];
const base = logger('test-follower');
const log = { ...base, info: base.info.bind(base), warn: base.warn.bind(base), error: (o: object, m?: string) => { errors.push(m ?? ''); base.error(o, m); } } as unknown as Logger;

const publish = (payload: unknown) => jsm.jetstream().publish('ctx.R101', encode(payload));
/** Waits until `cond` holds (test/helpers/wait.ts polls; `true` ends the wait). */
const until5s = (what: string, cond: () => boolean) => until(what, () => cond() || undefined, 5_000);

beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url, { name: 'follower-test' });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('edge context follower', () => {
  it('stamps with an assertion, stops stamping at its release, and ignores a malformed message', async () => {
    const f = await ContextFollower.start(nc, jsm, ['R101'], log);
    try {
      await publish({ unit: 'R101', contextId: 'R101/B1/1', batchId: 'B1', specVersion: '1', seq: 1, at: 1_000, by: 'mes' });
      await until5s('the assertion stamped', () => f.snapshot()?.R101 === 'R101/B1/1');
      await publish({ unit: 'R101', released: true, batchId: 'B1', contextId: 'R101/B1/1', seq: 1, at: 2_000, by: 'mes', reason: 'batch ended' });
      await until5s('the release unstamped', () => f.snapshot() === undefined);
      expect(errors).toEqual([]);
      await publish({ unit: 'R101', contextId: 'R101/B2/2', batchId: 'B2', seq: 2, at: 3_000 });
      await until5s('the next assertion stamped', () => f.snapshot()?.R101 === 'R101/B2/2');
      await publish({ unit: 'R101', contextId: 'R101/B3/3' }); // no batch, seq or time: not a context message
      await until5s('the malformed message logged', () => errors.length > 0);
      expect(errors).toEqual(['malformed context message ignored for stamping']);
      expect(f.snapshot()).toEqual({ R101: 'R101/B2/2' });
    } finally {
      await f.stop();
    }
    // Started after a release, the follower reads it as the latest message and stamps nothing.
    await publish({ unit: 'R101', released: true, batchId: 'B2', contextId: 'R101/B2/2', seq: 2, at: 4_000 });
    const late = await ContextFollower.start(nc, jsm, ['R101'], log);
    try {
      expect(late.snapshot()).toBeUndefined();
    } finally {
      await late.stop();
    }
  });
});
