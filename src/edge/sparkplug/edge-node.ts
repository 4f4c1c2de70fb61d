import type { TagDef } from '../../../config/plant.schema.ts';
import type { SpMetric, SpPayload } from './codec.ts';
import { metricKey, toSample, type EdgeSample } from './samples.ts';
import { SeqTracker, type SeqAction } from './seq-tracker.ts';
import type { EdgeTopic } from './topics.ts';

/** A decoded message from one edge node, as the host received it. */
export interface Inbound {
  topic: string;
  t: EdgeTopic;
  data: Uint8Array;
  payload: SpPayload;
  seq?: number;
  receivedAt: number;
}

/** What an edge node's state needs from the host. */
export interface EdgeNodePorts {
  emit(samples: EdgeSample[]): void;
  /** Dead-letters and counts a message with a stable reason (DESIGN.md principle 9). */
  reject(msg: Inbound, reason: string, detail: string): void;
  /** Sends `Node Control/Rebirth` (Sparkplug B 3.0 ch. 4 NCMD). */
  rebirth(node: string, reason: string): void;
  count(name: string, labels: Record<string, string>, by?: number): void;
}

/** A birth certificate: metric names by alias and the names it declared (Sparkplug B 3.0 ch. 4 NBIRTH, DBIRTH). */
interface Birth {
  byAlias: Map<number, string>;
  names: Set<string>;
}

/**
 * The host's view of one edge node (Sparkplug B 3.0 ch. 5 Operational Behavior): its session (`bdSeq` from NBIRTH, matched by NDEATH),
 * birth certificates of the node and its devices, message order by `seq`, and last values so a death marks them stale.
 */
export class EdgeNode {
  readonly #tracker: SeqTracker<Inbound>;
  readonly #births = new Map<string, Birth>();
  readonly #last = new Map<string, { tag: TagDef; v: EdgeSample['v']; device: string }>();
  #bdSeq: number | undefined;

  constructor(
    readonly group: string,
    readonly node: string,
    readonly tags: ReadonlyMap<string, TagDef>,
    reorderTimeoutMs: number,
    readonly ports: EdgeNodePorts,
  ) {
    this.#tracker = new SeqTracker<Inbound>({ reorderTimeoutMs });
  }

  /** True while the node has a live session (NBIRTH seen, no NDEATH since). */
  get online(): boolean {
    return this.#tracker.born;
  }

  /** Routes one message by type (Sparkplug B 3.0 ch. 4 Message Types). */
  receive(msg: Inbound, now: number): void {
    const type = msg.t.type;
    if (type === 'NBIRTH') {
      this.#bdSeq = bdSeqOf(msg.payload);
      this.#births.clear();
      this.#apply(this.#tracker.birth(msg), now);
    } else if (type === 'NDEATH') {
      const bd = bdSeqOf(msg.payload);
      if (this.#bdSeq !== undefined && bd !== this.#bdSeq) {
        this.ports.reject(msg, 'stale_death', `NDEATH bdSeq ${String(bd)} does not match the NBIRTH bdSeq ${this.#bdSeq}`);
        return;
      }
      this.#apply(this.#tracker.death(), now);
      this.#stale(undefined, now);
      this.#births.clear();
    } else if (type === 'NCMD' || type === 'DCMD') {
      return; // commands are for edge nodes, not hosts
    } else {
      this.#apply(this.#tracker.message(msg, now), now);
    }
  }

  /** Resolves gaps whose reorder timeout has passed. */
  tick(now: number): void {
    this.#apply(this.#tracker.tick(now), now);
  }

  #apply(actions: SeqAction<Inbound>[], now: number): void {
    for (const a of actions) {
      if (a.kind === 'deliver') this.#deliver(a.msg, now);
      else if (a.kind === 'reject') this.ports.reject(a.msg, a.reason, a.detail);
      else if (a.kind === 'gap') this.ports.count('phaseline_sparkplug_seq_lost_total', { node: this.node }, a.count);
      else this.ports.rebirth(this.node, a.reason);
    }
  }

  #deliver(msg: Inbound, now: number): void {
    const { type, device } = msg.t;
    if (type === 'NBIRTH' || type === 'DBIRTH') {
      this.#births.set(device ?? '', birthOf(msg.payload.metrics));
      this.#samples(msg, device, now);
    } else if (type === 'NDATA' || type === 'DDATA') {
      if (!this.#births.has(device ?? '')) {
        this.ports.reject(msg, 'before_birth', `no ${device === undefined ? 'NBIRTH' : `DBIRTH for ${device}`} in this session`);
        this.ports.rebirth(this.node, 'before_birth');
        return;
      }
      this.#samples(msg, device, now);
    } else if (type === 'DDEATH' && device !== undefined) {
      this.#stale(device, now);
      this.#births.delete(device);
    }
  }

  #samples(msg: Inbound, device: string | undefined, now: number): void {
    const birth = this.#births.get(device ?? '')!;
    const out: EdgeSample[] = [];
    const unknown: string[] = [];
    for (const m of msg.payload.metrics) {
      const name = m.name ?? (m.alias !== undefined ? birth.byAlias.get(m.alias) : undefined);
      if (name === undefined || !birth.names.has(name)) {
        unknown.push(m.name ?? `alias ${String(m.alias)}`);
        continue;
      }
      const tag = this.tags.get(metricKey(this.group, this.node, device, name));
      if (!tag) {
        this.ports.count('phaseline_sparkplug_unmapped_metrics_total', { node: this.node });
        continue;
      }
      const last = this.#last.get(tag.tag)?.v;
      const s = toSample(m, tag, msg.payload.timestamp, now, last);
      if (typeof s === 'string') {
        this.ports.count('phaseline_sparkplug_skipped_metrics_total', { node: this.node, reason: s });
        continue;
      }
      if (!s.hist || last === undefined) this.#last.set(tag.tag, { tag, v: s.v, device: device ?? '' });
      out.push(s);
    }
    if (out.length > 0) this.ports.emit(out);
    if (unknown.length > 0) {
      const reason = unknown.some((u) => u.startsWith('alias ')) ? 'unknown_alias' : 'unknown_metric';
      this.ports.reject(msg, reason, `not in the birth certificate: ${unknown.join(', ')}`);
      this.ports.rebirth(this.node, reason);
    }
  }

  /** A death makes the last values of the node (or one device) stale: bad samples at the time it was seen (ch. 4 NDEATH / DDEATH). */
  #stale(device: string | undefined, now: number): void {
    const out: EdgeSample[] = [];
    for (const { tag, v, device: d } of this.#last.values()) {
      if (device === undefined || d === device) out.push({ tag: tag.tag, v, q: 'bad', ts: now });
    }
    if (out.length > 0) this.ports.emit(out);
  }
}

function birthOf(metrics: SpMetric[]): Birth {
  const b: Birth = { byAlias: new Map(), names: new Set() };
  for (const m of metrics) {
    if (!m.name) continue;
    b.names.add(m.name);
    if (m.alias !== undefined) b.byAlias.set(m.alias, m.name);
  }
  return b;
}

/** The `bdSeq` metric of an NBIRTH / NDEATH (Sparkplug B 3.0 ch. 4 NBIRTH, NDEATH). */
export function bdSeqOf(p: SpPayload): number | undefined {
  const v = p.metrics.find((m) => m.name === 'bdSeq')?.value;
  return typeof v === 'number' ? v : undefined;
}
