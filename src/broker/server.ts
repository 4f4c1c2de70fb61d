import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerStartError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { authorizationConf, type NatsUserConf } from './credentials.ts';
import { commandLine, isAlive, isSameProcess, logTail, probeNats, processStartTime, waitForExit } from './process.ts';

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** Options of {@link startNatsServer}; `port` 0 or unset lets the server pick a free one (no pick-then-bind race). */
export interface StartNatsOptions {
  bin: string;
  storeDir: string;
  runDir: string;
  log: Logger;
  host?: string;
  port?: number;
  /** Users with their permissions (src/broker/credentials.ts); unset = no authentication (private test servers). */
  users?: NatsUserConf[];
  /** Server certificate and key (PEM files): the server then requires TLS from every client. */
  tls?: { certFile: string; keyFile: string };
}

/** A running nats-server child (or one adopted from a crashed parent); `stop()` ends it and removes the pidfile. */
export interface NatsServerHandle {
  url: string;
  pid: number;
  adopted: boolean;
  stop(): Promise<void>;
}

interface PidFile {
  pid: number;
  url: string | null;
  storeDir: string;
  bin: string;
  /** SHA-256 of the config text the server was started with: a server with other users or TLS is not adopted. */
  confHash?: string;
  /** The process that started or adopted the server (pid and start time: pids are reused); absent before 2026-12. */
  owner?: Owner;
}

interface Owner {
  pid: number;
  processStart: string | null;
}

const self = async (): Promise<Owner> => ({ pid: process.pid, processStart: await processStartTime(process.pid) });

/** Where the embedded broker keeps its JetStream store and its run files (conf, pidfile, ports, log) under PHASELINE_VAR. */
export function embeddedNatsDirs(varDir: string): { storeDir: string; runDir: string } {
  return { storeDir: join(varDir, 'nats'), runDir: join(varDir, 'run', 'nats') };
}

const files = (runDir: string) => ({
  conf: join(runDir, 'nats-server.conf'),
  pid: join(runDir, 'nats-server.pid'),
  log: join(runDir, 'nats-server.log'),
});

const readPidFile = (runDir: string): Promise<PidFile | null> =>
  readFile(files(runDir).pid, 'utf8').then((t) => JSON.parse(t) as PidFile, () => null);

/** The URL the pidfile of the broker in `runDir` records, or null when there is none (or it is still starting). */
export async function recordedNatsUrl(runDir: string): Promise<string | null> {
  return (await readPidFile(runDir))?.url ?? null;
}

async function writeAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

/** True when `pid` is a nats-server started with our config file (guards against a recycled pid). */
async function isOurs(pid: number, conf: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const argv = await commandLine(pid);
  return !!argv && /nats-server/.test(argv.join(' ')) && argv.includes(conf);
}

async function signalAndWait(pid: number, log: Logger, child?: ChildProcess): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitForExit(pid, STOP_TIMEOUT_MS, child)) return;
  log.warn({ pid }, 'nats-server did not stop after SIGTERM, sending SIGKILL');
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitForExit(pid, STOP_TIMEOUT_MS, child);
}

/** Removes ports files of dead servers and stops live servers of ours that the pidfile does not name. */
async function sweepPortsFiles(runDir: string, conf: string, keep: number | null, log: Logger): Promise<void> {
  for (const f of await readdir(runDir).catch(() => [])) {
    const m = /_(\d+)\.ports$/.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === keep) continue;
    if (await isOurs(pid, conf)) {
      log.warn({ pid }, 'stopping a nats-server left over from a crashed parent');
      await signalAndWait(pid, log);
    }
    await rm(join(runDir, f), { force: true });
  }
}

async function readPortsUrl(runDir: string, pid: number, host: string): Promise<string | null> {
  const f = (await readdir(runDir)).find((n) => n.endsWith(`_${pid}.ports`));
  if (!f) return null;
  const text = await readFile(join(runDir, f), 'utf8').catch(() => '');
  try {
    const first = (JSON.parse(text) as { nats?: string[] }).nats?.[0];
    const port = first ? new URL(first).port : '';
    return port ? `nats://${host}:${port}` : null;
  } catch {
    return null; // written but not complete yet
  }
}

