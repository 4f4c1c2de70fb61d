import { readEnv } from '../config/env.ts';
import { PhaselineError } from './errors.ts';
import { acquireInstanceLock } from './instance-lock.ts';
import { logger, setLogLevel } from './log.ts';

const log = logger('main');

/** `npm start`: runs the runtime, prints the demo credentials once and the ready line, and stops in order on a signal. */
async function main(): Promise<void> {
  const env = readEnv();
  setLogLevel(env.logLevel);
  // The state directory is taken before the runtime's modules load (seconds on a busy machine), so that a second
  // instance is told within 2 s and touches nothing (DESIGN.md principle 15).
  const lock = await acquireInstanceLock({ varDir: env.varDir, role: 'runtime' });
  const { startRuntime } = await import('./runtime.ts');
  const runtime = await startRuntime(env, { lock });
  if (runtime.createdCredentials.length) {
    process.stdout.write(`demo users created (also in ${env.varDir}/demo/credentials.json, mode 0600):\n`);
    for (const c of runtime.createdCredentials) process.stdout.write(`  ${c.username.padEnd(11)} ${c.password}  roles=${c.roles.join(',')}\n`);
  }
  process.stdout.write(`phaseline ready http=${runtime.httpUrl} nats=${runtime.natsUrl}\n`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => { log.error({}, 'shutdown took too long; exiting'); process.exit(1); }, 30_000);
    force.unref();
    runtime.stop().then(() => process.exit(0), (err) => { log.error({ err: String(err) }, 'shutdown failed'); process.exit(1); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  // A second instance says one line and nothing else: the first one keeps running undisturbed.
  if (!(err instanceof PhaselineError && err.code === 'ERR_INSTANCE_RUNNING')) {
    log.fatal({ err: String(err), stack: (err as Error).stack }, 'phaseline failed to start');
  }
  process.stderr.write(`phaseline: ${(err as Error).message}\n`);
  process.exit(1);
});
