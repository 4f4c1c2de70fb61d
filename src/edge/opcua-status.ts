import type { DataValue } from 'node-opcua';
import type { TagDef } from '../../config/plant.schema.ts';
import type { Sample as WireSample } from '../../nats/telemetry.schema.ts';

/**
 * One collected value with its source timestamp: the wire sample of CONTRACT.md §5.1 (nats/telemetry.schema.ts, the
 * schema the runtime validates with), plus `hist` when it was read back from the server's history (HistoryRead).
 */
export type Sample = WireSample & { hist?: boolean };

/**
 * Maps an OPC UA StatusCode to the contract's quality: the two severity bits (IEC 62541-4 §7.39, Table 176):
 * 00 Good → `good`, 01 Uncertain → `uncertain`, 10 Bad → `bad`; the reserved 11 is treated as `bad`.
 */
export function qualityOf(statusCode: number): Sample['q'] {
  const severity = (statusCode >>> 30) & 0b11;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

/** The value of a DataValue as a contract value, or undefined when its type has no contract form. */
function plainValue(raw: unknown): Sample['v'] | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'boolean' || typeof raw === 'string') return raw;
  if (raw instanceof Date) return raw.getTime();
  if (typeof raw === 'bigint') return Number(raw);
  if (Array.isArray(raw) && raw.length === 2 && raw.every((x) => typeof x === 'number')) {
    return raw[0]! * 2 ** 32 + raw[1]!; // node-opcua's (U)Int64 as [high, low]
  }
  return undefined;
}

/** What {@link toSample} reports besides the sample. */
export interface SampleOutcome {
  sample: Sample;
  /** True when a non-bad value of an unsupported type had to be replaced (and flagged bad). */
  unsupported: boolean;
}

/**
 * Converts one OPC UA DataValue to a sample: quality from the status code, `ts` from the source timestamp
 * (IEC 62541-4 §7.11; the server timestamp only when the source gave none). A bad value usually has no value at all:
 * the last good value (or the type's default) is repeated, flagged bad, so nothing is dropped silently.
 */
export function toSample(tag: TagDef, dv: DataValue, lastGood: Map<string, Sample['v']>, now = Date.now()): SampleOutcome {
  let q = qualityOf(dv.statusCode.value);
  const ts = (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime() ?? now;
  let v = plainValue(dv.value?.value);
  let unsupported = false;
  if (v === undefined) {
    unsupported = q !== 'bad';
    q = 'bad';
    v = lastGood.get(tag.tag) ?? (tag.dataType === 'number' ? 0 : tag.dataType === 'boolean' ? false : '');
  } else if (q === 'good') lastGood.set(tag.tag, v);
  return { sample: { tag: tag.tag, v, q, ts }, unsupported };
}
