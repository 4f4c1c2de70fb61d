import mqtt, { type MqttClient } from 'mqtt';
import { decodePayload, encodePayload, type UMetric } from '../../src/edge/sparkplug/codec.ts';
import { decodeState, edgeTopic, stateTopic } from '../../src/edge/sparkplug/topics.ts';

/** A metric a test device declares in its DBIRTH. */
export interface EdgeMetricDef {
  name: string;
  alias: number;
  type: 'Double' | 'Float' | 'Int32' | 'Boolean' | 'String';
  value: number | boolean | string;
}

/** A value change to publish. */
export interface EdgeValue {
  name: string;
  value: number | boolean | string | null;
  timestamp?: number;
  quality?: number;
  /** Send by name instead of alias (alias is the default, Sparkplug B 3.0 ch. 6 Metric alias). */
  byName?: boolean;
  /** Force an alias (e.g. one the birth never declared). */
  alias?: number;
}

/** A built, not yet sent message (so a test can drop, delay or reorder it). */
export interface Prepared {
  topic: string;
  payload: Uint8Array;
  seq: number;
}

/** Options of {@link SparkplugTestEdge}. */
export interface SparkplugTestEdgeOptions {
  url: string;
  group: string;
  node: string;
  /** The primary host whose STATE the edge honours (Sparkplug B 3.0 ch. 5 Edge Node Session Establishment). */
  hostId: string;
  devices: Record<string, EdgeMetricDef[]>;
  ca?: string;
  bdSeq?: number;
}

/**
 * A Sparkplug B edge node for tests: waits for the primary host's STATE online before its NBIRTH/DBIRTHs, publishes
 * DDATA by alias with `seq` 0–255, buffers while the host is offline and flushes the buffer as `is_historical` metrics
 * once it is online again, answers `Node Control/Rebirth`, and lets a test drop or reorder messages.
 */
export class SparkplugTestEdge {
  readonly o: SparkplugTestEdgeOptions;
  client!: MqttClient;
  bdSeq: number;
  hostOnline = false;
  births = 0;
  rebirthRequests = 0;
  #seq = 0;
  #hostTs = -1;
  readonly #buffer: { device: string; values: EdgeValue[] }[] = [];
  #chain: Promise<unknown> = Promise.resolve();

  constructor(o: SparkplugTestEdgeOptions) {
    this.o = o;
    this.bdSeq = o.bdSeq ?? 0;
  }

