/**
 * `npm run bench`: the telemetry throughput and latency benchmark (not a test; vitest excludes test/bench/**).
 *
 * On one private nats-server started like production (JetStream file storage, `sync_interval: always`):
 *  (a) raw ceiling: 100-sample telemetry messages (CONTRACT.md §5.1) published with `js.publish`, 1,000 in flight,
 *      into a stream `RAW` (`raw.>`, the settings of TELEMETRY) that nothing consumes;
 *  (b) product: the same messages into TELEMETRY with the contextualiser ingest running, from the first publish until
 *      `idle()` (every sample attached to its event frames and committed), then a check of the frame aggregates;
 *  (b') backlog (extra): the same number stored first, then drained by a freshly started ingest alone — what
 *      src/context can do when it does not share the CPU with a publisher;
 *  (c) latency: a fixed 500 messages/s for 5 s, publish → committed in the ingest's source record (KV watch);
 *  (d, e) store-and-forward (test/bench/buffer.ts): disk buffer append rate, replay rate after a 1M-sample outage.
 * Prints machine info and figures, writes var/bench/latest.json and ends with `bench: product/raw <ratio>`.
 *
 * Size: BENCH_MESSAGES (env) or `--messages N` (default 20,000 messages × 100 samples per phase).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem, type as osType, release as osRelease } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { readEnv } from '../../config/env.ts';
import { loadConfig } from '../../config/load.ts';
import { encode, nativeCodec } from '../../nats/codec.ts';
import { STREAMS, streamConfig, ensureBuckets, ensureStreams, type Buckets } from '../../nats/streams.ts';
import { subjects } from '../../nats/subjects.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { natsServerVersion, resolveNatsServer } from '../../src/broker/resolve.ts';
import { startNatsServer, type NatsServerHandle } from '../../src/broker/server.ts';
import { startIngest, type Ingest } from '../../src/context/ingest.ts';
import { listFrames } from '../../src/context/queries.ts';
import { hasSeq } from '../../src/context/ranges.ts';
import { decodeRecord, recordKey } from '../../src/context/source-record.ts';
import { logger, setLogLevel } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { benchBuffer } from './buffer.ts';
import { guardServer } from './guard.ts';
import { cpuBetween, cpuSnap, publishWindowed, quantile, workload, type PublishRun } from './workload.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = 'line2';
const UNIT = 'R201';
const PHASE = 'R201.HEAT';
const CHECK_TAG = 'R201.TT01.PV';
const SAMPLES = 100;
const WINDOW = 1000;
const LATENCY_RATE = 500;
const LATENCY_SECONDS = 5;

/** The bench's knobs: the one place that reads the environment and the command line. */
function benchOptions(): { messages: number } {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === '--messages' || a.startsWith('--messages='));
  const fromArgv = i < 0 ? undefined : argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  const text = fromArgv ?? process.env['BENCH_MESSAGES'] ?? '20000';
  const messages = Number(text);
  if (!Number.isInteger(messages) || messages < 100) throw new Error(`BENCH_MESSAGES must be an integer >= 100, got ${text}`);
  return { messages };
}

setLogLevel('warn');
const log = logger('bench');
const out = (line: string) => process.stdout.write(line + '\n');
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Things to undo at the end, on error and on SIGINT/SIGTERM (last in, first out). */
const undo: { what: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const u of undo.splice(0).reverse()) {
      try {
        await Promise.race([u.run(), sleep(15_000).then(() => Promise.reject(new Error('timed out')))]);
      } catch (err) {
        log.warn({ err: String(err) }, `bench cleanup: ${u.what} failed`);
      }
    }
  })());
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}, stopping the nats-server\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

interface Conn {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}
async function open(url: string, name: string, highRate: boolean): Promise<Conn> {
  const nc = await connectNats(url, { name, highRate, log });
  undo.push({ what: `close ${name}`, run: () => (nc.isClosed() ? Promise.resolve() : nc.close()) });
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

/** Event-loop delay while `run` runs (how long the single JS thread was blocked at a stretch), in ms. */
async function withLoopDelay<T>(run: () => Promise<T>): Promise<[T, { p50Ms: number; p99Ms: number; maxMs: number }]> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  try {
    const r = await run();
    return [r, { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 }];
  } finally {
    h.disable();
  }
}

