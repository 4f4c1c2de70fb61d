import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { AuditRequest } from '../../actors/envelope.ts';
import type { LogPort, MetricsPort } from '../../actors/ports.ts';
import { z } from 'zod';
import { decode, encode } from '../../nats/codec.ts';
import { consumeInOrder } from '../../nats/consumers.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { decodeId } from '../../nats/ids.ts';
import { CommandResultSchema } from '../../nats/command.schema.ts';
import { subjects } from '../../nats/subjects.ts';

/**
 * Puts every guarded-write outcome the edges report on `cmdres.<src>` into the audit trail (21 CFR 11.10(e): the
 * write requested is recorded by the phase, what the control system did with it here): executed, refused (with the
 * edge's reason: not allowlisted, value, role, expired, rate limited, malformed) or failed. At least once from a
 * durable consumer, once in the trail by its message id.
 */
export function startCommandOutcomes(o: {
  js: JetStreamClient; jsm: JetStreamManager; configVersion: string; log: LogPort;
  metrics: MetricsPort & { inc(name: string, labels: Record<string, string>, by: number, help: string): void };
}): { stop(): Promise<void> } {
  return consumeInOrder(o.jsm, { stream: 'COMMANDS', durable: 'command-outcomes', filter: 'cmdres.>', maxAckPending: 64 }, async (m) => {
    let src: string;
    try {
      src = decodeId(m.subject.slice('cmdres.'.length));
    } catch {
      src = m.subject;
    }
    let parsed: z.infer<typeof CommandResultSchema> | undefined;
    let problem: string;
    try {
      const result = CommandResultSchema.safeParse(decode(m.data));
      parsed = result.success ? result.data : undefined;
      problem = result.success ? '' : result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    } catch (err) {
      problem = `not MessagePack: ${(err as Error).message}`;
    }
    if (!parsed) {
      // Not an outcome: dead-lettered with its reason and counted, never written into the audit trail as one.
      const letter = { reason: 'malformed', detail: problem, subject: m.subject, data: m.data, stream: 'COMMANDS', streamSeq: m.seq };
      await deadLetter(o.js, o.metrics, letter, `dlq:COMMANDS:${m.seq}`);
      return;
    }
    const r = parsed as Record<string, unknown>;
    const outcome = parsed.outcome;
    const entry: AuditRequest = {
      at: parsed.at, who: `edge:${src}`, action: `plc.write.${outcome}`,
      target: `source:${src}`, configVersion: o.configVersion, ref: parsed.ref ?? `cmdres:${m.seq}`,
      ...(parsed.reason ? { reason: parsed.reason } : {}),
      after: { id: r.id, tag: r.tag, value: r.value, by: r.by, detail: r.detail },
    };
    await o.js.publish(subjects.auditInbox, encode(entry), { msgID: `cmdres:${src}:${parsed.id}` });
    o.metrics.inc('phaseline_command_outcomes_total', { source: src, outcome }, 1, 'Guarded-write outcomes reported by edges');
  }, o.log);
}
