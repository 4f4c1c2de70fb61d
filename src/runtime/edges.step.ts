import { jetstream } from '@nats-io/jetstream';
import type { Env } from '../../config/env.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { connectNats } from '../broker/connect.ts';
import { startOpcuaCollector } from '../edge/opcua-collector.ts';
import { provisionDemoPki } from '../edge/opcua-pki.ts';
import { startPlcSimulator } from '../edge/plc-simulator.ts';
import { startSparkplugCollector } from '../edge/sparkplug/collector.ts';
import { logger, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Bus } from './bus.step.ts';
import type { StopStack } from './stops.ts';

/**
 * The edges that run in-process: the demo's PLC simulator with its OPC UA edge (PHASELINE_SIMULATOR), and every
 * `kind: "mqtt"` source with a `sparkplug` block. Each connects as its source's own NATS user: the broker limits it
 * like any external edge (NIST SP 800-82r3 §5.2.3 zones and conduits).
 */
export async function startEdges(env: Env, config: PlantConfig, bus: Bus, metrics: Metrics, stops: StopStack, log: Logger): Promise<void> {
  const { broker, natsUrl, ncIngest } = bus;
  const edgeConnection = async (src: string) => {
    const auth = await broker.edge(src);
    if (!auth) return ncIngest;
    const nc = await connectNats(natsUrl, { name: `phaseline-edge-${src}`, highRate: true, log, ...auth });
    stops.push(`edge ${src} connection`, () => nc.drain());
    return nc;
  };
  if (env.simulator) {
    await provisionDemoPki(env.varDir, logger('pki')); // demo only: own certificates, pre-trusted both ways
    const sim = await startPlcSimulator({ config, varDir: env.varDir, log: logger('plc-sim') });
    stops.push('PLC simulator', () => sim.stop());
    const nc = await edgeConnection('sim');
    const collector = await startOpcuaCollector({ nc, config, sourceId: 'sim', endpoint: sim.endpoint, varDir: env.varDir, log: logger('edge-sim'), metrics });
    stops.push('OPC UA edge sim', () => collector.stop());
  }
  // Opt-in: the demo's line2 stays `external` (nothing drives it unless its config says so).
  for (const s of config.sources.filter((x) => x.kind === 'mqtt' && x.sparkplug)) {
    const nc = await edgeConnection(s.id);
    const collector = await startSparkplugCollector({ nc, config, sourceId: s.id, varDir: env.varDir, log: logger(`edge-${s.id}`), metrics, deadLetters: jetstream(ncIngest) });
    stops.push(`Sparkplug edge ${s.id}`, () => collector.stop());
  }
}
