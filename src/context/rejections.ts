import type { Sample, TelemetryMessage } from '../../nats/telemetry.schema.ts';

/** A TELEMETRY message as delivered, with the runtime's receipt time. */
export interface Incoming {
  subject: string;
  data: Uint8Array;
  streamSeq: number;
  receivedAt: number;
  msgId?: string;
}

/** A message (or the rejected part of one) to dead-letter before the batch is acknowledged. */
export interface Rejection {
  reason: string;
  detail: string;
  subject: string;
  /** The original bytes, or a plain copy of the message holding only the rejected samples. */
  data: Uint8Array | Record<string, unknown>;
  streamSeq: number;
  msgId?: string;
  /** `dlq:TELEMETRY:<streamSeq>[:part]`: a retried dead-lettering after a crash lands once. */
  dedupeId: string;
}

function rejection(m: Incoming, reason: string, detail: string, data: Rejection['data'], suffix = ''): Rejection {
  const dedupeId = `dlq:TELEMETRY:${m.streamSeq}${suffix}`;
  const { subject, streamSeq, msgId } = m;
  return { reason, detail, subject, data, streamSeq, dedupeId, ...(msgId ? { msgId } : {}) };
}

/** The whole message is rejected (DESIGN.md principle 9: dead-lettered with its reason, never dropped). */
export function wholeMessage(m: Incoming, reason: string, detail: string): Rejection {
  return rejection(m, reason, detail, m.data);
}

/** A copy holding only the samples whose tags the dictionary does not know for this source; the rest was applied. */
export function unknownTags(m: Incoming, msg: TelemetryMessage, samples: Sample[]): Rejection {
  const tags = [...new Set(samples.map((s) => s.tag))];
  const list = tags.slice(0, 10).join(', ') + (tags.length > 10 ? ', …' : '');
  const detail = `${samples.length} sample(s) of tags not in the dictionary for source ${msg.src}: ${list}`;
  return rejection(m, 'unknown_tag', detail, { ...msg, samples });
}

/** A copy holding only the samples whose value type contradicts the tag's data type. */
export function wrongTypes(
  m: Incoming,
  msg: TelemetryMessage,
  samples: Sample[],
  typeOf: (tag: string) => string,
): Rejection {
  const first = samples.slice(0, 5).map((s) => `${s.tag} expects ${typeOf(s.tag)}, got ${typeof s.v}`);
  const detail = `${samples.length} sample(s) with a value of the wrong type (${first.join('; ')})`;
  return rejection(m, 'invalid', detail, { ...msg, samples }, ':type');
}
