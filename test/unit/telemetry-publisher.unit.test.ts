import type { JetStreamClient } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { MemoryBuffer } from '../../src/edge/buffer/telemetry-buffer.ts';
import type { SequenceStore } from '../../src/edge/sequence-store.ts';
import { TelemetryPublisher } from '../../src/edge/telemetry-publisher.ts';
import { logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';

type Sent = { seq: number; hist?: boolean; msgId: string };

/** An in-memory JetStream stand-in: acks after `delayMs`, or fails while `down`. */
function fakeJs(delayMs = 1) {
  const sent: Sent[] = [];
  const state = { down: false };
  const js = {
    publish(_subject: string, data: Uint8Array, o: { msgID: string }) {
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          if (state.down) return reject(new Error('no responders'));
          const m = decode(data) as { seq: number; hist?: boolean };
          sent.push({ seq: m.seq, hist: m.hist, msgId: o.msgID });
          resolve({ seq: sent.length, duplicate: false });
        }, delayMs),
      );
    },
  } as unknown as JetStreamClient;
  return { js, sent, state };
}

function fakeStore(start = 0): SequenceStore {
  let seq = start;
  return { epoch: 'e1', next: async () => ++seq } as unknown as SequenceStore;
}

const until = async (p: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !p(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() > end) throw new Error('timeout');
};
const sample = (n: number) => ({ tag: 'R101.TT01.PV', v: n, q: 'good' as const, ts: 1_700_000_000_000 + n });
const opts = { src: 'sim', intervalMs: 60_000, ctx: () => undefined, log: logger('test'), metrics: new Metrics() };

describe('telemetry publisher with store-and-forward', () => {
  it('replays what the buffer held at start with hist: true, in order, while live messages are not held behind it', async () => {
    const buffer = new MemoryBuffer(100_000);
    for (let seq = 1; seq <= 2000; seq++) await buffer.append(encode({ src: 'sim', epoch: 'e0', seq, sent: seq, samples: [sample(seq)] }), seq);
    const { js, sent } = fakeJs();
    const p = new TelemetryPublisher({ ...opts, js, store: fakeStore(), buffer, window: 16, replayBatch: 16 });
    p.start();
    await until(() => sent.length >= 50);
    p.add(sample(0));
    await p.flush();
    await until(() => buffer.depth === 0);
    await p.stop();
    const backlog = sent.filter((m) => m.msgId.startsWith('sim:e0:'));
    expect(backlog.map((m) => m.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(backlog.every((m) => m.hist === true)).toBe(true);
    const live = sent.findIndex((m) => m.msgId === 'sim:e1:1');
    expect(sent[live]!.hist).toBeUndefined();
    expect(live).toBeLessThan(sent.length - 1000); // interleaved, not queued behind the whole backlog
  });

  it('keeps sealing while the broker refuses, then replays those messages marked hist and publishes new ones live', async () => {
    const buffer = new MemoryBuffer(100_000);
    const { js, sent, state } = fakeJs();
    const p = new TelemetryPublisher({ ...opts, js, store: fakeStore(), buffer });
    p.start();
    p.add(sample(1));
    await p.flush();
    await until(() => sent.length === 1);
    state.down = true;
    for (let n = 2; n <= 5; n++) {
      p.add(sample(n));
      await p.flush();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(p.depth).toBe(4);
    expect(p.oldestQueuedAt).toBeTypeOf('number');
    state.down = false;
    p.nudge();
    await until(() => buffer.depth === 0);
    p.add(sample(6));
    await p.flush();
    await until(() => sent.some((m) => m.seq === 6));
    await p.stop();
    expect(sent.map((m) => [m.seq, m.hist ?? false])).toEqual([[1, false], [2, true], [3, true], [4, true], [5, true], [6, false]]);
  });
});
