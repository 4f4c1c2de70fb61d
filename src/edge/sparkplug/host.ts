import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { TagDef } from '../../../config/plant.schema.ts';
import { SparkplugPayloadError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { decodePayload, encodePayload } from './codec.ts';
import { EdgeNode, type Inbound } from './edge-node.ts';
import { tagIndex, type SampleSink } from './samples.ts';
import { decodeState, edgeTopic, encodeState, NAMESPACE, parseTopic, stateTopic } from './topics.ts';

/** A message the host could not use, for the dead-letter port. */
export interface RejectedMqtt {
  reason: string;
  detail: string;
  topic: string;
  data: Uint8Array;
}

/** Options of {@link SparkplugHost}. */
export interface SparkplugHostOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  hostId: string;
  group: string;
  tags: readonly TagDef[];
  sink: SampleSink;
  reject(r: RejectedMqtt): void;
  metrics: Metrics;
  log: Logger;
  src: string;
  reorderTimeoutMs: number;
  /** Extra MQTT options: `ca` for TLS, credentials. */
  mqtt?: Partial<IClientOptions>;
  clock?: () => number;
  tickMs?: number;
}

/**
 * A Sparkplug B primary host application (Sparkplug B 3.0 ch. 5 Operational Behavior: Sparkplug Host Application): connects with a retained `STATE` will, publishes
 * `{ online: true }` with the same timestamp once subscribed (so edge nodes flush their buffers), follows every edge
 * node of its group and turns their metrics into samples for the sink.
 */
export class SparkplugHost {
  readonly #o: SparkplugHostOptions;
  readonly #nodes = new Map<string, EdgeNode>();
  readonly #tags;
  readonly #now: () => number;
  readonly #client: MqttClient;
  readonly #timer: NodeJS.Timeout;
  readonly #lastRebirth = new Map<string, number>();
  #stateTs: number;
  #stopped = false;

