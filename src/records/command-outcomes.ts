import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { AuditRequest } from '../../actors/envelope.ts';
import type { LogPort, MetricsPort } from '../../actors/ports.ts';
import { decode, encode } from '../../nats/codec.ts';
import { consumeInOrder } from '../../nats/consumers.ts';
import { decodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';

/**
 * Puts every guarded-write outcome the edges report on `cmdres.<src>` into the audit trail (21 CFR 11.10(e): the
 * write requested is recorded by the phase, what the control system did with it here): executed, refused (with the
 * edge's reason: not allowlisted, value, role, expired, rate limited, malformed) or failed. At least once from a
 * durable consumer, once in the trail by its message id.
 */
export function startCommandOutcomes(o: { js: JetStreamClient; jsm: JetStreamManager; configVersion: string; log: LogPort; metrics: MetricsPort }): { stop(): Promise<void> } {
  return consumeInOrder(o.jsm, { stream: 'COMMANDS', durable: 'command-outcomes', filter: 'cmdres.>', maxAckPending: 64 }, async (m) => {
    let r: Record<string, unknown>;
    try {
      r = decode(m.data) as Record<string, unknown>;
    } catch {
      r = { outcome: 'unreadable' };
    }
    let src: string;
    try {
      src = decodeId(m.subject.slice('cmdres.'.length));
    } catch {
      src = m.subject;
    }
    const outcome = typeof r.outcome === 'string' ? r.outcome : 'unreadable';
    const entry: AuditRequest = {
      at: typeof r.at === 'number' ? r.at : Date.now(), who: `edge:${src}`, action: `plc.write.${outcome}`,
      target: `source:${src}`, configVersion: o.configVersion, ref: typeof r.ref === 'string' ? r.ref : `cmdres:${m.seq}`,
      ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
      after: { id: r.id, tag: r.tag, value: r.value, by: r.by, detail: r.detail },
    };
    await o.js.publish(subjects.auditInbox, encode(entry), { msgID: `cmdres:${src}:${String(r.id ?? m.seq)}` });
    o.metrics.inc('phaseline_command_outcomes_total', { source: src, outcome }, 1, 'Guarded-write outcomes reported by edges');
  }, o.log);
}
