import { randomInt } from 'node:crypto';
import {
  DataType,
  OPCUAServer,
  StatusCodes,
  Variant,
  type Namespace,
  type UAObject,
  type UAVariable,
} from 'node-opcua';
import type { PlantConfig, TagDef } from '../../config/plant.schema.ts';
import { logger, type Logger } from '../log.ts';
import { routeOpcuaLogs } from './opcua-log.ts';
import { PlcPhase, parseCommand } from './plc-phase-logic.ts';
import { initialProcess, stepProcess, type UnitProcess } from './plc-process-model.ts';

/** Options of {@link startPlcSimulator}. */
export interface PlcSimulatorOptions {
  config: PlantConfig;
  sourceId?: string;
  /** TCP port; 0 lets the OS pick a free one at bind time (no pick-then-bind race). */
  port?: number;
  log?: Logger;
  timing?: { runningMs?: number; transientMs?: number; scanMs?: number };
  /** Server operation limit advertised to clients (node-opcua default 10,000); tests lower it to exercise chunking. */
  maxMonitoredItemsPerCall?: number;
}

/** A running simulator. */
export interface PlcSimulator {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

const OPCUA_TYPE = { number: DataType.Double, boolean: DataType.Boolean, string: DataType.String } as const;
type Value = number | boolean | string;

/**
 * Starts a PLC simulator: a real node-opcua server exposing every tag of the source under its configured node id,
 * running the automatic phases with the ISA-88 state model (IEC 61512-1) and a simple reactor process model.
 */
export async function startPlcSimulator(opts: PlcSimulatorOptions): Promise<PlcSimulator> {
  routeOpcuaLogs();
  const { config, sourceId = 'sim', port = 0 } = opts;
  const log = opts.log ?? logger('edge.plc-simulator');
  const timing = { runningMs: 20_000, transientMs: 1500, scanMs: 100, ...opts.timing };
  const server = new OPCUAServer({
    port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    alternateHostname: [],
    resourcePath: '/phaseline-sim',
    buildInfo: { productName: 'Phaseline PLC simulator', manufacturerName: 'Phaseline' },
    serverCapabilities: opts.maxMonitoredItemsPerCall
      ? { operationLimits: { maxMonitoredItemsPerCall: opts.maxMonitoredItemsPerCall } }
      : undefined,
  });
  await server.initialize();
  const ns = server.engine.addressSpace!.getOwnNamespace();
  const folder = ns.addObject({ organizedBy: server.engine.addressSpace!.rootFolder.objects, browseName: sourceId });
  const tags = config.tags.filter((t) => t.source === sourceId && t.node);
  const vars = new Map<string, UAVariable>();
  const types = new Map<string, DataType>();
  for (const t of tags) {
    vars.set(t.tag, addTag(ns, folder, t, initialValue(t)));
    types.set(t.tag, OPCUA_TYPE[t.dataType]);
  }

  // Only real changes are written, each with a fresh source timestamp.
  const write = (tag: string, value: Value) => {
    const v = vars.get(tag);
    if (!v || v.readValue().value.value === value) return;
    v.setValueFromSource(new Variant({ dataType: types.get(tag)!, value }), StatusCodes.Good, new Date());
  };

  const phases = config.phases
    .filter((p) => p.execution === 'automatic' && p.stateTag && p.commandTag && vars.has(p.stateTag))
    .map((p) => ({ def: p, plc: new PlcPhase(p.id, timing) }));
  const units = new Map<string, UnitProcess>(
    config.units.filter((u) => u.source === sourceId).map((u) => [u.id, initialProcess()]),
  );

  const scan = () => {
    const now = Date.now();
    for (const { def, plc } of phases) {
      const reg = vars.get(def.commandTag!);
      const raw = reg?.readValue().value.value;
      if (typeof raw === 'string' && raw !== '') {
        const cmd = parseCommand(raw);
        const from = plc.state;
        if (cmd && plc.command(cmd, now)) log.info({ phase: def.id, command: cmd, from, to: plc.state }, 'command taken');
        else log.warn({ phase: def.id, register: raw, state: from }, 'command ignored (invalid here)');
        write(def.commandTag!, '');
      }
      plc.tick(now);
      write(def.stateTag!, plc.state);
    }
  };

  let last = Date.now();
  const processStep = () => {
    const now = Date.now();
    const dt = now - last;
    last = now;
    for (const [unit, p] of units) {
      const stateOf = (suffix: string) => phases.find((x) => x.def.unit === unit && x.def.id.endsWith(suffix))?.plc.state;
      const charge = stateOf('.CHARGE');
      const heat = stateOf('.HEAT');
      const activity = {
        charging: charge === 'Running',
        heating: heat === 'Running' || heat === 'Restarting',
        idle: (charge ?? 'Idle') === 'Idle' && (heat ?? 'Idle') === 'Idle',
      };
      const next = stepProcess(p, activity, dt, timing.runningMs, randomInt(-1000, 1001) / 1000);
      units.set(unit, next);
      write(`${unit}.LT01.PV`, next.level);
      write(`${unit}.TT01.PV`, next.temperature);
      write(`${unit}.PT01.PV`, next.pressure);
      write(`${unit}.AG01.RUN`, next.agitator);
    }
  };

  try {
    await server.start();
  } catch (err) {
    // e.g. EADDRINUSE on an explicit port (port 0 binds an OS-chosen free port, so it cannot race).
    await server.shutdown(0).catch(() => undefined);
    throw err;
  }
  const scanTimer = setInterval(scan, timing.scanMs);
  const processTimer = setInterval(processStep, Math.min(500, Math.max(timing.scanMs, 100)));
  const boundPort = server.endpoints[0]!.port;
  const endpoint = `opc.tcp://127.0.0.1:${boundPort}/phaseline-sim`;
  log.info({ endpoint, tags: tags.length, phases: phases.length }, 'PLC simulator listening');
  let stopped = false;
  return {
    endpoint,
    port: boundPort,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(scanTimer);
      clearInterval(processTimer);
      await server.shutdown(0);
      log.info({ endpoint }, 'PLC simulator stopped');
    },
  };
}

function initialValue(t: TagDef): Value {
  if (t.dataType === 'boolean') return false;
  if (t.dataType === 'string') return t.tag.endsWith('.STATE') ? 'Idle' : '';
  return t.tag.endsWith('.TT01.PV') ? 20 : t.tag.endsWith('.PT01.PV') ? 1.013 : 0;
}

function addTag(ns: Namespace, folder: UAObject, t: TagDef, value: Value): UAVariable {
  // Command registers (never collected) are the only writable nodes; everything else the PLC owns.
  const writable = t.collect === false;
  const v = ns.addVariable({
    componentOf: folder,
    nodeId: t.node!,
    browseName: t.tag,
    description: t.description,
    dataType: OPCUA_TYPE[t.dataType],
    accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    minimumSamplingInterval: 0,
  });
  v.setValueFromSource(new Variant({ dataType: OPCUA_TYPE[t.dataType], value }), StatusCodes.Good, new Date());
  return v;
}
