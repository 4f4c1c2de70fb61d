import { AckPolicy, DeliverPolicy, JetStreamApiError, type Consumer, type JetStreamManager } from '@nats-io/jetstream';

/**
 * (Re)creates a durable pull consumer that delivers from `startSeq` on. Resetting, rather than waiting for
 * redelivery after ack_wait, keeps an ordered inbox strictly in order after a crash or an aborted batch
 * (DESIGN.md principle 2: never skip ahead).
 */
export async function resetOrderedConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  filter: string,
  startSeq: number,
  maxAckPending: number,
): Promise<Consumer> {
  await jsm.consumers.delete(stream, name).catch((err: unknown) => {
    if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err; // 10014: consumer not found
  });
  await jsm.consumers.add(stream, {
    durable_name: name,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: startSeq > 1 ? DeliverPolicy.StartSequence : DeliverPolicy.All,
    ...(startSeq > 1 ? { opt_start_seq: startSeq } : {}),
    ack_wait: 10 * 60 * 1e9, // generous: a slow batch must not be redelivered behind our back
    max_ack_pending: maxAckPending,
    max_deliver: -1,
  });
  return jsm.jetstream().consumers.get(stream, name);
}

/** The first stream sequence not yet acknowledged by a durable consumer (1 when it does not exist). */
export async function ackFloorNext(jsm: JetStreamManager, stream: string, name: string): Promise<number> {
  try {
    const info = await jsm.consumers.info(stream, name);
    return info.ack_floor.stream_seq + 1;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10014) return 1;
    throw err;
  }
}
