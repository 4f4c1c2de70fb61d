import { AckPolicy, DeliverPolicy, JetStreamApiError, type Consumer, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';

/** A durable pull consumer that is applied strictly in order by one writer. */
export interface OrderedConsumerSpec {
  stream: string;
  durable: string;
  filter: string;
  maxAckPending: number;
  /** Generous by default: a slow batch must not be redelivered behind the writer's back (FACTS.md). */
  ackWaitMs?: number;
}

/**
 * (Re)creates a durable pull consumer that delivers from `startSeq` on. Resetting, rather than waiting for
 * redelivery after ack_wait, keeps an ordered inbox strictly in order after a crash or an aborted batch
 * (DESIGN.md principle 2: never skip ahead).
 */
export async function resetOrderedConsumer(jsm: JetStreamManager, spec: OrderedConsumerSpec, startSeq: number): Promise<Consumer> {
  await jsm.consumers.delete(spec.stream, spec.durable).catch((err: unknown) => {
    if (!isConsumerNotFound(err)) throw err;
  });
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    filter_subject: spec.filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: startSeq > 1 ? DeliverPolicy.StartSequence : DeliverPolicy.All,
    ...(startSeq > 1 ? { opt_start_seq: startSeq } : {}),
    ack_wait: (spec.ackWaitMs ?? 600_000) * 1e6,
    max_ack_pending: spec.maxAckPending,
    max_deliver: -1,
  });
  return jsm.jetstream().consumers.get(spec.stream, spec.durable);
}

/**
 * Recreates a durable consumer at its ack floor, so messages an earlier instance received but did not acknowledge
 * come again at once and in order; whatever was applied among them is recognised and skipped by the caller.
 * Returns the consumer and the floor (every message up to it is done).
 */
export async function resetAtAckFloor(jsm: JetStreamManager, spec: OrderedConsumerSpec): Promise<{ consumer: Consumer; floor: number }> {
  let floor = 0;
  try {
    floor = (await jsm.consumers.info(spec.stream, spec.durable)).ack_floor.stream_seq;
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
  }
  return { consumer: await resetOrderedConsumer(jsm, spec, floor + 1), floor };
}

function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10014;
}

/**
 * Applies a durable consumer's messages one at a time, in order, acknowledging each after `handle` resolves; on a
 * failure it recreates the consumer at its ack floor after a second, so nothing is skipped (at-least-once: `handle`
 * must be idempotent, e.g. by deterministic message ids). Returns the stop.
 */
export function consumeInOrder(
  jsm: JetStreamManager,
  spec: OrderedConsumerSpec,
  handle: (m: JsMsg) => Promise<void>,
  log: { error(obj: object, msg?: string): void },
): { stop(): Promise<void> } {
  const abort = new AbortController();
  let current: { stop(): void } | undefined;
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        const { consumer } = await resetAtAckFloor(jsm, spec);
        const messages = await consumer.consume({ max_messages: spec.maxAckPending });
        current = messages;
        if (abort.signal.aborted) messages.stop();
        for await (const m of messages) {
          await handle(m);
          m.ack();
        }
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        log.error({ consumer: spec.durable, err: String(err) }, 'consumer failed; restarting from the last acknowledged message');
        current?.stop();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return {
    async stop() {
      abort.abort();
      current?.stop();
      await loop;
    },
  };
}
