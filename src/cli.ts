import { readEnv } from '../config/env.ts';
import { resolveNatsServer, natsServerVersion } from './broker/resolve.ts';
import { isRunning } from './broker/process.ts';
import { embeddedNatsDirs, startNatsServer } from './broker/server.ts';
import { PhaselineError } from './errors.ts';
import { logger, setLogLevel } from './log.ts';

const USAGE = `usage: phaseline <command>
  nats-server --resolve   print the nats-server binary that would be used (fetching it if needed) and its version
  nats-server             run the embedded nats-server in the foreground with the store under PHASELINE_VAR/nats
`;

const log = logger('cli');

async function resolveBin(): Promise<{ bin: string; varDir: string }> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  const bin = await resolveNatsServer({ bin: env.natsServerBin, varDir: env.varDir, log });
  return { bin, varDir: env.varDir };
}

async function printResolved(): Promise<number> {
  const { bin } = await resolveBin();
  process.stdout.write(`${bin} ${await natsServerVersion(bin)}\n`);
  return 0;
}

async function runForeground(): Promise<number> {
  const { bin, varDir } = await resolveBin();
  const dirs = embeddedNatsDirs(varDir);
  const server = await startNatsServer({ bin, ...dirs, log });
  process.stdout.write(`nats-server ${server.adopted ? 'adopted' : 'started'} nats=${server.url} pid=${server.pid}\n`);
  process.stdout.write(`store=${dirs.storeDir} log=${dirs.runDir}/nats-server.log (Ctrl-C stops it)\n`);
  // The watch also keeps the event loop alive: signal listeners and the unref'd child do not.
  const ended = await new Promise<NodeJS.Signals | 'died'>((resolve) => {
    const watch = setInterval(async () => {
      if (!(await isRunning(server.pid))) (clearInterval(watch), resolve('died'));
    }, 1_000);
    const on = (s: NodeJS.Signals) => (clearInterval(watch), resolve(s));
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
  if (ended === 'died') {
    process.stderr.write(`phaseline: nats-server (pid ${server.pid}) exited; see ${dirs.runDir}/nats-server.log\n`);
    await server.stop();
    return 1;
  }
  log.info({ signal: ended }, 'stopping nats-server');
  await server.stop();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'nats-server' && rest.length === 1 && rest[0] === '--resolve') return printResolved();
  if (cmd === 'nats-server' && rest.length === 0) return runForeground();
  process.stderr.write(USAGE);
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
