import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorKind } from '../../../actors/kind.ts';
import { sendInput } from '../../../actors/send.ts';
import type { alarmView } from '../../../actors/alarm.actor.ts';
import type { exceptionView } from '../../../actors/exception.actor.ts';
import type { phaseView } from '../../../actors/phase.actor.ts';
import type { unitView } from '../../../actors/unit.actor.ts';
import { z } from 'zod';
import type { ActorEvent, InputOutcome } from '../../../actors/envelope.ts';
import { PhaselineError } from '../../errors.ts';
import { rejectionError } from '../../rejections.ts';
import type { AuthUser } from '../auth/guard.ts';
import { kvActorReader, type ActorReader } from './actor-reader.ts';

/**
 * What the routes need to talk to actors, wherever they are hosted: `send` appends an input to the actor's INBOX and
 * waits for the owning host's outcome (actors/send.ts), `reader` reads the persisted views, `clock` stamps inputs.
 */
export interface ActorPort {
  send(type: string, id: string, event: ActorEvent, opts: { timeoutMs: number }): Promise<InputOutcome | undefined>;
  reader: ActorReader;
  /** For routes that wait on an actor's `evt.*` subject (an automatic phase's reported state). */
  nc: NatsConnection;
  timeoutMs: number;
  clock: () => number;
}

/** The port over NATS: inputs through the INBOX stream, views from the actors KV bucket (no actor host needed here). */
export function natsActorPort(o: { nc: NatsConnection; kv: KV; kinds: readonly Pick<ActorKind, 'type' | 'view'>[]; timeoutMs: number; clock?: () => number }): ActorPort {
  const js = jetstream(o.nc);
  return {
    nc: o.nc, timeoutMs: o.timeoutMs, clock: o.clock ?? Date.now,
    send: (type, id, event, opts) => sendInput(o.nc, js, type, id, event, opts),
    reader: kvActorReader(o.kv, o.kinds),
  };
}

/** `?limit=&cursor=` of the list routes; the next page's cursor comes back in `x-next-cursor`. */
export const Page = z.object({ limit: z.coerce.number().int().min(1).max(10_000).optional(), cursor: z.string().min(1).max(400).optional() });

/** The one stamp of every input a person sends: the server's time, the user, the user's roles (ALCOA+ attributable). */
export function stamped(port: ActorPort, user: AuthUser, event: { type: string; [field: string]: unknown }): ActorEvent {
  return { ...event, at: port.clock(), by: user.username, roles: user.roles };
}

/** The views of the actor types the API serves, as their kinds render them (actors/*.actor.ts). */
export interface ActorViews {
  phase: ReturnType<typeof phaseView>;
  unit: ReturnType<typeof unitView>;
  alarm: ReturnType<typeof alarmView>;
  exception: ReturnType<typeof exceptionView>;
}
export type ViewType = keyof ActorViews;

/** The persisted view of one actor, or 404 `not_found`. */
export async function viewOf<T extends ViewType>(port: ActorPort, type: T, id: string): Promise<ActorViews[T]> {
  const view = await port.reader.view(type, id);
  if (!view) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no ${type} ${id}`, { id });
  return view as ActorViews[T]; // rendered by the kind of `type` (actor-reader.ts)
}

/** A page of views with `x-next-cursor` for the next (list routes page before there are thousands of actors). */
export async function listOf<T extends ViewType>(port: ActorPort, type: T, q: { limit?: number; cursor?: string }, reply: { header(k: string, v: string): unknown }): Promise<ActorViews[T][]> {
  const page = await port.reader.list(type, { limit: q.limit ?? 1000, ...(q.cursor ? { after: q.cursor } : {}) });
  if (page.next) reply.header('x-next-cursor', page.next);
  return page.views as ActorViews[T][]; // rendered by the kind of `type` (actor-reader.ts)
}

/**
 * Appends an input to an actor's inbox and answers with its outcome: accepted (its `view` is the answer), the mapped
 * error when the machine refused it, 503 `timeout` when no answer came within the configured time.
 */
export async function command(port: ActorPort, type: string, id: string, event: ActorEvent): Promise<InputOutcome> {
  if (!(await port.reader.record(type, id))) throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no ${type} ${id}`, { id });
  let outcome: InputOutcome | undefined;
  try {
    outcome = await port.send(type, id, event, { timeoutMs: port.timeoutMs });
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

/** The answer of an accepted input: the view the host rendered right after applying it (no second read). */
export function answerOf<T extends ViewType>(_type: T, outcome: InputOutcome): ActorViews[T] {
  return (outcome.view ?? {}) as ActorViews[T]; // the host renders it with the kind of `type`
}