  constructor(o: SparkplugHostOptions) {
    this.#o = o;
    this.#now = o.clock ?? Date.now;
    this.#tags = tagIndex(o.tags);
    this.#stateTs = this.#now();
    const will = { topic: stateTopic(o.hostId), payload: encodeState({ online: false, timestamp: this.#stateTs }), qos: 1 as const, retain: true };
    this.#client = mqtt.connect(o.url, {
      clientId: `phaseline-${o.hostId}-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      clean: true, // ch. 5: a host connects with a clean session
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will,
      ...o.mqtt,
    });
    this.#client.on('connect', () => void this.#online());
    this.#client.on('close', () => this.#renewWill());
    this.#client.on('error', (err) => {
      if (!this.#stopped) o.log.warn({ err: err.message, url: o.url }, 'mqtt error');
    });
    this.#client.on('message', (topic, data) => this.#message(topic, data));
    this.#timer = setInterval(() => this.tick(), o.tickMs ?? 100);
  }

  /** True while connected to the MQTT server. */
  get connected(): boolean {
    return this.#client.connected;
  }

  /** Edge nodes seen, and whether each has a live session. */
  nodes(): { node: string; online: boolean }[] {
    return [...this.#nodes.values()].map((n) => ({ node: n.node, online: n.online }));
  }

  /** Resolves reorder timeouts that have passed (also driven by an interval). */
  tick(): void {
    const now = this.#now();
    for (const n of this.#nodes.values()) n.tick(now);
  }

  /** Publishes `STATE` offline (as the will would), then disconnects (ch. 4 Death Message STATE). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#client.connected) {
      const payload = encodeState({ online: false, timestamp: this.#stateTs });
      await this.#client.publishAsync(stateTopic(this.#o.hostId), payload, { qos: 1, retain: true }).catch(() => undefined);
    }
    await this.#client.endAsync();
  }

  async #online(): Promise<void> {
    const { hostId, group, log } = this.#o;
    try {
      // ch. 5 Host Application Session Establishment: subscribe first, then announce, so no edge birth sent in answer to STATE is missed.
      await this.#client.subscribeAsync([stateTopic(hostId), `${NAMESPACE}/${group}/#`], { qos: 1 });
      await this.#publishState();
      log.info({ hostId, group, url: this.#o.url }, 'sparkplug host online');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'sparkplug host could not announce itself');
    }
  }

  #publishState(): Promise<unknown> {
    const payload = encodeState({ online: true, timestamp: this.#stateTs });
    return this.#client.publishAsync(stateTopic(this.#o.hostId), payload, { qos: 1, retain: true });
  }

  /** ch. 5: each connect carries a will with a fresh timestamp; the next online STATE repeats it. */
  #renewWill(): void {
    this.#stateTs = Math.max(this.#now(), this.#stateTs + 1);
    const will = this.#client.options.will;
    if (will) will.payload = encodeState({ online: false, timestamp: this.#stateTs });
  }

  #message(topic: string, data: Buffer): void {
    const { metrics, src } = this.#o;
    try {
      if (topic === stateTopic(this.#o.hostId)) return this.#ownState(data);
      const t = parseTopic(topic);
      if (!t || t.group !== this.#o.group) return this.#reject({ reason: 'unknown_topic', detail: 'not a Sparkplug B edge topic of this group', topic, data });
      if (t.type === 'NCMD' || t.type === 'DCMD') return;
      metrics.inc('phaseline_sparkplug_messages_total', { src, type: t.type }, 1, 'Sparkplug B messages received');
      const payload = decodePayload(data);
      const msg: Inbound = { topic, t, data, payload, receivedAt: this.#now(), ...(payload.seq !== undefined ? { seq: payload.seq } : {}) };
      this.#node(t.node).receive(msg, msg.receivedAt);
    } catch (err) {
      const reason = err instanceof SparkplugPayloadError ? err.reason : 'internal_error';
      this.#reject({ reason, detail: (err as Error).message, topic, data });
    }
  }

  /** ch. 5: a host that sees its own STATE offline while connected (an old will, a takeover) announces itself again. */
  #ownState(data: Buffer): void {
    const s = decodeState(data);
    if (s && !s.online && this.#client.connected && !this.#stopped) void this.#publishState().catch(() => undefined);
  }

  #node(node: string): EdgeNode {
    let n = this.#nodes.get(node);
    if (!n) {
      n = new EdgeNode(this.#o.group, node, this.#tags, this.#o.reorderTimeoutMs, {
        emit: (samples) => this.#o.sink.add(samples),
        reject: (m, reason, detail) => this.#reject({ reason, detail, topic: m.topic, data: m.data }),
        rebirth: (nodeId, reason) => this.#rebirth(nodeId, reason),
        count: (name, labels, by = 1) => this.#o.metrics.inc(name, { src: this.#o.src, ...labels }, by, name),
      });
      this.#nodes.set(node, n);
    }
    return n;
  }

  #reject(r: RejectedMqtt): void {
    this.#o.metrics.inc('phaseline_sparkplug_rejected_total', { src: this.#o.src, reason: r.reason }, 1, 'Sparkplug B messages not applied');
    this.#o.log.warn({ topic: r.topic, reason: r.reason, detail: r.detail }, 'sparkplug message rejected');
    this.#o.reject(r);
  }

  /** NCMD `Node Control/Rebirth` = true (Sparkplug B 3.0 ch. 4 NCMD), at most once per reorder timeout per node. */
  #rebirth(node: string, reason: string): void {
    const now = this.#now();
    if (now - (this.#lastRebirth.get(node) ?? -Infinity) < this.#o.reorderTimeoutMs) return;
    this.#lastRebirth.set(node, now);
    const payload = encodePayload({ timestamp: now, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true, timestamp: now }] });
    this.#o.metrics.inc('phaseline_sparkplug_rebirth_requests_total', { src: this.#o.src, reason }, 1, 'Rebirth requests sent');
    this.#o.log.info({ node, reason }, 'requesting rebirth');
    this.#client.publish(edgeTopic(this.#o.group, 'NCMD', node), Buffer.from(payload), { qos: 0 });
  }
}
