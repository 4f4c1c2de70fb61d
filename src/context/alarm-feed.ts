import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { InputEnvelope } from '../../actors/envelope.ts';
import type { LogPort, MetricsPort } from '../../actors/ports.ts';
import { decode, encode } from '../../nats/codec.ts';
import { consumeInOrder } from '../../nats/consumers.ts';
import { decodeId } from '../../nats/ids.ts';
import { AlarmMessageSchema } from '../../nats/alarm.schema.ts';
import { subjects } from '../../nats/subjects.ts';

export interface AlarmFeedOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Alarm id → the source that reports it (the unit's source in config). */
  alarms: ReadonlyMap<string, { source: string }>;
  deadLetter: (letter: { reason: string; detail: string; subject: string; data: Uint8Array; stream: string; streamSeq: number }) => Promise<void>;
  metrics: MetricsPort;
  log: LogPort;
  maxBytes: number;
}

/**
 * Mirrors the control system's alarm state into the alarm actors (ISA-18.2 §3; CONTRACT.md §5.2): each event of an
 * `alm.<src>` message becomes a `REPORT` input on the alarm's inbox with a deterministic message id, so a redelivered
 * message is applied once. Malformed, oversized, spoofed (payload `src` ≠ subject), unknown-alarm and wrong-source
 * events are dead-lettered with their reason and counted; the rest of the message still applies.
 */
export async function startAlarmFeed(o: AlarmFeedOptions): Promise<{ stop(): Promise<void> }> {
  const sources = new Set([...o.alarms.values()].map((a) => a.source));
  const count = (outcome: string, n = 1) => o.metrics.inc('phaseline_alarm_events_total', { outcome }, n, 'Alarm events from the control system by outcome');
  const reject = (m: JsMsg, reason: string, detail: string) => {
    count(reason);
    return o.deadLetter({ reason, detail, subject: m.subject, data: m.data, stream: 'ALARMS', streamSeq: m.seq });
  };

  async function handle(m: JsMsg): Promise<void> {
    if (m.data.length > o.maxBytes) return reject(m, 'oversized', `${m.data.length} bytes > ${o.maxBytes}`);
    let raw: unknown;
    try {
      raw = decode(m.data);
    } catch (err) {
      return reject(m, 'malformed', `not MessagePack: ${(err as Error).message}`);
    }
    const parsed = AlarmMessageSchema.safeParse(raw);
    if (!parsed.success) return reject(m, 'invalid', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    const msg = parsed.data;
    let subjectSrc: string | undefined;
    try {
      subjectSrc = decodeId(m.subject.slice('alm.'.length));
    } catch {
      subjectSrc = undefined;
    }
    if (subjectSrc !== msg.src) return reject(m, 'source_mismatch', `payload src ${JSON.stringify(msg.src)} on subject ${m.subject}`);
    if (!sources.has(msg.src)) return reject(m, 'unknown_source', `no alarms are configured for source ${msg.src}`);
    await Promise.all(msg.events.map(async (e, n) => {
      const alarm = o.alarms.get(e.alarm);
      if (!alarm) return reject(m, 'unknown_alarm', `event ${n}: no alarm ${e.alarm}`);
      if (alarm.source !== msg.src) return reject(m, 'wrong_source', `event ${n}: alarm ${e.alarm} is reported by ${alarm.source}, not ${msg.src}`);
      const { alarm: _id, ts, ackedBy, ...state } = e;
      const envelope: InputEnvelope = { event: { ...state, type: 'REPORT', at: ts, by: ackedBy ?? `plc:${msg.src}`, ...(ackedBy ? { ackedBy } : {}) } };
      await o.js.publish(subjects.inbox('alarm', e.alarm), encode(envelope), { msgID: `alm:${msg.src}:${msg.epoch}:${msg.seq}:${n}` });
      count('applied');
    }));
  }

  return consumeInOrder(o.jsm, { stream: 'ALARMS', durable: 'alarm-feed', filter: 'alm.>', maxAckPending: 64 }, handle, o.log);
}