function makeStop(pid: number, runDir: string, log: Logger, child?: ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      await signalAndWait(pid, log, child);
      const pf = await readPidFile(runDir);
      if (pf?.pid === pid) await rm(files(runDir).pid, { force: true });
      for (const f of await readdir(runDir).catch(() => [])) {
        if (f.endsWith(`_${pid}.ports`)) await rm(join(runDir, f), { force: true });
      }
      log.info({ pid }, 'nats-server stopped');
    })());
}

/** Stops every nats-server that this run dir's pidfile or ports files name and that runs with its config (cleanup). */
export async function stopStrayNatsServers(runDir: string, log: Logger): Promise<void> {
  const conf = files(runDir).conf;
  const pf = await readPidFile(runDir);
  if (pf && (await isOurs(pf.pid, conf))) {
    log.warn({ pid: pf.pid }, 'stopping a stray nats-server');
    await signalAndWait(pf.pid, log);
  }
  await rm(files(runDir).pid, { force: true });
  await sweepPortsFiles(runDir, conf, null, log);
}

/**
 * Refuses to touch a run dir whose server belongs to another live process. The runtime and `cli.ts nats-server` hold
 * the state directory's instance lock (src/instance-lock.ts) before they get here, so any server found then is the
 * orphan of a dead owner; this check covers callers without the lock (tests, older versions still running).
 */
async function refuseLiveOwner(pf: PidFile | null, runDir: string): Promise<void> {
  const o = pf?.owner;
  if (!o || o.pid === process.pid || !(await isSameProcess(o.pid, o.processStart))) return;
  throw new BrokerStartError(
    `the nats-server in ${runDir} (pid ${pf!.pid}) belongs to the live process ${o.pid}: another instance uses this state directory`,
    { pid: pf!.pid, owner: o.pid },
  );
}

/** Adopts a reachable server of ours named by the pidfile whose owner is gone (or is us), or stops it; returns the handle when adopted. */
async function adoptOrReplace(opts: StartNatsOptions, conf: string, confHash: string): Promise<NatsServerHandle | null> {
  const { runDir, storeDir, bin, log, port } = opts;
  const pf = await readPidFile(runDir);
  await refuseLiveOwner(pf, runDir);
  const keep = pf && (await isOurs(pf.pid, conf)) ? pf.pid : null;
  await sweepPortsFiles(runDir, conf, keep, log);
  if (!pf) return null;
  if (keep === null) {
    await rm(files(runDir).pid, { force: true });
    return null;
  }
  const samePort = !port || (pf.url !== null && new URL(pf.url).port === String(port));
  const fits = pf.storeDir === storeDir && pf.bin === bin && samePort && (pf.confHash ?? confHashOf({ ...opts, users: undefined, tls: undefined })) === confHash;
  if (fits && pf.url && (await probeNats(pf.url, 1_000))) {
    await writeAtomic(files(runDir).pid, JSON.stringify({ ...pf, owner: await self() }));
    log.info({ pid: pf.pid, url: pf.url, previousOwner: pf.owner?.pid }, 'adopted the nats-server left running by a previous process');
    return { url: pf.url, pid: pf.pid, adopted: true, stop: makeStop(pf.pid, runDir, log) };
  }
  log.warn({ pid: pf.pid, fits }, 'stopping a leftover nats-server that does not fit or does not answer');
  await signalAndWait(pf.pid, log);
  await rm(files(runDir).pid, { force: true });
  return null;
}

/** The hash of everything in the config but the port (adoption compares the port on its own). */
const confHashOf = (opts: StartNatsOptions) =>
  createHash('sha256').update(configText({ ...opts, port: undefined })).digest('hex');

