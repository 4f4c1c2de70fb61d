/**
 * A small Prometheus registry: counters and gauges with labels, rendered as text exposition format 0.0.4.
 * Passed in as a port (never a singleton) so tests can read the figures they caused.
 */
export type Labels = Record<string, string>;

/** One metric family of the product: its type, its label names and its HELP text. */
export interface MetricDef {
  type: 'counter' | 'gauge';
  help: string;
  labels: readonly string[];
  /** Label sets known up front, exposed at zero from the start (a counter without labels always is). */
  zero?: readonly Labels[];
}

const counter = (help: string, labels: readonly string[] = [], zero?: readonly Labels[]): MetricDef =>
  ({ type: 'counter', help, labels, ...(zero ? { zero } : {}) });
const gauge = (help: string, labels: readonly string[] = []): MetricDef => ({ type: 'gauge', help, labels });

/**
 * Every metric the product exposes on `GET /metrics`, in one place (CONTRACT.md §2): a {@link Metrics} registry lists
 * them all from its start, counters at zero, so a rate over a fresh process is defined and a missing series is never
 * mistaken for a quiet one. Names follow the Prometheus conventions: base units (`_seconds`, `_bytes`, `_ratio`),
 * `_total` on counters only.
 */
export const METRICS = {
  // actor host
  phaseline_actor_inputs_total: counter('Actor inputs applied, by actor type and outcome (applied, rejected)', ['type', 'outcome']),
  phaseline_actor_duplicate_inputs_total: counter('Actor inputs skipped because their message id was applied already', ['type']),
  phaseline_actor_shard_restarts_total: counter('Shard consumer restarts after a failure', ['type']),
  phaseline_actors_created_total: counter('Actors created at run time', ['type']),
  phaseline_actors_migrated_total: counter('Actor snapshots migrated to a newer machine version', ['type']),
  phaseline_actors_quarantined_total: counter('Actors quarantined instead of reset', ['type']),
  // alarms, exceptions, commands, security
  phaseline_alarm_events_total: counter('Alarm events from the control system, by outcome', ['outcome']),
  phaseline_exceptions_raised_total: counter('Exceptions raised by the runtime, by kind', ['kind']),
  phaseline_exception_raiser_skipped_total: counter('EVENTS messages the exception raiser could not read', ['reason']),
  phaseline_command_outcomes_total: counter('Guarded-write outcomes reported by edges', ['source', 'outcome']),
  phaseline_security_events_total: counter('Security events, by kind', ['event']),
  phaseline_dead_letters_total: counter('Messages dead-lettered, by original stream and reason', ['stream', 'reason']),
  // audit trail
  phaseline_audit_entries_total: counter('Audit entries chained'),
  phaseline_audit_checkpoints_total: counter('Signed audit checkpoints written'),
  phaseline_audit_duplicates_total: counter('Audit requests skipped as already chained, by how they were recognised', ['by']),
  phaseline_audit_writer_errors_total: counter('Audit writer batch failures (retried)'),
  phaseline_audit_chain_seq: gauge('Sequence of the last audit entry chained'),
  // HTTP
  phaseline_auth_logins_total: counter('Login attempts by result', ['result'], [{ result: 'ok' }, { result: 'failed' }]),
  phaseline_http_idempotent_replays_total: counter('Writes answered from the idempotency store'),
  phaseline_http_idempotency_refused_total: counter('Idempotency-Key retries refused, by reason', ['reason'],
    [{ reason: 'in_progress' }, { reason: 'mismatch' }]),
  // ingest and event frames
  phaseline_ingest_messages_total: counter('Telemetry messages applied, by source', ['source']),
  phaseline_ingest_samples_total: counter('Telemetry samples applied, by source', ['source']),
  phaseline_ingest_duplicates_total: counter('Telemetry messages whose (src, epoch, seq) was applied before', ['source']),
  phaseline_ingest_redelivered_total: counter('Redeliveries skipped: their batch was already committed', ['source']),
  phaseline_ingest_commits_total: counter('Source records committed'),
  phaseline_ingest_failures_total: counter('Ingest cycles that failed and were recovered by reloading'),
  phaseline_ingest_positions_beyond_stream_total: counter('Source records whose TELEMETRY position was past the stream end', ['source']),
  phaseline_ingest_gaps: gauge('Sequence gaps per source, by status (pending: the edge may still fill)', ['source', 'status']),
  phaseline_ingest_gap_seqs: gauge('Sequence numbers missing per source, by status', ['source', 'status']),
  phaseline_ingest_lag_seconds: gauge('Receipt time minus edge send time of the last applied message', ['source']),
  phaseline_frames_written_total: counter('Event frame records written'),
  phaseline_frames_inexact_total: counter('Frames backfilled or cut beyond the recent-sample buffer'),
  phaseline_frames_open: gauge('Event frames without an end'),
  // sources as the runtime sees them
  phaseline_source_last_seq: gauge('Highest applied sequence of the current epoch', ['source']),
  phaseline_source_buffer_depth: gauge('Messages in the edge store-and-forward buffer (last heartbeat)', ['source']),
  phaseline_source_clock_offset_seconds: gauge(
    'Estimated runtime clock minus edge clock (minimum-delay envelope of receipt minus sent)', ['source']),
  phaseline_source_clock_drift_ratio: gauge('Estimated drift of the edge clock offset (seconds per second)', ['source']),
  phaseline_source_clock_skewed: gauge('1 while the edge clock offset is beyond the skew tolerance', ['source']),
  // edge collectors
  phaseline_edge_samples_total: counter('Samples collected', ['src']),
  phaseline_edge_dropped_samples_total: counter('Samples refused at the source', ['src', 'reason']),
  phaseline_edge_messages_total: counter('Telemetry messages acknowledged by JetStream', ['src', 'hist']),
  phaseline_edge_publish_failures_total: counter('Telemetry publishes that failed (kept in the buffer)', ['src']),
  phaseline_edge_commands_total: counter('Guarded writes by outcome', ['src', 'outcome']),
  phaseline_edge_bad_items_total: counter('Monitored items refused by the OPC UA server', ['src', 'reason']),
  phaseline_edge_refused_items: gauge('Monitored items the OPC UA server refused when the session last opened', ['src']),
  phaseline_edge_unsupported_values_total: counter('Values of an unsupported OPC UA type', ['src']),
  phaseline_edge_opcua_gaps_total: counter('OPC UA collection gaps (connection lost, then restored)', ['src']),
  phaseline_edge_opcua_last_gap_seconds: gauge('Length of the last OPC UA collection gap', ['src']),
  phaseline_edge_opcua_backfilled_total: counter('Samples recovered with HistoryRead', ['src']),
  phaseline_edge_opcua_duplicates_total: counter('Samples both restored live and read from history, delivered once', ['src']),
  // edge store-and-forward buffer
  phaseline_edge_buffer_appends_total: counter('Records made durable in the buffer', ['src']),
  phaseline_edge_buffer_fsyncs_total: counter('Group commits (fdatasync) of the buffer', ['src']),
  phaseline_edge_buffer_write_errors_total: counter('Failed buffer group commits', ['src']),
  phaseline_edge_buffer_overflows_total: counter('Appends that hit the buffer size bound', ['src', 'policy']),
  phaseline_edge_buffer_dropped_records_total: counter('Unacknowledged buffer records dropped on overflow', ['src']),
  phaseline_edge_buffer_corrupt_records_total: counter('Buffer records skipped as corrupt', ['src']),
  phaseline_edge_buffer_blocked_total: counter('Seals deferred because the buffer was full (policy block)', ['src']),
  phaseline_edge_buffer_depth: gauge('Buffered telemetry messages awaiting a JetStream ack', ['src']),
  phaseline_edge_buffer_bytes: gauge('Bytes of the store-and-forward buffer on disk', ['src']),
  // Sparkplug B primary host
  phaseline_sparkplug_messages_total: counter('Sparkplug B messages received', ['src', 'type']),
  phaseline_sparkplug_rejected_total: counter('Sparkplug B messages not applied', ['src', 'reason']),
  phaseline_sparkplug_rebirth_requests_total: counter('Rebirth requests sent', ['src', 'reason']),
  phaseline_sparkplug_seq_lost_total: counter('Sparkplug B sequence numbers lost', ['src', 'node']),
  phaseline_sparkplug_unmapped_metrics_total: counter('Sparkplug B metrics with no tag mapped', ['src', 'node']),
  phaseline_sparkplug_skipped_metrics_total: counter('Sparkplug B metrics skipped, by reason', ['src', 'node', 'reason']),
} as const satisfies Record<string, MetricDef>;