  /** Connects with the NDEATH will (bdSeq) and subscribes to NCMD, DCMD and the host STATE. */
  async connect(): Promise<void> {
    const { group, node, hostId } = this.o;
    this.client = await mqtt.connectAsync(this.o.url, {
      protocolVersion: 4, clean: true, reconnectPeriod: 0, clientId: `edge-${node}-${Math.random().toString(16).slice(2)}`,
      ...(this.o.ca ? { ca: this.o.ca } : {}),
      will: { topic: edgeTopic(group, 'NDEATH', node), payload: Buffer.from(this.#death()), qos: 1, retain: false },
    });
    this.client.on('message', (topic, data) => {
      this.#chain = this.#chain.then(() => this.#onMessage(topic, data)).catch(() => undefined);
    });
    await this.client.subscribeAsync([edgeTopic(group, 'NCMD', node), `spBv1.0/${group}/DCMD/${node}/#`, stateTopic(hostId)], { qos: 1 });
  }

  /** Builds the next message with the next seq (Sparkplug B 3.0 ch. 6 Payloads, Payload). */
  prepare(device: string, values: EdgeValue[], o: { historical?: boolean } = {}): Prepared {
    const defs = this.o.devices[device] ?? [];
    const metrics: UMetric[] = values.map((v) => {
      const def = defs.find((d) => d.name === v.name);
      const alias = v.alias ?? def?.alias;
      return {
        ...(v.byName || alias === undefined ? { name: v.name } : { alias }),
        type: def?.type ?? 'Double',
        value: v.value,
        timestamp: v.timestamp ?? Date.now(),
        ...(o.historical ? { isHistorical: true } : {}),
        ...(v.quality !== undefined ? { properties: { Quality: { type: 'Int32', value: v.quality } } } : {}),
      } as UMetric;
    });
    const seq = this.#nextSeq();
    const payload = encodePayload({ timestamp: Date.now(), seq, metrics });
    return { topic: edgeTopic(this.o.group, 'DDATA', this.o.node, device), payload, seq };
  }

  /** Sends a prepared message (QoS 0, as Sparkplug data is). */
  async send(p: Prepared): Promise<void> {
    await this.client.publishAsync(p.topic, Buffer.from(p.payload), { qos: 0 });
  }

  /** Publishes values now, or buffers them while the host is offline (Sparkplug B 3.0 ch. 5: buffered data is sent with is_historical). */
  async ddata(device: string, values: EdgeValue[]): Promise<void> {
    const stamped = values.map((v) => ({ ...v, timestamp: v.timestamp ?? Date.now() }));
    if (!this.hostOnline) {
      this.#buffer.push({ device, values: stamped });
      return;
    }
    await this.send(this.prepare(device, stamped));
  }

  /** NBIRTH (seq 0, bdSeq, Node Control/Rebirth) then a DBIRTH per device (Sparkplug B 3.0 ch. 4 NBIRTH, DBIRTH). */
  async birth(): Promise<void> {
    const { group, node } = this.o;
    this.#seq = 0;
    const now = Date.now();
    const nbirth = encodePayload({
      timestamp: now, seq: this.#nextSeq(),
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: this.bdSeq, timestamp: now },
        { name: 'Node Control/Rebirth', type: 'Boolean', value: false, timestamp: now },
      ],
    });
    await this.client.publishAsync(edgeTopic(group, 'NBIRTH', node), Buffer.from(nbirth), { qos: 0 });
    for (const [device, defs] of Object.entries(this.o.devices)) {
      const metrics = defs.map((d) => ({ name: d.name, alias: d.alias, type: d.type, value: d.value, timestamp: now }) as UMetric);
      const dbirth = encodePayload({ timestamp: now, seq: this.#nextSeq(), metrics });
      await this.client.publishAsync(edgeTopic(group, 'DBIRTH', node, device), Buffer.from(dbirth), { qos: 0 });
    }
    this.births++;
  }

  /** Publishes an NDEATH with the current bdSeq (or another one, to test a stale death). */
  async death(bdSeq = this.bdSeq): Promise<void> {
    await this.client.publishAsync(edgeTopic(this.o.group, 'NDEATH', this.o.node), Buffer.from(this.#death(bdSeq)), { qos: 1 });
  }

  /** Publishes raw bytes on an edge topic (malformed payload tests). */
  async raw(topic: string, data: Uint8Array): Promise<void> {
    await this.client.publishAsync(topic, Buffer.from(data), { qos: 0 });
  }

  /** Messages still buffered for the host. */
  get buffered(): number {
    return this.#buffer.reduce((n, b) => n + b.values.length, 0);
  }

  /** Waits for message handling (births and flushes run in order). */
  settled(): Promise<unknown> {
    return this.#chain;
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }

  #nextSeq(): number {
    const s = this.#seq;
    this.#seq = (this.#seq + 1) % 256;
    return s;
  }

  #death(bdSeq = this.bdSeq): Uint8Array {
    return encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }] });
  }

  async #onMessage(topic: string, data: Buffer): Promise<void> {
    if (topic === stateTopic(this.o.hostId)) {
      const s = decodeState(data);
      if (!s || s.timestamp < this.#hostTs) return; // ch. 5: an older STATE is ignored
      this.#hostTs = s.timestamp;
      const was = this.hostOnline;
      this.hostOnline = s.online;
      if (s.online && !was) {
        await this.birth();
        await this.#flush();
      }
      return;
    }
    const p = decodePayload(data);
    const rebirth = p.metrics.find((m) => m.name === 'Node Control/Rebirth');
    if (rebirth?.value === true) {
      this.rebirthRequests++;
      if (this.hostOnline) await this.birth();
    }
  }

  /** Sends what was buffered as historical DDATA, in order, with the original timestamps. */
  async #flush(): Promise<void> {
    for (const b of this.#buffer.splice(0)) await this.send(this.prepare(b.device, b.values, { historical: true }));
  }
}