function rates(run: { messages: number; ms: number }) {
  const msgsPerSec = (run.messages * 1000) / run.ms;
  return { messages: run.messages, samples: run.messages * SAMPLES, ms: run.ms, msgsPerSec, samplesPerSec: msgsPerSec * SAMPLES };
}

async function main(): Promise<number> {
  const { messages } = benchOptions();
  const warmup = Math.min(1000, Math.ceil(messages / 10));
  const config = loadConfig(join(ROOT, 'config'));

  // ---- the broker: production settings, private temp store ----
  const bin = await resolveNatsServer({ bin: readEnv().natsServerBin, varDir: join(ROOT, 'var'), log });
  const natsVersion = await natsServerVersion(bin);
  const dir = await mkdtemp(join(tmpdir(), 'phaseline-bench-'));
  undo.push({ what: 'remove the temp dir', run: () => rm(dir, { recursive: true, force: true }) });
  const server: NatsServerHandle = await startNatsServer({ bin, storeDir: join(dir, 'store'), runDir: join(dir, 'run'), log });
  undo.push({ what: 'stop nats-server', run: () => server.stop() });
  guardServer(server.pid, join(dir, 'run', 'nats-server.conf'), dir); // also stops it if this process is killed

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${osRelease()}`,
    node: process.version,
    natsServer: natsVersion,
    msgpackNative: nativeCodec(),
    date: new Date().toISOString(),
  };
  out(`bench: ${machine.date}`);
  out(`bench: cpu ${machine.cpu} × ${machine.cores} cores, ${machine.memGiB} GiB, ${machine.os}`);
  out(`bench: node ${machine.node}, nats-server ${machine.natsServer} (file storage, sync_interval: always), msgpackr native ${machine.msgpackNative}`);
  out(`bench: ${fmt(messages)} messages × ${SAMPLES} samples per phase (+${fmt(warmup)} warm-up, not measured), ${WINDOW} in flight, source ${SRC}`);

  const rt = await open(server.url, 'bench-runtime', false);
  const ing = await open(server.url, 'bench-ingest', true);
  const edge = await open(server.url, 'bench-edge', true);

  const cpuLine = (c: ReturnType<typeof cpuBetween>) =>
    `node ${fmt(c.nodeCpuS, 1)} s (${fmt(c.nodeCores * 100)} % of a core), nats-server ` +
    (c.natsCpuS === null ? 'n/a' : `${fmt(c.natsCpuS, 1)} s (${fmt(c.natsCores! * 100)} % of a core)`) +
    ` over ${fmt(c.wallS, 2)} s`;
  const loopLine = (d: { p50Ms: number; p99Ms: number; maxMs: number }) =>
    `event-loop delay p50 ${fmt(d.p50Ms, 1)} ms, p99 ${fmt(d.p99Ms, 1)} ms, max ${fmt(d.maxMs, 1)} ms`;

  // ---- (a) raw ceiling ----
  const rawStream = 'RAW';
  await rt.jsm.streams.add(streamConfig(rawStream, { ...STREAMS['TELEMETRY'], subjects: ['raw.>'] }));
  const rawWl = workload(config, SRC, `raw-${Date.now()}`, SAMPLES);
  const rawT0 = Date.now() - 2 * messages * SAMPLES - 3_600_000;
  const rawMsg = (seq: number) => rawWl.message(seq, rawT0 + seq * SAMPLES);
  await publishWindowed(edge.js, 'raw.line2', warmup, WINDOW, (i) => rawMsg(i + 1));
  const rawCpu0 = await cpuSnap(server.pid);
  const rawRun = await publishWindowed(edge.js, 'raw.line2', messages, WINDOW, (i) => rawMsg(warmup + i + 1));
  const rawCpu = cpuBetween(rawCpu0, await cpuSnap(server.pid));
  const rawState = (await rt.jsm.streams.info(rawStream)).state;
  if (rawState.messages !== warmup + messages || rawRun.duplicates > 0) {
    throw new Error(`RAW holds ${rawState.messages} messages (${rawRun.duplicates} duplicates), expected ${warmup + messages}`);
  }
  const raw = { ...rates(rawRun), streamBytes: rawState.bytes, cpu: rawCpu };
  out(`raw:     ${fmt(raw.msgsPerSec)} msgs/s, ${fmt(raw.samplesPerSec)} samples/s (${fmt(messages)} msgs in ${fmt(raw.ms / 1000, 2)} s, ${fmt(rawState.bytes / 2 ** 20, 1)} MiB stored)`);
  out(`         cpu: ${cpuLine(rawCpu)}`);
  await rt.jsm.streams.delete(rawStream);

  // ---- (b) product: TELEMETRY through the contextualiser ----
  await ensureStreams(rt.jsm);
  const buckets: Buckets = await ensureBuckets(rt.nc);
  const metrics = new Metrics();
  const start = async () => {
    const i = await startIngest({ ...ing, buckets, config, metrics, log: logger('ingest') });
    undo.push({ what: 'stop ingest', run: () => i.stop() });
    return i;
  };
  let ingest: Ingest = await start();

  const epoch = `bench-${Date.now()}`;
  const wl = workload(config, SRC, epoch, SAMPLES);
  // Source times in the past (nothing clamped as future): frames open at `at`, the warm-up lies before it, then the
  // product run, then the backlog run; the latency run stamps the current time.
  const at = Date.now() - 2 * messages * SAMPLES - 600_000;
  let seq = 0;
  await publishWindowed(edge.js, subjects.telemetry(SRC), warmup, WINDOW, (i) =>
    wl.message(++seq, at - (warmup - i) * SAMPLES - 1000),
  );
  await ingest.idle();
  await openFrames(rt.js, at);
  await ingest.idle();
  const sentBefore = wl.sent.get(CHECK_TAG)!;
  const sentSince = () => wl.sent.get(CHECK_TAG)! - sentBefore;

  const prodCpu0 = await cpuSnap(server.pid);
  const prodT0 = performance.now();
  const [pubRun, prodLoop] = await withLoopDelay(async () => {
    const run: PublishRun = await publishWindowed(edge.js, subjects.telemetry(SRC), messages, WINDOW, (i) =>
      wl.message(++seq, at + 1 + i * SAMPLES),
    );
    await ingest.idle();
    return run;
  });
  const prodMs = performance.now() - prodT0;
  const prodCpu = cpuBetween(prodCpu0, await cpuSnap(server.pid));
  if (pubRun.duplicates > 0) throw new Error(`${pubRun.duplicates} product messages were duplicates`);
  const product = { ...rates({ messages, ms: prodMs }), publishMs: pubRun.ms, cpu: prodCpu, loopDelay: prodLoop };
  out(`product: ${fmt(product.msgsPerSec)} msgs/s, ${fmt(product.samplesPerSec)} samples/s (${fmt(messages)} msgs in ${fmt(prodMs / 1000, 2)} s; publishing took ${fmt(pubRun.ms / 1000, 2)} s)`);
  out(`         cpu: ${cpuLine(prodCpu)}; ${loopLine(prodLoop)}`);
  const check1 = await verify(buckets, sentSince(), seq * SAMPLES, seq);
  for (const line of check1.lines) out(`verify:  ${line}`);

  // ---- (b') backlog: the same messages already stored, drained by a freshly started ingest alone ----
  await ingest.stop();
  const backlogT = at + 1 + messages * SAMPLES;
  await publishWindowed(edge.js, subjects.telemetry(SRC), messages, WINDOW, (i) =>
    wl.message(++seq, backlogT + i * SAMPLES),
  );
  const drainCpu0 = await cpuSnap(server.pid);
  const drainT0 = performance.now();
  let bootMs = 0;
  const [, drainLoop] = await withLoopDelay(async () => {
    ingest = await start();
    bootMs = performance.now() - drainT0;
    await ingest.idle();
  });
  const drainMs = performance.now() - drainT0;
  const drainCpu = cpuBetween(drainCpu0, await cpuSnap(server.pid));
  const backlog = { ...rates({ messages, ms: drainMs }), bootMs, cpu: drainCpu, loopDelay: drainLoop };
  out(`backlog: ${fmt(backlog.msgsPerSec)} msgs/s, ${fmt(backlog.samplesPerSec)} samples/s (ingest alone drains ${fmt(messages)} stored msgs in ${fmt(drainMs / 1000, 2)} s, start-up ${fmt(bootMs)} ms included)`);
  out(`         cpu: ${cpuLine(drainCpu)}; ${loopLine(drainLoop)}`);
  const check2 = await verify(buckets, sentSince(), seq * SAMPLES, seq);
  out(`verify:  after the backlog run ${check2.ok ? 'ok' : 'WRONG'}: ${check2.summary}`);

  // ---- (c) latency at a fixed rate: publish → committed in the source record ----
  const latency = await measureLatency(edge.js, buckets, ingest, (ts0) => wl.message(++seq, ts0, 1000 / LATENCY_RATE / SAMPLES), epoch, () => seq);
  out(`latency: ${fmt(latency.messages)} msgs at ${LATENCY_RATE} msgs/s (${fmt(LATENCY_RATE * SAMPLES)} samples/s): publish → committed p50 ${fmt(latency.p50Ms, 2)} ms, p99 ${fmt(latency.p99Ms, 2)} ms, max ${fmt(latency.maxMs, 2)} ms (broker ack p50 ${fmt(latency.ackP50Ms, 2)} ms, p99 ${fmt(latency.ackP99Ms, 2)} ms)`);
  const check3 = await verify(buckets, sentSince(), seq * SAMPLES, seq);
  out(`verify:  after the latency run ${check3.ok ? 'ok' : 'WRONG'}: ${check3.summary}`);

  // ---- (d, e) store-and-forward: buffer append rate, replay after a 1,000,000-sample outage (own nats-server) ----
  const buffer = await benchBuffer({ bin, config, appendMessages: messages, out, log });

  const ok = check1.ok && check2.ok && check3.ok;
  const ratio = product.samplesPerSec / raw.samplesPerSec;
  const result = {
    machine,
    params: { messages, samplesPerMessage: SAMPLES, inFlight: WINDOW, warmup, latencyRate: LATENCY_RATE, latencySeconds: LATENCY_SECONDS },
    raw,
    product,
    backlog,
    latency,
    buffer,
    verify: { ok, tag: CHECK_TAG, afterProduct: check1.detail, afterBacklog: check2.detail, afterLatency: check3.detail },
    ratio: Math.round(ratio * 100) / 100,
    target: 0.25,
  };
  await mkdir(join(ROOT, 'var', 'bench'), { recursive: true });
  await writeFile(join(ROOT, 'var', 'bench', 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  out(`bench: results written to var/bench/latest.json`);
  if (!ok) out(`bench: FAILED: the frame aggregates do not hold what was sent`);
  await cleanup();
  out(`bench: product/raw ${ratio.toFixed(2)}`);
  return ok ? 0 : 1;
}

/** Opens the batch / unit-procedure / operation frames (MES context) and the phase frame (phase Idle → Running) at `at`. */
async function openFrames(js: JetStreamClient, at: number): Promise<void> {
  const ctx = { unit: UNIT, contextId: `bench-ctx-${at}`, batchId: `BENCH-${at}`, specVersion: '1', seq: 1, unitProcedure: 'UP', operation: 'OP', phase: PHASE, at };
  await js.publish(subjects.context(UNIT), encode(ctx));
  const ev = { actor: PHASE, type: 'phase', from: 'Idle', to: 'Running', event: 'START', at, seq: 1 };
  await js.publish(subjects.event('phase', PHASE), encode(ev));
}

/** Checks that every frame of R201 counted exactly the `CHECK_TAG` samples sent into it, and the record's totals. */
async function verify(buckets: Buckets, sent: number, samples: number, lastSeq: number) {
  const frames = await listFrames(buckets, { unit: UNIT });
  const rec = decodeRecord((await buckets.ingest.get(recordKey(SRC)))?.value ?? undefined);
  const counts = frames.map((f) => ({ kind: f.kind, id: f.id, count: f.tags[CHECK_TAG]?.count ?? 0 }));
  const kinds = new Set(counts.map((c) => c.kind));
  const framesOk = (['batch', 'unitProcedure', 'operation', 'phase'] as const).every((k) => kinds.has(k)) && counts.every((c) => c.count === sent);
  const recOk = rec !== undefined && rec.samples === samples && rec.messages === lastSeq;
  const ok = framesOk && recOk;
  const lines = [
    ...counts.map((c) => `${c.kind.padEnd(13)} ${CHECK_TAG} count ${fmt(c.count)} (sent ${fmt(sent)}) ${c.count === sent ? 'ok' : 'WRONG'}`),
    `source record ${SRC}: ${fmt(rec?.messages ?? 0)} messages, ${fmt(rec?.samples ?? 0)} samples (expected ${fmt(lastSeq)}, ${fmt(samples)}) ${recOk ? 'ok' : 'WRONG'}`,
  ];
  if (counts.length !== 4) lines.push(`expected 4 frames of ${UNIT}, found ${counts.length} WRONG`);
  const summary = `${counts.map((c) => `${c.kind} ${fmt(c.count)}`).join(', ')} of ${fmt(sent)} sent; record ${fmt(rec?.samples ?? 0)} of ${fmt(samples)} samples`;
  return { ok, lines, summary, detail: { sent, frames: counts, recordSamples: rec?.samples ?? 0, expectedSamples: samples } };
}

/**
 * Publishes at LATENCY_RATE for LATENCY_SECONDS (sample times = the scheduled send time) and measures, per message,
 * the time from just before `js.publish` until a KV watch on the ingest's source record shows its seq applied (the
 * record is written by the commit, before the acknowledgements). Also reports the broker's ack latency.
 */
async function measureLatency(
  js: JetStreamClient,
  buckets: Buckets,
  ingest: Ingest,
  build: (ts0: number) => { data: Uint8Array; msgId: string },
  epoch: string,
  lastSeq: () => number,
) {
  const n = LATENCY_RATE * LATENCY_SECONDS;
  const pending: { seq: number; t: number }[] = [];
  let head = 0;
  const committed: number[] = [];
  const acked: number[] = [];
  const watch = await buckets.ingest.watch({ key: recordKey(SRC) });
  const following = (async () => {
    for await (const e of watch) {
      if (e.operation !== 'PUT' || e.value.length === 0) continue;
      const now = performance.now();
      const ranges = decodeRecord(e.value)?.epochs[epoch]?.ranges ?? [];
      while (head < pending.length && hasSeq(ranges, pending[head]!.seq)) committed.push(now - pending[head++]!.t);
    }
  })();
  const acks: Promise<unknown>[] = [];
  const startWall = Date.now();
  const start = performance.now();
  for (let i = 0; i < n; ) {
    const due = Math.min(n, Math.floor(((performance.now() - start) * LATENCY_RATE) / 1000) + 1);
    while (i < due) {
      const { data, msgId } = build(startWall + Math.round((i * 1000) / LATENCY_RATE));
      const t = performance.now();
      pending.push({ seq: lastSeq(), t });
      acks.push(js.publish(subjects.telemetry(SRC), data, { msgID: msgId }).then(() => acked.push(performance.now() - t)));
      i++;
    }
    await sleep(1);
  }
  await Promise.all(acks);
  await ingest.idle();
  for (const deadline = Date.now() + 10_000; head < pending.length && Date.now() < deadline; ) await sleep(10);
  watch.stop();
  await following;
  if (head < pending.length) throw new Error(`latency: ${pending.length - head} of ${n} messages never showed up as committed`);
  committed.sort((a, b) => a - b);
  acked.sort((a, b) => a - b);
  return {
    messages: n,
    rate: LATENCY_RATE,
    p50Ms: quantile(committed, 0.5),
    p99Ms: quantile(committed, 0.99),
    maxMs: committed[committed.length - 1]!,
    ackP50Ms: quantile(acked, 0.5),
    ackP99Ms: quantile(acked, 0.99),
  };
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    if (interrupted) return; // the signal handler is cleaning up and exits 130
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
