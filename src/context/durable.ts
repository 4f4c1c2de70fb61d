import { AckPolicy, DeliverPolicy, JetStreamApiError, type Consumer, type JetStreamManager } from '@nats-io/jetstream';

/** A durable pull consumer definition of the contextualiser. */
export interface DurableSpec {
  stream: string;
  durable: string;
  filter: string;
  ackWaitMs: number;
  maxAckPending: number;
}

/**
 * Recreates a durable pull consumer at its ack floor, so messages an earlier instance received but did not
 * acknowledge come again at once instead of after the ack wait (FACTS.md: redelivery). Whatever was applied among
 * them is recognised and skipped by the caller. Returns the consumer and the floor (everything up to it is done).
 */
export async function resetDurable(
  jsm: JetStreamManager,
  spec: DurableSpec,
): Promise<{ consumer: Consumer; floor: number }> {
  let floor = 0;
  try {
    floor = (await jsm.consumers.info(spec.stream, spec.durable)).ack_floor.stream_seq;
    await jsm.consumers.delete(spec.stream, spec.durable);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err; // 10014: consumer not found
  }
  const start =
    floor > 0
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 }
      : { deliver_policy: DeliverPolicy.All };
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    filter_subject: spec.filter,
    ack_policy: AckPolicy.Explicit,
    ...start,
    ack_wait: spec.ackWaitMs * 1e6,
    max_ack_pending: spec.maxAckPending,
    max_deliver: -1,
  });
  return { consumer: await jsm.jetstream().consumers.get(spec.stream, spec.durable), floor };
}
