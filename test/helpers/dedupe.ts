import type { JetStreamClient } from '@nats-io/jetstream';

/**
 * Waits until a stream (whose `duplicate_window` a test has shortened) has forgotten the message ids published before:
 * nats-server sweeps its dedupe memory on a timer, not exactly when the window ends. Probes with an id of its own on
 * `subject`, which must belong to the stream and be read by nobody (e.g. `inbox.probe.dedupe`).
 */
export async function untilDedupeForgets(js: JetStreamClient, subject: string, timeoutMs = 15_000): Promise<void> {
  const id = `dedupe-probe-${Date.now()}-${Math.random()}`;
  const end = Date.now() + timeoutMs;
  await js.publish(subject, new Uint8Array(), { msgID: id });
  for (;;) {
    await new Promise((r) => setTimeout(r, 150));
    if (!(await js.publish(subject, new Uint8Array(), { msgID: id })).duplicate) return;
    if (Date.now() > end) throw new Error(`${subject}: the broker still deduplicates after ${timeoutMs} ms`);
  }
}
