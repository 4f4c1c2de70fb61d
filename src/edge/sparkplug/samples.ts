import type { TagDef } from '../../../config/plant.schema.ts';
import type { Sample } from '../../../nats/telemetry.schema.ts';
import type { SpMetric } from './codec.ts';

/**
 * A sample as the telemetry sink takes it: the wire sample of CONTRACT.md §5.1 (nats/telemetry.schema.ts), plus `hist`
 * for `is_historical` metrics (Sparkplug B 3.0 ch. 6 Metric: buffered at the edge, not the current value).
 */
export type EdgeSample = Sample & { hist?: true };

/** Where samples go: the telemetry publisher behind a small port (its own API is being reworked). */
export interface SampleSink {
  add(samples: readonly EdgeSample[]): void;
}

/** Why a metric gave no sample. */
export type MetricSkip = 'type_mismatch' | 'unsupported_type' | 'null_without_value';

/**
 * Quality from the metric's `Quality` property (OPC DA codes as Sparkplug edges commonly send them: ≥ 192 good,
 * 64–191 uncertain, below bad; or the words) and `is_null` (Sparkplug B 3.0 ch. 6 Metric): a null value is bad.
 */
export function qualityOf(m: SpMetric): EdgeSample['q'] {
  if (m.value === null) return 'bad';
  const q = m.quality;
  if (q === undefined) return 'good';
  if (typeof q === 'number') return q >= 192 ? 'good' : q >= 64 ? 'uncertain' : 'bad';
  return /^good/i.test(q) ? 'good' : /^uncertain/i.test(q) ? 'uncertain' : 'bad';
}

/** Converts a decoded value to the tag's data type, or undefined when it does not fit. */
export function coerce(value: number | boolean | string, dataType: TagDef['dataType']): EdgeSample['v'] | undefined {
  if (dataType === 'number') return typeof value === 'number' && Number.isFinite(value) ? value : typeof value === 'boolean' ? Number(value) : undefined;
  if (dataType === 'boolean') return typeof value === 'boolean' ? value : typeof value === 'number' ? value !== 0 : undefined;
  return typeof value === 'string' ? value : String(value);
}

/**
 * One metric as a sample of its tag: the metric timestamp is the source time, else the payload's (ch. 6 Payload, Metric);
 * a null value is a bad sample carrying the tag's last value (nothing to carry yet: skipped and counted).
 */
export function toSample(
  m: SpMetric,
  tag: TagDef,
  payloadTs: number | undefined,
  now: number,
  last: EdgeSample['v'] | undefined,
): EdgeSample | MetricSkip {
  if (m.unsupported) return 'unsupported_type';
  const ts = m.timestamp ?? payloadTs ?? now;
  const hist = m.historical ? { hist: true as const } : {};
  if (m.value === null) return last === undefined ? 'null_without_value' : { tag: tag.tag, v: last, q: 'bad', ts, ...hist };
  const v = coerce(m.value, tag.dataType);
  if (v === undefined) return 'type_mismatch';
  return { tag: tag.tag, v, q: qualityOf(m), ts, ...hist };
}

/** Key of a metric in the tag mapping: group, node, device ('' for node metrics) and metric name. */
export function metricKey(group: string, node: string, device: string | undefined, metric: string): string {
  return JSON.stringify([group, node, device ?? '', metric]);
}

/** The tags of a source mapped by their Sparkplug address (config `tags.json` field `sparkplug`). */
export function tagIndex(tags: readonly TagDef[]): Map<string, TagDef> {
  const out = new Map<string, TagDef>();
  for (const t of tags) {
    if (t.sparkplug && t.collect !== false) out.set(metricKey(t.sparkplug.group, t.sparkplug.node, t.sparkplug.device, t.sparkplug.metric), t);
  }
  return out;
}
