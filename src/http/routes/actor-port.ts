import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorHost } from '../../../actors/host.ts';
import type { ActorEvent, InputOutcome } from '../../../actors/envelope.ts';
import { PhaselineError } from '../../errors.ts';
import { rejectionError } from '../../rejections.ts';

/** What the routes need from the runtime to talk to actors. */
export interface ActorPort {
  host: ActorHost;
  nc: NatsConnection;
  timeoutMs: number;
}

/** The public view of one actor, or 404 `not_found`. */
export function viewOf(port: ActorPort, type: string, id: string): Record<string, unknown> {
  const record = port.host.get(type, id);
  const kind = port.host.kind(type);
  if (!record || !kind) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no ${type} ${id}`, { id });
  return kind.view(id, record.snapshot);
}

/**
 * Appends an input to an actor's inbox and answers with its outcome: the view when accepted, the mapped error when
 * the machine refused it, 503 `timeout` when no answer came within the configured time.
 */
export async function command(port: ActorPort, type: string, id: string, event: ActorEvent): Promise<InputOutcome> {
  viewOf(port, type, id);
  let outcome: InputOutcome | undefined;
  try {
    outcome = await port.host.send(type, id, event, { timeoutMs: port.timeoutMs });
  } catch (err) {
    // The input could not be appended to the inbox: nothing was applied, the client may retry.
    throw new PhaselineError('ERR_NATS_UNAVAILABLE', `the message bus did not accept the request: ${(err as Error).message}`, {}, { cause: err });
  }
  if (!outcome) {
    throw new PhaselineError('ERR_ACTOR_TIMEOUT', `${type} ${id} did not answer within ${port.timeoutMs} ms; the request stays queued and will be applied`);
  }
  if (outcome.rejection) throw rejectionError(type, outcome.rejection);
  return outcome;
}