/** The name of a metric the product declares. */
export type MetricName = keyof typeof METRICS;

interface Family {
  type: 'counter' | 'gauge';
  help: string;
  values: Map<string, { labels: Labels; value: number }>;
}

export class Metrics {
  readonly #families = new Map<string, Family>();
  readonly #catalogue: Readonly<Record<string, MetricDef>>;

  /** Declares every family of `catalogue` (the product's {@link METRICS} by default): counters start at zero. */
  constructor(catalogue: Readonly<Record<string, MetricDef>> = METRICS) {
    this.#catalogue = catalogue;
    for (const [name, def] of Object.entries(catalogue)) {
      this.#families.set(name, { type: def.type, help: def.help, values: new Map() });
      if (def.type !== 'counter') continue;
      for (const labels of def.labels.length === 0 ? [{}] : def.zero ?? []) this.#slot(name, 'counter', def.help, labels);
    }
  }

  /** Adds `by` (default 1) to a counter; `help` only names a family the catalogue does not declare. */
  inc(name: string, labels: Labels = {}, by = 1, help = name): void {
    const slot = this.#slot(name, 'counter', help, labels);
    slot.value += by;
  }

  /** Sets a gauge; `help` only names a family the catalogue does not declare. */
  set(name: string, labels: Labels, value: number, help = name): void {
    this.#slot(name, 'gauge', help, labels).value = value;
  }

