import { readEnv } from '../config/env.ts';
import { DEBIAN_SOURCE } from './broker/fetch-debian.ts';
import { resolveNatsServer, natsServerVersion } from './broker/resolve.ts';
import { isRunning } from './broker/process.ts';
import { loadConfig } from '../config/load.ts';
import { brokerUsers, ensureNatsCredentials, natsCredentialsDir, runtimeUser, writeSecret } from './broker/credentials.ts';
import { embeddedNatsDirs, productionNatsConfig, startNatsServer } from './broker/server.ts';
import { embeddedSecurity } from './broker/security.ts';
import { ensureTlsMaterial } from './broker/tls.ts';
import { MIN_NATS_VERSION_TEXT } from './broker/version.ts';
import { PhaselineError } from './errors.ts';
import { PUBLISH_USAGE, runPublish } from './edge/publish-cli.ts';
import { acquireInstanceLock } from './instance-lock.ts';
import { logger, setLogLevel } from './log.ts';

const usage = (pkiUsage: string) => `usage: phaseline <command>
${pkiUsage.trimEnd()}
${PUBLISH_USAGE.trimEnd()}
  nats-server --resolve   print the nats-server binary that would be used and its version: NATS_SERVER_BIN, else the
                          first on PATH that is >= ${MIN_NATS_VERSION_TEXT}, else the newest in PHASELINE_VAR/bin/, else (Debian/Ubuntu)
                          Debian testing's (suite ${DEBIAN_SOURCE.suite}) fetched into PHASELINE_VAR/bin/nats-server-<version>/
  nats-server             run the embedded nats-server in the foreground with the store under PHASELINE_VAR/nats; it
                          holds the state directory like \`npm start\` does (one of them at a time)
  edge --endpoint URL     run one OPC UA edge (collector, store-and-forward buffer) against NATS_URL or --nats
  nats-config [--tls] [--listen HOST:PORT] [--store DIR] [--out FILE]
                          print a production nats-server.conf: a user per configured edge source with its permissions,
                          the runtime's user, JetStream with fsync before ack and, with --tls, a TLS block (credentials
                          are created under PHASELINE_VAR/nats/ if missing; edge-<source>.json is what an edge is given)
`;

const log = logger('cli');

/** The OPC UA commands, loaded on demand (node-opcua takes seconds to load), with node-opcua's logs routed first. */
async function opcuaCommands(): Promise<typeof import('./edge/opcua-pki-cli.ts')> {
  const [{ routeOpcuaLogs }, pki] = await Promise.all([import('./edge/opcua-log.ts'), import('./edge/opcua-pki-cli.ts')]);
  routeOpcuaLogs();
  return pki;
}

async function printResolved(): Promise<number> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  const bin = await resolveNatsServer({ bin: env.natsServerBin, varDir: env.varDir, log });
  process.stdout.write(`${bin} ${await natsServerVersion(bin)}\n`);
  return 0;
}

/** `cli.ts nats-server`: the embedded broker in the foreground, holding the state directory as the runtime does. */
async function runForeground(): Promise<number> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  // The state directory's lock first, as the runtime takes it: one of the two owns var/ (src/instance-lock.ts).
  const lock = await acquireInstanceLock({ varDir: env.varDir, role: 'nats-server' });
  try {
    const bin = await resolveNatsServer({ bin: env.natsServerBin, varDir: env.varDir, log });
    const dirs = embeddedNatsDirs(env.varDir);
    // The same users and TLS as the runtime's embedded broker: once one of them is gone, the other adopts its server.
    const { options } = await embeddedSecurity(env, loadConfig(env.configDir));
    const server = await startNatsServer({ bin, ...dirs, log, ...options });
    await lock.update({ natsUrl: server.url });
    process.stdout.write(`nats-server ${server.adopted ? 'adopted' : 'started'} nats=${server.url} pid=${server.pid}\n`);
    process.stdout.write(`store=${dirs.storeDir} log=${dirs.runDir}/nats-server.log (Ctrl-C stops it)\n`);
    const ended = await untilSignalOrExit(server.pid);
    if (ended === 'died') {
      process.stderr.write(`phaseline: nats-server (pid ${server.pid}) exited; see ${dirs.runDir}/nats-server.log\n`);
      await server.stop();
      return 1;
    }
    log.info({ signal: ended }, 'stopping nats-server');
    await server.stop();
    return 0;
  } finally {
    await lock.release();
  }
}

/** Resolves on SIGINT/SIGTERM or when the process `pid` has exited; the watch also keeps the event loop alive. */
function untilSignalOrExit(pid: number): Promise<NodeJS.Signals | 'died'> {
  return new Promise((resolve) => {
    const watch = setInterval(async () => {
      if (!(await isRunning(pid))) (clearInterval(watch), resolve('died'));
    }, 1_000);
    const on = (s: NodeJS.Signals) => (clearInterval(watch), resolve(s));
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

async function printNatsConfig(args: string[]): Promise<number> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const config = loadConfig(env.configDir);
  const users = await ensureNatsCredentials(env.varDir, config.sources.map((s) => s.id));
  const tls = args.includes('--tls') ? await ensureTlsMaterial(env.varDir, env.tlsFiles) : undefined;
  const text = productionNatsConfig({
    users: brokerUsers(users, config),
    listen: flag('--listen') ?? '0.0.0.0:4222',
    storeDir: flag('--store') ?? '/var/lib/nats',
    ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
  });
  const out = flag('--out');
  // A file of its own (0600: it holds passwords); stdout also carries whatever libraries print when they load.
  if (out) await writeSecret(out, text);
  else process.stdout.write(text);
  process.stderr.write(
    `phaseline: users of ${config.sources.length} edge source(s) and the runtime from ${natsCredentialsDir(env.varDir)}/users.json;
` +
      `  give each edge its ${natsCredentialsDir(env.varDir)}/edge-<source>.json; run the runtime with NATS_URL, NATS_USER=${runtimeUser(users).user}, NATS_PASSWORD` +
      `${tls ? ` and PHASELINE_TLS_CA=${tls.caFile}` : ''}\n`,
  );
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'nats-config') return printNatsConfig(rest);
  if (cmd === 'nats-server' && rest.length === 1 && rest[0] === '--resolve') return printResolved();
  if (cmd === 'nats-server' && rest.length === 0) return runForeground();
  if (cmd === 'publish') {
    const env = readEnv();
    setLogLevel(env.logLevel);
    return runPublish(rest, env, (t) => process.stdout.write(t));
  }
  // The OPC UA client keeps handles open after a stop or a failed start: exit once the edge is done.
  // Loaded on demand: node-opcua takes seconds to load, which the other commands do not need.
  if (cmd === 'edge') {
    const { runEdge } = await import('./edge/main.ts');
    return runEdge(rest).then(
      (code) => process.exit(code),
      (err: unknown) => {
        process.stderr.write(`phaseline edge: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  }
  const { PKI_USAGE, runPkiCommand } = await opcuaCommands();
  if (cmd === 'pki') return runPkiCommand(rest, readEnv().varDir, (t) => process.stdout.write(t));
  process.stderr.write(usage(PKI_USAGE));
  return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = err instanceof PhaselineError ? `${err.code}: ` : '';
    process.stderr.write(`phaseline: ${code}${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
