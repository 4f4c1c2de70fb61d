import type { Metrics } from '../metrics.ts';
import type { ClockBook } from './clock.ts';
import type { Contextualiser } from './contextualiser.ts';
import { setClockGauges } from './heartbeats.ts';
import { highest } from './ranges.ts';

/** Declares every contextualiser metric so `/metrics` shows them before the first sample (CONTRACT.md §2). */
export function describeIngestMetrics(m: Metrics): void {
  m.describe('phaseline_ingest_messages_total', 'counter', 'Telemetry messages applied, by source');
  m.describe('phaseline_ingest_samples_total', 'counter', 'Telemetry samples applied, by source');
  m.describe(
    'phaseline_ingest_duplicates_total',
    'counter',
    'Telemetry messages whose (src, epoch, seq) was applied before',
  );
  m.describe(
    'phaseline_ingest_redelivered_total',
    'counter',
    'Redeliveries skipped: their batch was already committed',
  );
  m.describe(
    'phaseline_ingest_gaps',
    'gauge',
    'Sequence gaps per source, by status (pending: the edge may still fill)',
  );
  m.describe('phaseline_ingest_lag_seconds', 'gauge', 'Receipt time minus edge send time of the last applied message');
  m.describe(
    'phaseline_source_buffer_depth',
    'gauge',
    'Messages in the edge store-and-forward buffer (last heartbeat)',
  );
  m.describe(
    'phaseline_source_clock_offset_seconds',
    'gauge',
    'Estimated runtime clock minus edge clock (minimum-delay envelope of receipt minus sent)',
  );
  m.describe('phaseline_source_clock_drift_ratio', 'gauge', 'Estimated drift of the edge clock offset (seconds per second)');
  m.describe('phaseline_source_clock_skewed', 'gauge', '1 while the edge clock offset is beyond the skew tolerance');
  m.describe('phaseline_source_last_seq', 'gauge', 'Highest applied sequence of the current epoch');
  m.describe('phaseline_ingest_gap_seqs', 'gauge', 'Sequence numbers missing per source, by status');
  m.describe('phaseline_frames_open', 'gauge', 'Event frames without an end');
  m.describe('phaseline_frames_inexact_total', 'counter', 'Frames backfilled or cut beyond the recent-sample buffer');
  m.describe('phaseline_ingest_commits_total', 'counter', 'Source records committed');
  m.describe('phaseline_ingest_failures_total', 'counter', 'Ingest cycles that failed and were recovered by reloading');
  m.describe('phaseline_dead_letters_total', 'counter', 'Messages dead-lettered, by original stream and reason');
}

/** Publishes a committed cycle's counters and gauges, and clears the counters. */
export function flushIngestMetrics(
  m: Metrics,
  core: Contextualiser,
  committed: Set<string>,
  framesChanged: boolean,
  clock?: ClockBook,
): void {
  for (const st of core.states.values()) {
    const source = st.def.id;
    const c = st.counts;
    if (c.messages) m.inc('phaseline_ingest_messages_total', { source }, c.messages);
    if (c.samples) m.inc('phaseline_ingest_samples_total', { source }, c.samples);
    if (c.duplicates) m.inc('phaseline_ingest_duplicates_total', { source }, c.duplicates);
    if (c.redelivered) m.inc('phaseline_ingest_redelivered_total', { source }, c.redelivered);
    c.messages = c.samples = c.duplicates = c.redelivered = 0;
    if (!committed.has(source)) continue;
    let pending = 0;
    let lost = 0;
    for (const ep of Object.values(st.rec.epochs)) for (const g of ep.gaps) g.status === 'pending' ? pending++ : lost++;
    m.set('phaseline_ingest_gaps', { source, status: 'pending' }, pending);
    m.set('phaseline_ingest_gaps', { source, status: 'lost' }, lost);
    let missPending = 0;
    let missLost = 0;
    for (const ep of Object.values(st.rec.epochs))
      for (const g of ep.gaps) g.status === 'pending' ? (missPending += g.to - g.from + 1) : (missLost += g.to - g.from + 1);
    m.set('phaseline_ingest_gap_seqs', { source, status: 'pending' }, missPending);
    m.set('phaseline_ingest_gap_seqs', { source, status: 'lost' }, missLost);
    const last = st.rec.epoch ? highest(st.rec.epochs[st.rec.epoch]?.ranges ?? []) : 0;
    if (last > 0) m.set('phaseline_source_last_seq', { source }, last);
    const e = clock?.get(source);
    if (e) setClockGauges(m, source, e);
    if (st.rec.lagMs !== undefined) m.set('phaseline_ingest_lag_seconds', { source }, st.rec.lagMs / 1000);
  }
  if (framesChanged) m.set('phaseline_frames_open', {}, core.index.openCount());
  if (core.inexact) {
    m.inc('phaseline_frames_inexact_total', {}, core.inexact);
    core.inexact = 0;
  }
}
