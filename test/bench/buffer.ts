/**
 * Store-and-forward benchmark (part of `npm run bench`), on its own private nats-server (`sync_interval: always`):
 *  (d) disk buffer append rate with group fsync (64 records or 5 ms), 100-sample telemetry messages, 256 appends in
 *      flight, against the raw ceiling of the same records written with `writev` + one `fdatasync` per group of the
 *      mean size the buffer reached (no index, no promises);
 *  (e) replay rate after a 1,000,000-sample outage: 10,000 messages × 100 samples in the buffer, published by the
 *      real TelemetryPublisher (`hist: true`, in order, 1,000 in flight) until JetStream acknowledged every one, against
 *      the raw ceiling of `js.publish` of the same messages with the same window.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { startNatsServer } from '../../src/broker/server.ts';
import { DiskBuffer } from '../../src/edge/buffer/disk-buffer.ts';
import { encodeRecord } from '../../src/edge/buffer/record.ts';
import { SequenceStore } from '../../src/edge/sequence-store.ts';
import { TelemetryPublisher } from '../../src/edge/telemetry-publisher.ts';
import { logger, type Logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { guardServer } from './guard.ts';
import { publishWindowed, workload } from './workload.ts';

const SRC = 'line2';
const SAMPLES = 100;
const IN_FLIGHT = 1000;
const APPENDS_IN_FLIGHT = 256;
const GROUP = 64;

/** Figures of the store-and-forward benchmark. */
export interface BufferBench {
  append: { messages: number; msgsPerSec: number; samplesPerSec: number; mibPerSec: number; fsyncs: number; rawMsgsPerSec: number; ratio: number };
  replay: { samples: number; messages: number; ms: number; samplesPerSec: number; rawSamplesPerSec: number; ratio: number; stored: number };
}

