import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decode } from '../../nats/codec.ts';
import { decodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';
import type { Logger } from '../log.ts';
import { pause } from './pause.ts';

const STREAM = 'CONTEXT';

/**
 * Holds the latest MES context id per unit (CONTRACT.md §5.3 `ctx.<unit>`) for stamping telemetry: it reads the last
 * assertion of each unit at start (tolerating none), then follows the CONTEXT stream with an ordered consumer.
 */
export class ContextFollower {
  readonly #current = new Map<string, { contextId: string; seq: number }>();
  #stopped = false;
  readonly #halt = new AbortController();
  readonly #stoppers = new Set<() => void>();
  #loop: Promise<void> | undefined;

  private constructor(
    private readonly units: readonly string[],
    private readonly log: Logger,
  ) {}

  /** Reads the latest context of each unit and starts following updates. */
  static async start(js: JetStreamClient, jsm: JetStreamManager, units: readonly string[], log: Logger) {
    const f = new ContextFollower(units, log);
    for (const unit of units) {
      try {
        const m = await jsm.direct.getMessage(STREAM, { last_by_subj: subjects.context(unit) });
        if (m) f.#apply(m.subject, m.seq, m.data);
      } catch (err) {
        log.info({ unit, err: (err as Error).message }, 'no context for unit yet');
      }
    }
    // One ordered consumer per unit, each with a single filter: the filter is then part of the JetStream API subject,
    // which is what lets the broker limit an edge user to its own units' context (src/broker/credentials.ts).
    if (units.length > 0) f.#loop = Promise.all(units.map((u) => f.#follow(js, u))).then(() => undefined);
    return f;
  }

  /** The context ids to stamp, or undefined when no unit has one. */
  snapshot(): Record<string, string> | undefined {
    if (this.#current.size === 0) return undefined;
    return Object.fromEntries([...this.#current].map(([u, c]) => [u, c.contextId]));
  }

  /** Stops following. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#halt.abort();
    for (const stopIt of this.#stoppers) stopIt();
    await this.#loop;
  }

  async #follow(js: JetStreamClient, unit: string): Promise<void> {
    const filter_subjects = subjects.context(unit);
    while (!this.#stopped) {
      try {
        const deliver_policy = DeliverPolicy.LastPerSubject;
        const consumer = await js.consumers.get(STREAM, { filter_subjects, deliver_policy });
        const messages = await consumer.consume();
        const stopIt = () => void messages.stop();
        this.#stoppers.add(stopIt);
        if (this.#stopped) messages.stop();
        try {
          for await (const m of messages) this.#apply(m.subject, m.seq, m.data);
        } finally {
          this.#stoppers.delete(stopIt);
        }
      } catch (err) {
        if (!this.#stopped) this.log.warn({ err: (err as Error).message }, 'following CONTEXT failed: retrying');
      }
      if (!this.#stopped) await pause(1000, this.#halt.signal);
    }
  }

  #apply(subject: string, seq: number, data: Uint8Array): void {
    const unitFromSubject = decodeId(subject.slice('ctx.'.length));
    let payload: { unit?: unknown; contextId?: unknown };
    try {
      payload = decode(data) as typeof payload;
    } catch {
      this.log.error({ subject, seq }, 'undecodable context assertion ignored for stamping');
      return;
    }
    const unit = typeof payload?.unit === 'string' ? payload.unit : unitFromSubject;
    const contextId = payload?.contextId;
    if (unit !== unitFromSubject || typeof contextId !== 'string' || !this.units.includes(unit)) {
      this.log.error({ subject, seq }, 'malformed context assertion ignored for stamping');
      return;
    }
    const prev = this.#current.get(unit);
    if (prev && prev.seq >= seq) return;
    this.#current.set(unit, { contextId, seq });
    this.log.info({ unit, contextId }, 'context for stamping updated');
  }
}
