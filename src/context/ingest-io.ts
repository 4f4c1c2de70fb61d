import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import type { Buckets } from '../../nats/streams.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { Contextualiser, type Rejection } from './contextualiser.ts';
import { frameKeys, parseAggregateKey, readAll, type FinalAggregate, type Frame } from './frame-store.ts';
import type { ClockBook } from './clock.ts';
import { storeBlocks } from './lineage.ts';
import { loadRecord } from './source-record.ts';
import { streamIdentity, type StreamIdentity } from '../../nats/stream-identity.ts';
import { subjects } from '../../nats/subjects.ts';

interface Ports {
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  config: PlantConfig;
  metrics: Metrics;
  bufferCap?: number;
  clock?: ClockBook;
}

/**
 * Builds a contextualiser core from committed state only: every source record, every frame and the set of final
 * aggregates. Returns the frames bucket revision it reflects (the watch resumes after it).
 */
export async function loadCore(o: Ports, log: Logger): Promise<{ core: Contextualiser; revision: number }> {
  const core = new Contextualiser(o.config, {
    ...(o.bufferCap ? { bufferCap: o.bufferCap } : {}),
    ...(o.clock ? { clock: o.clock } : {}),
  });
  const telemetry = await streamIdentity(o.jsm, 'TELEMETRY');
  const adopted: string[] = [];
  for (const src of o.config.sources) {
    const { record, revision, verdict } = await loadRecord(o.buckets.ingest, src.id, telemetry);
    if (verdict.kind === 'adopted') adopted.push(src.id);
    if (verdict.kind === 'recreated') log.warn({ source: src.id, was: verdict.was }, 'TELEMETRY is a new stream incarnation: this source\'s stream position restarts; its applied ranges are kept');
    if (verdict.kind === 'beyond') {
      o.metrics.inc('phaseline_ingest_positions_beyond_stream_total', { source: src.id }, 1, 'Source records whose TELEMETRY position was past the stream end');
      log.error({ source: src.id, ...verdict }, 'TELEMETRY ends before this source\'s committed position (replaced or restored from an older copy): the position is re-derived from the applied ranges, nothing is applied twice');
    }
    core.load(record, revision);
  }
  if (adopted.length) await auditAdoption(o, telemetry, adopted, log);
  const revision = (await o.buckets.frames.status()).streamInfo.state.last_seq;
  for (const f of (await readAll<Frame>(o.buckets.frames, frameKeys.frames)).values()) core.knowFrame(f);
  for await (const k of await o.buckets.frames.keys('agg.>')) {
    const a = parseAggregateKey(k);
    if (a) core.index.markFinal(a.frame, a.src);
  }
  core.reset();
  return { core, revision };
}

/**
 * One audit entry for the source records that took the TELEMETRY identity on this start (EU GMP Annex 11 §4.8:
 * data migration recorded). Nothing is committed by the adoption itself: the next commit of each source writes it.
 */
async function auditAdoption(o: Ports, telemetry: StreamIdentity, sources: string[], log: Logger): Promise<void> {
  const request = {
    at: Date.now(), who: 'system', action: 'ingest.position.migrated', target: 'stream:TELEMETRY', configVersion: o.config.version,
    reason: 'source records written before stream incarnations existed took the TELEMETRY identity; applied ranges kept, nothing re-applied',
    after: { incarnation: telemetry.incarnation, streamLastSeq: telemetry.lastSeq, sources },
  };
  await o.js.publish(subjects.auditInbox, encode(request), { msgID: `migration:ingest:${telemetry.incarnation}:${sources.join(',')}` });
  log.info({ sources, incarnation: telemetry.incarnation }, 'source records adopted the TELEMETRY stream identity');
}

/**
 * Publishes what the commit depends on: dead letters, PLC state inputs (`Nats-Msg-Id` fixed by the message, so a
 * retry after a crash is deduplicated) and final aggregates (idempotent puts). All land before the commit.
 */
export async function publishOutbox(
  o: Ports,
  core: Contextualiser,
  finals: FinalAggregate[],
  log: Logger,
): Promise<void> {
  const work: Promise<unknown>[] = [];
  for (const r of core.rejections) work.push(letter(o, r, log));
  for (const i of core.inputs) work.push(o.js.publish(i.subject, encode(i.envelope), { msgID: i.msgId }));
  for (const a of finals) work.push(o.buckets.frames.put(frameKeys.aggregate(a.frame, a.src), encode(a)));
  work.push(...storeBlocks(o.buckets.lineage, core.lineage.take()));
  await Promise.all(work);
  core.rejections.length = 0;
  core.inputs.length = 0;
}

function letter(o: Ports, r: Rejection, log: Logger): Promise<void> {
  const data = r.data instanceof Uint8Array ? r.data : encode(r.data);
  const { reason, detail, subject, streamSeq } = r;
  log.warn({ subject, streamSeq, reason, detail }, 'telemetry dead-lettered');
  const base = { reason, detail, subject, data, stream: 'TELEMETRY', streamSeq };
  return deadLetter(o.js, o.metrics, r.msgId ? { ...base, msgId: r.msgId } : base, r.dedupeId);
}
