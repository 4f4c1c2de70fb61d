import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';

/**
 * The stream metadata key holding Phaseline's own identity of a stream incarnation. It is minted when the stream is
 * created, kept across `update()` and restarts, and is the only thing that says "this stream was recreated": the
 * `created` time a server reports is not stable (FACTS.md, nats-server 2.10.27), a sentinel message would age out of
 * streams with `max_age` (DESIGN.md principle 15).
 */
export const INCARNATION_KEY = 'phaseline_incarnation';

/** What a position stored against a stream needs to know about the stream now. */
export interface StreamIdentity {
  stream: string;
  incarnation: string;
  /** Sequence of the last message the stream ever stored (it does not go back when old messages age out). */
  lastSeq: number;
}

/** A position stored against a stream: the incarnation it refers to (absent in records written before it existed). */
export interface StoredPosition {
  incarnation?: string;
  lastSeq: number;
}

/**
 * How a stored position relates to the stream as it is now:
 * - `same`: the same incarnation, and the position lies within it;
 * - `adopted`: a record from before incarnations existed whose position lies within the stream: it takes the identity;
 * - `recreated`: the stream is another incarnation (deleted and made again): its sequence numbers restart;
 * - `beyond`: the position is past the stream's last message (restored from an older copy, or not this stream):
 *   quarantined and reported, never reset, since resetting would apply inputs again.
 */
export type PositionVerdict =
  | { kind: 'same' }
  | { kind: 'adopted' }
  | { kind: 'recreated'; was: string }
  | { kind: 'beyond'; lastSeq: number; streamLastSeq: number };

/** Judges a stored position against the stream's identity (pure). */
export function judgePosition(stored: StoredPosition, now: StreamIdentity): PositionVerdict {
  if (stored.incarnation !== undefined && stored.incarnation !== now.incarnation) {
    return { kind: 'recreated', was: stored.incarnation };
  }
  if (stored.lastSeq > now.lastSeq) return { kind: 'beyond', lastSeq: stored.lastSeq, streamLastSeq: now.lastSeq };
  return stored.incarnation === undefined ? { kind: 'adopted' } : { kind: 'same' };
}

/** A stream without Phaseline's identity in its metadata (not made by {@link ensureStreams}, or its metadata removed). */
export class StreamIdentityError extends Error {
  readonly code = 'ERR_STREAM_IDENTITY_MISSING';
  constructor(stream: string) {
    super(`stream ${stream} carries no ${INCARNATION_KEY} in its metadata: run ensureStreams() before using it`);
    this.name = 'StreamIdentityError';
  }
}

/** Reads a stream's incarnation and last sequence. */
export async function streamIdentity(jsm: JetStreamManager, stream: string): Promise<StreamIdentity> {
  return identityOf(await jsm.streams.info(stream));
}

/** The identity in a stream's info; throws {@link StreamIdentityError} when it has none. */
export function identityOf(info: StreamInfo): StreamIdentity {
  const incarnation = info.config.metadata?.[INCARNATION_KEY];
  if (!incarnation) throw new StreamIdentityError(info.config.name);
  return { stream: info.config.name, incarnation, lastSeq: info.state.last_seq };
}

/** A new incarnation id (web-standard `crypto.randomUUID`, DESIGN.md principle 13). */
export function newIncarnation(): string {
  return crypto.randomUUID();
}
