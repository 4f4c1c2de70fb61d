import type { JetStreamClient } from '@nats-io/jetstream';
import { nuid, type NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../nats/codec.ts';
import { subjects } from '../nats/subjects.ts';
import type { ActorEvent, InputEnvelope, InputOutcome } from './envelope.ts';

/**
 * Appends an input to an actor's inbox on the `INBOX` stream and waits for the owning host's outcome on a core reply
 * subject (DESIGN.md principle 2: every input goes through the inbox, whichever process hosts the actor). Resolves
 * `undefined` on timeout: the input stays in the inbox and will still be applied. Throws when the bus refused it.
 */
export async function sendInput(
  nc: NatsConnection,
  js: JetStreamClient,
  type: string,
  id: string,
  event: ActorEvent,
  opts: { timeoutMs: number; msgId?: string },
): Promise<InputOutcome | undefined> {
  const replyTo = subjects.reply(nuid.next());
  const sub = nc.subscribe(replyTo, { max: 1 });
  try {
    const answer = (async () => {
      for await (const m of sub) return decode(m.data) as InputOutcome;
      return undefined;
    })();
    const envelope: InputEnvelope = { event, replyTo };
    await js.publish(subjects.inbox(type, id), encode(envelope), opts.msgId ? { msgID: opts.msgId } : undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), opts.timeoutMs)));
    const result = await Promise.race([answer, timeout]);
    clearTimeout(timer);
    return result;
  } finally {
    sub.unsubscribe();
  }
}
