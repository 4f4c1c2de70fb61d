import sparkplug from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { SparkplugPayloadError } from '../../errors.ts';

/** Eclipse Tahu's codec for the `spBv1.0` namespace (Sparkplug B 3.0 ch. 6 Payloads: Google Protocol Buffers). */
const tahu = sparkplug.get('spBv1.0')!;

/** A scalar metric value after decoding (Sparkplug B 3.0 ch. 6 Payloads, Datatypes); `null` when `is_null` is set. */
export type MetricValue = number | boolean | string | null;

/** One metric with plain JavaScript numbers (Sparkplug B 3.0 ch. 6 Payloads, Metric). */
export interface SpMetric {
  name?: string;
  alias?: number;
  datatype: string;
  value: MetricValue;
  /** Source time of the value, epoch ms (ch. 6 Metric `timestamp`). */
  timestamp?: number;
  /** ch. 6 Metric `is_historical`: not the current value (buffered at the edge). */
  historical: boolean;
  /** ch. 6 Metric `is_transient`: not to be stored by a historian. */
  transient: boolean;
  /** The `Quality` property as the edge sent it (OPC DA code or text), if any (ch. 6 PropertySet). */
  quality?: number | string;
  /** The value type is one Phaseline does not sample (DataSet, Template, Bytes, File, PropertySet). */
  unsupported?: boolean;
}

/** A decoded payload (Sparkplug B 3.0 ch. 6 Payloads, Payload). */
export interface SpPayload {
  timestamp?: number;
  seq?: number;
  metrics: SpMetric[];
}

const SCALAR = new Set([
  'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double',
  'Boolean', 'String', 'Text', 'UUID', 'DateTime',
]);

interface LongLike {
  toNumber(): number;
}
const isLong = (v: unknown): v is LongLike => typeof v === 'object' && v !== null && 'toNumber' in v;
const num = (v: unknown): number | undefined =>
  v === undefined || v === null ? undefined : isLong(v) ? v.toNumber() : typeof v === 'number' ? v : undefined;

/**
 * Decodes a Sparkplug B payload into plain values; throws {@link SparkplugPayloadError} `malformed` on bytes that are
 * not a valid protobuf `Payload` (ch. 6), so the host can dead-letter them with the reason.
 */
export function decodePayload(data: Uint8Array): SpPayload {
  let raw: ReturnType<typeof tahu.decodePayload>;
  try {
    raw = tahu.decodePayload(data);
  } catch (err) {
    throw new SparkplugPayloadError('malformed', `not a Sparkplug B payload: ${(err as Error).message}`, { cause: err });
  }
  const metrics = (raw.metrics ?? []).map((m): SpMetric => {
    const datatype = String(m.type ?? 'Unknown');
    const supported = SCALAR.has(datatype);
    const v = m.value as unknown;
    const value: MetricValue =
      v === null || v === undefined || !supported ? null : isLong(v) ? v.toNumber() : (v as number | boolean | string);
    const q = m.properties?.['Quality']?.value ?? m.properties?.['quality']?.value;
    const alias = num(m.alias);
    const timestamp = num(m.timestamp);
    return {
      ...(m.name ? { name: m.name } : {}),
      ...(alias !== undefined ? { alias } : {}),
      datatype,
      value,
      ...(timestamp !== undefined ? { timestamp } : {}),
      historical: m.isHistorical === true,
      transient: m.isTransient === true,
      ...(typeof q === 'number' || typeof q === 'string' ? { quality: q } : isLong(q) ? { quality: q.toNumber() } : {}),
      ...(supported ? {} : { unsupported: true }),
    };
  });
  const timestamp = num(raw.timestamp);
  const seq = num(raw.seq);
  return { ...(timestamp !== undefined ? { timestamp } : {}), ...(seq !== undefined ? { seq } : {}), metrics };
}

/** Encodes a payload with Tahu's codec (used for NCMD rebirth requests and by test edges). */
export function encodePayload(p: UPayload): Uint8Array {
  return tahu.encodePayload(p);
}

export type { UPayload, UMetric } from 'sparkplug-payload/lib/sparkplugbpayload.js';
