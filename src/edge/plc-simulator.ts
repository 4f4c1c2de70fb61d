import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type Namespace,
  type UAObject,
  type UAVariable,
} from 'node-opcua';
import type { PlantConfig, TagDef } from '../../config/plant.schema.ts';
import { logger, type Logger } from '../log.ts';
import { checkOpcuaUser, ensureDemoOpcuaUsers, type OpcuaUser } from './opcua-credentials.ts';
import { routeOpcuaLogs } from './opcua-log.ts';
import { DEMO_APPS, ensureOwnCertificate, openCertificateStore, pkiDir } from './opcua-pki.ts';
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
  /** State dir: the server's certificate store is `<varDir>/pki/server`, its demo users `<varDir>/demo/opcua-users.json`. */
  varDir: string;
  /** Certificate store folder (default `<varDir>/pki/server`). */
  pkiDir?: string;
  /** Users allowed to log on (default: the demo users, created on first start). */
  users?: readonly OpcuaUser[];
  /** Values kept per variable for HistoryRead (IEC 62541-11 §4; default 20,000). */
  historyValues?: number;
}

/** A running simulator. */
export interface PlcSimulator {
  endpoint: string;
  port: number;
  /** SHA-1 thumbprint (hex) of the server's application instance certificate. */
  thumbprint: string;
  /** The open sessions as the server sees them: channel security and user (IEC 62541-5 §6.3.4 session diagnostics). */
  sessions(): { securityMode: string; securityPolicy: string; user?: string }[];
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
  const users = opts.users ?? (await ensureDemoOpcuaUsers(opts.varDir));
  const cm = await openCertificateStore(opts.pkiDir ?? pkiDir(opts.varDir, 'server'));
  const own = await ensureOwnCertificate(cm, DEMO_APPS.server);
  const userCm = await openCertificateStore(join(cm.rootDir, '..', 'server-users'));
  const server = new OPCUAServer({
    port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    alternateHostname: [],
    resourcePath: '/phaseline-sim',
    buildInfo: { productName: 'Phaseline PLC simulator', manufacturerName: 'Phaseline' },
    serverInfo: { applicationUri: own.applicationUri, applicationName: { text: DEMO_APPS.server.applicationName } },
    serverCertificateManager: cm,
    userCertificateManager: userCm,
    certificateFile: own.certificateFile,
    privateKeyFile: own.privateKeyFile,
    // IEC 62541-7 §6.6.165: only Basic256Sha256 with SignAndEncrypt; GetEndpoints stays reachable for discovery.
    securityPolicies: [SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: false,
    userManager: { isValidUser: (username: string, password: string) => checkOpcuaUser(users, username, password) },
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
    const v = addTag(ns, folder, t, initialValue(t));
    // Historizing (IEC 62541-11 §5.2): the collector backfills a connection gap with HistoryRead.
    if (t.collect !== false) server.engine.addressSpace!.installHistoricalDataNode(v, { maxOnlineValues: opts.historyValues ?? 20_000 });
    vars.set(t.tag, v);
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
    await Promise.all([cm.dispose(), userCm.dispose()]).catch(() => undefined);
    throw err;
  }
  const scanTimer = setInterval(scan, timing.scanMs);
  const processTimer = setInterval(processStep, Math.min(500, Math.max(timing.scanMs, 100)));
  const boundPort = server.endpoints[0]!.port;
  const endpoint = `opc.tcp://127.0.0.1:${boundPort}/phaseline-sim`;
  log.info({ endpoint, tags: tags.length, phases: phases.length, certificate: own.thumbprint, certMs: own.ms }, 'PLC simulator listening (Basic256Sha256, SignAndEncrypt)');
  let stopped = false;
  return {
    endpoint,
    port: boundPort,
    thumbprint: own.thumbprint,
    sessions: () =>
      server.engine.getSessions().map((se) => ({
        securityMode: MessageSecurityMode[se.channel?.securityMode ?? MessageSecurityMode.Invalid] ?? 'unknown',
        securityPolicy: String(se.channel?.securityPolicy ?? '').split('#')[1] ?? 'unknown',
        user: (se.userIdentityToken as { userName?: string } | undefined)?.userName,
      })),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(scanTimer);
      clearInterval(processTimer);
      await server.shutdown(0);
      await Promise.all([cm.dispose(), userCm.dispose()]).catch(() => undefined);
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
  const options = {
    componentOf: folder,
    nodeId: t.node!,
    browseName: t.tag,
    description: t.description,
    dataType: OPCUA_TYPE[t.dataType],
    accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead | HistoryRead',
    userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead | HistoryRead',
    minimumSamplingInterval: 0,
  };
  // A numeric tag with limits is an AnalogItem with its EURange (IEC 62541-8 §5.3.2), so a percent deadband works.
  const v =
    t.dataType === 'number' && t.limits
      ? ns.addAnalogDataItem({ ...options, dataType: 'Double', engineeringUnitsRange: { low: t.limits.lo, high: t.limits.hi } })
      : ns.addVariable(options);
  v.setValueFromSource(new Variant({ dataType: OPCUA_TYPE[t.dataType], value }), StatusCodes.Good, new Date());
  return v;
}
