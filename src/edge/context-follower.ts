import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decode } from '../../nats/codec.ts';
import { ContextMessageSchema, isRelease } from '../../nats/context.schema.ts';
import { decodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';
import { describeIssues } from '../../nats/telemetry.schema.ts';
import type { Logger } from '../log.ts';

const STREAM = 'CONTEXT';

/**
 * Holds the latest MES context id per unit (CONTRACT.md §5.3 `ctx.<unit>`) for stamping telemetry: it subscribes to
 * `ctx.<unit>` of each of its units (core NATS: the runtime's JetStream publish reaches core subscribers too), then
 * reads the last stored assertion of each unit with a direct get (tolerating none), and reads it again after every
 * reconnect, so an assertion made while the edge was away is picked up. No JetStream consumer is needed, so the
 * broker can confine an edge user to exactly its units' subjects (src/broker/credentials.ts).
 */
export class ContextFollower {
  readonly #current = new Map<string, { contextId: string; seq: number }>();
  readonly #subs: { unsubscribe(): void }[] = [];
  #endStatus: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  private constructor(
    private readonly units: readonly string[],
    private readonly log: Logger,
  ) {}

  /** Subscribes to each unit's context, reads the latest stored one, and follows updates and reconnects. */
  static async start(nc: NatsConnection, jsm: JetStreamManager, units: readonly string[], log: Logger) {
    const f = new ContextFollower(units, log);
    for (const unit of units) {
      const sub = nc.subscribe(subjects.context(unit), {
        callback: (err, m) => (err ? log.warn({ unit, err: err.message }, 'context subscription failed') : f.#apply(m.subject, undefined, m.data)),
      });
      f.#subs.push(sub);
    }
    await f.#readLatest(jsm);
    // nats.js answers a QueuedIterator: stop() ends the loop and removes the listener from the connection.
    const status = nc.status() as AsyncIterable<{ type: string }> & { stop?(): void };
    f.#endStatus = () => status.stop?.();
    f.#loop = (async () => {
      for await (const s of status) if (s.type === 'reconnect') await f.#readLatest(jsm);
    })().catch(() => undefined);
    return f;
  }

  /** The context ids to stamp, or undefined when no unit has one. */
  snapshot(): Record<string, string> | undefined {
    if (this.#current.size === 0) return undefined;
    return Object.fromEntries([...this.#current].map(([u, c]) => [u, c.contextId]));
  }

  /** Stops following. */
  async stop(): Promise<void> {
    for (const sub of this.#subs) sub.unsubscribe();
    this.#endStatus?.(); // ends the reconnect loop now, not when the connection closes
    await this.#loop;
  }

  async #readLatest(jsm: JetStreamManager): Promise<void> {
    for (const unit of this.units) {
      try {
        const m = await jsm.direct.getMessage(STREAM, { last_by_subj: subjects.context(unit) });
        if (m) this.#apply(m.subject, m.seq, m.data);
      } catch (err) {
        this.log.info({ unit, err: (err as Error).message }, 'no context for unit yet');
      }
    }
  }

  /**
   * `seq` is the stream sequence of a stored message (a direct get); a live message (core) is always the newest. An
   * assertion sets the unit's stamp, a release ends it (nats/context.schema.ts: one schema for both).
   */
  #apply(subject: string, seq: number | undefined, data: Uint8Array): void {
    const unitFromSubject = decodeId(subject.slice('ctx.'.length));
    let raw: unknown;
    try {
      raw = decode(data);
    } catch {
      this.log.error({ subject, seq }, 'undecodable context message ignored for stamping');
      return;
    }
    const parsed = ContextMessageSchema.safeParse(raw);
    if (!parsed.success || parsed.data.unit !== unitFromSubject || !this.units.includes(parsed.data.unit)) {
      const problem = parsed.success ? `unit ${parsed.data.unit} is not this subject's or not followed` : describeIssues(parsed.error);
      this.log.error({ subject, seq, problem }, 'malformed context message ignored for stamping');
      return;
    }
    const m = parsed.data;
    const prev = this.#current.get(m.unit);
    if (seq !== undefined && prev && prev.seq >= seq) return;
    if (isRelease(m)) {
      if (prev && (m.contextId === undefined || m.contextId === prev.contextId)) {
        this.#current.delete(m.unit);
        this.log.info({ unit: m.unit, contextId: prev.contextId, batchId: m.batchId }, 'context released: no longer stamped');
      }
      return;
    }
    this.#current.set(m.unit, { contextId: m.contextId, seq: seq ?? prev?.seq ?? 0 });
    this.log.info({ unit: m.unit, contextId: m.contextId }, 'context for stamping updated');
  }
}