/** Runs (d) and (e); `out` prints a line. */
export async function benchBuffer(o: { bin: string; config: PlantConfig; appendMessages: number; out: (l: string) => void; log?: Logger }): Promise<BufferBench> {
  const log = o.log ?? logger('bench-buffer');
  const dir = await mkdtemp(join(tmpdir(), 'phaseline-bench-buffer-'));
  try {
    const append = await benchAppend(dir, o.config, o.appendMessages);
    o.out(`buffer:  append ${fmt(append.msgsPerSec)} msgs/s = ${fmt(append.samplesPerSec)} samples/s (${fmt(append.mibPerSec, 1)} MiB/s, ${fmt(append.fsyncs)} group fsyncs for ${fmt(append.messages)} msgs); raw writev+fdatasync ${fmt(append.rawMsgsPerSec)} msgs/s; ratio ${append.ratio.toFixed(2)}`);
    const server = await startNatsServer({ bin: o.bin, storeDir: join(dir, 'store'), runDir: join(dir, 'run'), log });
    guardServer(server.pid, join(dir, 'run', 'nats-server.conf'), dir);
    try {
      const replay = await benchReplay(dir, server.url, o.config, log);
      o.out(`replay:  ${fmt(replay.samples)}-sample backlog (${fmt(replay.messages)} msgs) replayed in ${fmt(replay.ms / 1000, 2)} s = ${fmt(replay.samplesPerSec)} samples/s; raw js.publish (${IN_FLIGHT} in flight) ${fmt(replay.rawSamplesPerSec)} samples/s; ratio ${replay.ratio.toFixed(2)}`);
      return { append, replay };
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function messages(config: PlantConfig, epoch: string, count: number): Uint8Array[] {
  const wl = workload(config, SRC, epoch, SAMPLES);
  const t0 = Date.now() - count * SAMPLES - 60_000;
  return Array.from({ length: count }, (_, i) => wl.message(i + 1, t0 + i * SAMPLES).data);
}

async function benchAppend(dir: string, config: PlantConfig, count: number): Promise<BufferBench['append']> {
  const payloads = messages(config, 'append', count);
  const metrics = new Metrics();
  const buffer = await DiskBuffer.open({ dir: join(dir, 'append'), maxBytes: 2 ** 31, fsyncEveryRecords: GROUP, fsyncEveryMs: 5, metrics });
  const t0 = performance.now();
  await windowed(count, APPENDS_IN_FLIGHT, (i) => buffer.append(payloads[i]!));
  const ms = performance.now() - t0;
  const bytes = buffer.diskBytes;
  await buffer.close();
  // Raw ceiling: the same records (header + CRC included) written in groups of the size the buffer reached, one
  // fdatasync each.
  const fsyncs = metrics.get('phaseline_edge_buffer_fsyncs_total');
  const group = Math.max(1, Math.round(count / fsyncs));
  const records = payloads.map((p, i) => encodeRecord({ rid: i + 1, at: Date.now(), payload: p }));
  const fh = await open(join(dir, 'raw.log'), 'a');
  const r0 = performance.now();
  for (let i = 0; i < records.length; i += group) {
    await fh.writev(records.slice(i, i + group));
    await fh.datasync();
  }
  const rawMs = performance.now() - r0;
  await fh.close();
  const msgsPerSec = (count * 1000) / ms;
  const rawMsgsPerSec = (count * 1000) / rawMs;
  return {
    messages: count, msgsPerSec, samplesPerSec: msgsPerSec * SAMPLES, mibPerSec: bytes / 2 ** 20 / (ms / 1000),
    fsyncs, rawMsgsPerSec, ratio: msgsPerSec / rawMsgsPerSec,
  };
}

async function benchReplay(dir: string, url: string, config: PlantConfig, log: Logger): Promise<BufferBench['replay']> {
  const count = 1_000_000 / SAMPLES;
  const nc = await connectNats(url, { name: 'bench-edge', highRate: true, log });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm);
    // Raw ceiling first (after a warm-up): the same messages, same window, straight into TELEMETRY.
    const warm = messages(config, 'warm', 1000);
    await publishWindowed(js, subjects.telemetry(SRC), warm.length, IN_FLIGHT, (i) => ({ data: warm[i]!, msgId: `${SRC}:warm:${i + 1}` }));
    const raw = messages(config, 'raw', count);
    const rawRun = await publishWindowed(js, subjects.telemetry(SRC), count, IN_FLIGHT, (i) => ({ data: raw[i]!, msgId: `${SRC}:raw:${i + 1}` }));
    // The outage: 10,000 sealed messages waiting in the disk buffer, as the publisher wrote them.
    const buffer = await DiskBuffer.open({ dir: join(dir, 'replay'), maxBytes: 2 ** 31 });
    const backlog = messages(config, 'replay', count);
    await windowed(count, IN_FLIGHT, (i) => buffer.append(backlog[i]!));
    const store = await SequenceStore.open(join(dir, 'seq'), SRC, log);
    const publisher = new TelemetryPublisher({ js, src: SRC, store, buffer, intervalMs: 60_000, ctx: () => undefined, log, metrics: new Metrics() });
    const before = (await jsm.streams.info('TELEMETRY')).state.messages;
    const t0 = performance.now();
    publisher.start();
    while (buffer.depth > 0) await sleep(2);
    const ms = performance.now() - t0;
    await publisher.stop();
    await buffer.close();
    const stored = (await jsm.streams.info('TELEMETRY')).state.messages - before;
    if (stored !== count) throw new Error(`replay stored ${stored} messages, expected ${count}`);
    const samplesPerSec = (count * SAMPLES * 1000) / ms;
    const rawSamplesPerSec = (count * SAMPLES * 1000) / rawRun.ms;
    return { samples: count * SAMPLES, messages: count, ms, samplesPerSec, rawSamplesPerSec, ratio: samplesPerSec / rawSamplesPerSec, stored };
  } finally {
    await nc.close();
  }
}

async function windowed(count: number, window: number, run: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await run(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
