/**
 * The one shape of every actor input on the `INBOX` stream (`inbox.<type>.<encodedId>`), MessagePack-encoded.
 * `event.at` is the only clock a machine reads (DESIGN.md principle 7); `by` attributes it (ALCOA+ "attributable").
 */
export interface ActorEvent {
  type: string;
  at: number;
  by?: string;
  [field: string]: unknown;
}

export interface InputEnvelope {
  event: ActorEvent;
  /** Core NATS subject on which the host answers once the input is persisted and its effects are published. */
  replyTo?: string;
}

/** Codes the host itself refuses an input with, whatever the machine (src/rejections.ts classifies them). */
export const HOST_REJECTIONS = ['already_exists', 'actor_quarantined', 'not_found', 'invalid_request'] as const;
export type HostRejection = (typeof HOST_REJECTIONS)[number];

/** What the host answers on `replyTo`. */
export interface InputOutcome {
  actor: string;
  seq: number;
  accepted: boolean;
  state: string;
  from: string;
  /** Set when the machine refused the input: the error registry's HTTP code and details. */
  rejection?: { code: string; message: string; [detail: string]: unknown };
  /** The actor's public view right after the input. */
  view?: Record<string, unknown>;
}

/** An audit request, sent to the single audit writer on `inbox.audit.writer` (its wire schema: nats/audit.schema.ts). */
export type { AuditRequest } from '../nats/audit.schema.ts';
