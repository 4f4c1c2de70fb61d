import type { Logger } from '../log.ts';

/**
 * Oldest nats-server Phaseline accepts, embedded or external (DESIGN.md principle 15, FACTS.md "NATS server"):
 * - 2.11 adds per-key TTL and delete markers (ADR-43), so KV leases can expire on the server instead of relying on
 *   their holder alone, and `Nats-Expected-Last-Subject-Sequence-Subject` (a fencing token checked where the data lives);
 * - 2.10.27 (Debian trixie) reports a new stream `created` time at every restart once `streams.update()` has been
 *   called on the stream (measured, FACTS.md): code that reads that as "recreated" re-applies history (issue 8). On
 *   2.15.1 it stays put;
 * - 2.10 is also the first with `jetstream { sync_interval: always }` (fsync before the ack), which 2.11 keeps.
 */
export const MIN_NATS_VERSION: readonly [number, number, number] = [2, 11, 0];

/** `2.11`: the minimum as people write it. */
export const MIN_NATS_VERSION_TEXT = MIN_NATS_VERSION.slice(0, 2).join('.');

/** Parses the `x.y.z` out of `nats-server --version` output (`nats-server: v2.10.27`); null when there is none. */
export function parseNatsVersion(text: string): [number, number, number] | null {
  const m = /nats-server:?\s+v?(\d+)\.(\d+)\.(\d+)/i.exec(text) ?? /\bv?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

type Version = readonly [number, number, number];

/** Negative, zero or positive as `a` is older than, equal to or newer than `b` (numerically, not as text). */
export function compareNatsVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  return 0;
}

/** True when `version` is at least `min` (major, minor, patch compared in order). */
export function isSupportedNatsVersion(version: Version, min: Version = MIN_NATS_VERSION): boolean {
  return compareNatsVersions(version, min) >= 0;
}

/**
 * The sentence the runtime logs when an external broker (NATS_URL) is older than {@link MIN_NATS_VERSION}, or null
 * when its version (from the server's INFO) is new enough or unknown.
 */
export function oldBrokerWarning(version: string | undefined, url: string): string | null {
  const v = version ? parseNatsVersion(version) : null;
  if (!v || isSupportedNatsVersion(v)) return null;
  return (
    `the NATS server at ${url} is nats-server ${v.join('.')}, older than ${MIN_NATS_VERSION_TEXT}, the oldest Phaseline ` +
    `supports: it lacks per-key TTL, and before 2.11 a stream's reported creation time can change across restarts; ` +
    `upgrade the broker to ${MIN_NATS_VERSION_TEXT} or newer`
  );
}

/** Logs {@link oldBrokerWarning} at warn level when it applies; returns whether it did. */
export function warnIfOldBroker(version: string | undefined, url: string, log: Logger): boolean {
  const text = oldBrokerWarning(version, url);
  if (text) log.warn({ url, serverVersion: version, minimum: MIN_NATS_VERSION_TEXT }, text);
  return text !== null;
}