  /** Reads one series (0 when absent). */
  get(name: string, labels: Labels = {}): number {
    return this.#families.get(name)?.values.get(key(labels))?.value ?? 0;
  }

  /** Sum of a family over every label set. */
  total(name: string): number {
    let sum = 0;
    for (const v of this.#families.get(name)?.values.values() ?? []) sum += v.value;
    return sum;
  }

  /** Declares a family so that it is exposed (with help text) before its first sample; the catalogue's help wins. */
  describe(name: string, type: 'counter' | 'gauge', help: string): void {
    if (!this.#families.has(name)) this.#families.set(name, { type, help, values: new Map() });
    else if (!Object.hasOwn(this.#catalogue, name)) this.#families.get(name)!.help = help;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.#families) {
      lines.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`);
      for (const { labels, value } of f.values.values()) lines.push(`${name}${fmt(labels)} ${number(value)}`);
    }
    return lines.join('\n') + '\n';
  }

  #slot(name: string, type: Family['type'], help: string, labels: Labels) {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, (f = { type, help, values: new Map() }));
    const k = key(labels);
    let slot = f.values.get(k);
    if (!slot) f.values.set(k, (slot = { labels: { ...labels }, value: 0 }));
    return slot;
  }
}

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function fmt(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${k}="${escapeHelp(labels[k]!).replace(/"/g, '\\"')}"`).join(',') + '}';
}

/** HELP text escaping of the text format: backslash and line feed (a label value escapes `"` as well). */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as the text format spells it (`+Inf`, `-Inf`, `NaN`). */
function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