/** The nats-server config: listen address, JetStream with fsync before ack, and optionally users and TLS. */
export function configText(opts: Omit<StartNatsOptions, 'bin' | 'log' | 'runDir'>): string {
  const host = opts.host ?? '127.0.0.1';
  const tls = opts.tls
    ? ['tls {', `  cert_file: ${JSON.stringify(opts.tls.certFile)}`, `  key_file: ${JSON.stringify(opts.tls.keyFile)}`, '  timeout: 2', '}']
    : [];
  return [
    '# written by phaseline (src/broker/server.ts) on every start; edits are overwritten',
    `listen: ${JSON.stringify(`${host}:${opts.port || -1}`)}`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(opts.storeDir)}`,
    '  # fsync every write before the ack (nats-server >= 2.10; Phaseline needs >= 2.11): acknowledged data survives a power cut',
    '  sync_interval: always',
    '}',
    ...(opts.users ? [authorizationConf(opts.users)] : []),
    ...tls,
    '',
  ].join('\n');
}

/**
 * A nats-server.conf for a production broker (`cli.ts nats-config`): the same users, permissions and JetStream settings
 * as the embedded broker, on `listen`, with TLS when given. Authorization timeouts and limits are the server's defaults.
 */
export function productionNatsConfig(o: { users: NatsUserConf[]; listen: string; storeDir: string; tls?: StartNatsOptions['tls'] }): string {
  const [host, port] = [o.listen.slice(0, o.listen.lastIndexOf(':')), Number(o.listen.slice(o.listen.lastIndexOf(':') + 1))];
  const text = configText({ host, port, storeDir: o.storeDir, users: o.users, tls: o.tls });
  return text.replace(/^# written by .*$/m, '# generated by `phaseline nats-config` (src/cli.ts); holds passwords: keep it mode 0600');
}

async function spawnServer(opts: StartNatsOptions, conf: string): Promise<{ child: ChildProcess; logFrom: number }> {
  const logFile = await open(files(opts.runDir).log, 'a');
  const logFrom = (await logFile.stat()).size;
  try {
    // Detached: a terminal's SIGINT reaches only the parent, which stops the broker last, after draining.
    const child = spawn(opts.bin, ['-c', conf, '--ports_file_dir', opts.runDir], {
      detached: true,
      stdio: ['ignore', logFile.fd, logFile.fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.unref();
    return { child, logFrom };
  } catch (err) {
    throw new BrokerStartError(`cannot run nats-server ${opts.bin}: ${(err as Error).message}`, { bin: opts.bin }, {
      cause: err,
    });
  } finally {
    await logFile.close();
  }
}

async function waitReady(opts: StartNatsOptions, child: ChildProcess, logFrom: number): Promise<string> {
  const pid = child.pid!;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const fail = async (why: string) => {
    const tail = await logTail(files(opts.runDir).log, logFrom);
    return new BrokerStartError(`nats-server ${opts.bin} ${why}; its log says:\n${tail || '(nothing)'}`, {
      bin: opts.bin,
      pid,
    });
  };
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw await fail(`exited during start-up (${child.exitCode ?? child.signalCode})`);
    }
    const url = await readPortsUrl(opts.runDir, pid, opts.host ?? '127.0.0.1');
    if (url && (await probeNats(url, 1_000))) return url;
    await sleep(20);
  }
  await signalAndWait(pid, opts.log, child);
  throw await fail(`did not accept connections within ${READY_TIMEOUT_MS / 1000} s`);
}

/**
 * Starts nats-server with JetStream (`sync_interval: always`) on a loopback port it picks itself, or adopts or
 * replaces the one a crashed parent left running on the same run dir, and resolves once it accepts connections.
 */
export async function startNatsServer(opts: StartNatsOptions): Promise<NatsServerHandle> {
  const { runDir, storeDir, bin, log } = opts;
  await mkdir(runDir, { recursive: true });
  await mkdir(storeDir, { recursive: true });
  const conf = files(runDir).conf;
  const text = configText(opts);
  const confHash = confHashOf(opts);
  const adopted = await adoptOrReplace(opts, conf, confHash);
  if (adopted) return adopted;

  // The config holds the users' passwords: readable by the owner only.
  await writeAtomic(conf, text, 0o600);
  const { child, logFrom } = await spawnServer(opts, conf);
  const pid = child.pid!;
  // Written at once so that a parent crashing during start-up still leaves the child findable.
  const owner = await self();
  const record = (url: string | null) => writeAtomic(files(runDir).pid, JSON.stringify({ pid, url, storeDir, bin, confHash, owner }));
  await record(null);
  let url: string;
  try {
    url = await waitReady(opts, child, logFrom);
  } catch (err) {
    await rm(files(runDir).pid, { force: true });
    throw err;
  }
  await record(url);
  log.info({ pid, url, storeDir }, 'nats-server started');
  return { url, pid, adopted: false, stop: makeStop(pid, runDir, log, child) };
}
