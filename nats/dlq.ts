import type { JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { encode } from './codec.ts';
import { MSG_ID, subjects } from './subjects.ts';

/** The counter port dead-lettering needs (the shell passes its metrics registry). */
export interface DeadLetterCounter {
  inc(name: string, labels: Record<string, string>, by: number, help: string): void;
}

/** A dead letter as stored on `dlq.<original subject>` in the `DEADLETTER` stream. */
export interface DeadLetter {
  /** Stable snake_case reason, e.g. `malformed`, `invalid`, `unknown_source`, `oversized`, `duplicate`. */
  reason: string;
  /** Human sentence with the particulars (zod path, sizes, …). */
  detail: string;
  subject: string;
  /** The original bytes, untouched. */
  data: Uint8Array;
  at: number;
  /** Where the original sat, when it came from a stream. */
  stream?: string;
  streamSeq?: number;
  msgId?: string;
}

/**
 * Stores a rejected message with its reason and counts it (DESIGN.md principle 9: nothing is dropped silently).
 * `dedupeId` makes a retried dead-lettering after a crash land once (within the duplicate window).
 */
export async function deadLetter(
  js: JetStreamClient,
  metrics: DeadLetterCounter,
  letter: Omit<DeadLetter, 'at'> & { at?: number },
  dedupeId?: string,
): Promise<void> {
  const h = natsHeaders();
  h.set('Phaseline-Reason', letter.reason);
  if (dedupeId) h.set(MSG_ID, dedupeId);
  const payload: DeadLetter = { ...letter, at: letter.at ?? Date.now() };
  await js.publish(subjects.deadLetter(letter.subject), encode(payload), { headers: h });
  metrics.inc(
    'phaseline_dead_letters_total',
    { stream: letter.stream ?? 'core', reason: letter.reason },
    1,
    'Messages dead-lettered, by original stream and reason',
  );
}
