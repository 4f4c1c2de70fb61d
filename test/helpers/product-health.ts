import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decode } from '../../nats/codec.ts';
import type { DeadLetter } from '../../nats/dlq.ts';

/** One pino line of the product's stderr. */
export interface LogLine { level: number; module?: string; msg?: string; [field: string]: unknown }

/** Every pino JSON line in `stderr` (anything else, e.g. a Node warning, is kept as level 0 with its text). */
export function logLines(stderr: string): LogLine[] {
  return stderr.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      const v = JSON.parse(l) as LogLine;
      return typeof v.level === 'number' ? v : { level: 0, msg: l };
    } catch {
      return { level: 0, msg: l };
    }
  });
}

/** The lines at pino level ≥ `level` (50 = error, 40 = warn). */
export const atLeast = (lines: LogLine[], level: number) => lines.filter((l) => l.level >= level);

/** `phaseline_dead_letters_total` samples of a `/metrics` text, by their labels. */
export function deadLetterCounts(metrics: string): { labels: string; value: number }[] {
  return [...metrics.matchAll(/^phaseline_dead_letters_total(\{[^}]*\})?\s+(\S+)$/gm)]
    .map((m) => ({ labels: m[1] ?? '', value: Number(m[2]) }));
}

/** Every dead letter stored in the DEADLETTER stream, decoded (the original bytes left out). */
export async function storedDeadLetters(nc: NatsConnection): Promise<Omit<DeadLetter, 'data'>[]> {
  const jsm = await jetstreamManager(nc);
  const { first_seq: first, last_seq: last, messages } = (await jsm.streams.info('DEADLETTER')).state;
  const out: Omit<DeadLetter, 'data'>[] = [];
  if (messages === 0) return out;
  for (let seq = first; seq <= last; seq++) {
    const m = await jsm.streams.getMessage('DEADLETTER', { seq }).catch(() => null);
    if (!m) continue;
    const { data: _data, ...letter } = decode(m.data) as DeadLetter;
    out.push(letter);
  }
  return out;
}

/** A one-line summary of a pino line for a report. */
export const brief = (l: LogLine) => `${l.module ?? '?'}: ${l.msg ?? ''}${l.err ? ` (${String(l.err)})` : ''}`;
