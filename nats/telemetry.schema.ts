import { z } from 'zod';
import { decode } from './codec.ts';

/** One tag value as the edge read it: source timestamp `ts` in epoch ms (DESIGN.md principle 8). */
export const SampleSchema = z.object({
  tag: z.string().min(1),
  v: z.union([z.number().finite(), z.boolean(), z.string()]),
  q: z.enum(['good', 'uncertain', 'bad']),
  ts: z.number().finite(),
});

/**
 * A telemetry message on `tlm.<sourceId>` (CONTRACT.md §5.1): many samples stamped with the edge's sequence, so the
 * runtime can apply each `(src, epoch, seq)` once (EU GMP Annex 11 §5: checks on data exchanged electronically).
 * Unknown fields are ignored (tolerant reader): the contract lets producers extend payloads.
 */
export const TelemetrySchema = z.object({
  src: z.string().min(1),
  // the epoch keys a map in the source record: never let it name the prototype
  epoch: z.string().min(1).refine((e) => e !== '__proto__', 'reserved name'),
  seq: z.number().int().min(1),
  ctx: z.record(z.string(), z.string()).optional(),
  sent: z.number().finite(),
  hist: z.boolean().optional(),
  /** Optional: the tag dictionary version the edge mapped the samples with (recorded in lineage). */
  dict: z.string().max(200).optional(),
  samples: z.array(SampleSchema),
});

export type Sample = z.infer<typeof SampleSchema>;
export type SampleValue = Sample['v'];
export type Quality = Sample['q'];
export type TelemetryMessage = z.infer<typeof TelemetrySchema>;

/** Names every offending field path of a failed parse, e.g. `samples.3.q: Invalid option`. */
export function describeIssues(error: z.ZodError, max = 5): string {
  const parts = error.issues.slice(0, max).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  if (error.issues.length > max) parts.push(`… ${error.issues.length - max} more`);
  return parts.join('; ');
}

/** Limits a telemetry message must respect (config `runtime.ingest`). */
export interface TelemetryLimits {
  maxMessageBytes: number;
  maxSamplesPerMessage: number;
}

/** A message that passed, or why not: `oversized`, `malformed` (not MessagePack) or `invalid` (wrong shape). */
export type ParsedTelemetry =
  | { ok: true; msg: TelemetryMessage }
  | { ok: false; reason: 'oversized' | 'malformed' | 'invalid'; detail: string };

/** Size check, MessagePack decode, sample-count check and schema validation, in that order (cheapest first). */
export function parseTelemetry(data: Uint8Array, limits: TelemetryLimits): ParsedTelemetry {
  if (data.length > limits.maxMessageBytes) {
    const detail = `${data.length} bytes > maxMessageBytes ${limits.maxMessageBytes}`;
    return { ok: false, reason: 'oversized', detail };
  }
  let raw: unknown;
  try {
    raw = decode(data);
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `not MessagePack: ${(err as Error).message}` };
  }
  const samples = (raw as { samples?: unknown } | null)?.samples;
  if (Array.isArray(samples) && samples.length > limits.maxSamplesPerMessage) {
    const detail = `${samples.length} samples > maxSamplesPerMessage ${limits.maxSamplesPerMessage}`;
    return { ok: false, reason: 'oversized', detail };
  }
  const parsed = TelemetrySchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'invalid', detail: describeIssues(parsed.error) };
  return { ok: true, msg: parsed.data };
}
