import { encodeId } from './ids.ts';

/** Subject builders for CONTRACT.md §5; every id in a subject goes through {@link encodeId}. */
export const subjects = {
  telemetry: (src: string) => `tlm.${encodeId(src)}`,
  heartbeat: (src: string) => `hb.${encodeId(src)}`,
  alarms: (src: string) => `alm.${encodeId(src)}`,
  context: (unit: string) => `ctx.${encodeId(unit)}`,
  command: (src: string) => `cmd.${encodeId(src)}`,
  commandResult: (src: string) => `cmdres.${encodeId(src)}`,
  event: (actorType: string, id: string) => `evt.${actorType}.${encodeId(id)}`,
  inbox: (actorType: string, id: string) => `inbox.${actorType}.${encodeId(id)}`,
  audit: 'audit',
  auditInbox: 'inbox.audit.writer',
  deadLetter: (original: string) => `dlq.${original}`,
  reply: (token: string) => `_reply.${token}`,
} as const;

/** The NATS header that JetStream deduplicates on. */
export const MSG_ID = 'Nats-Msg-Id';
