import { createHash } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcess, processStartTime } from './broker/process.ts';
import { InstanceRunningError } from './errors.ts';
import { logger, type Logger } from './log.ts';

/** Who holds a state directory, as the holder answers and as `<var>/run/phaseline.json` shows it to people. */
export interface InstanceInfo {
  pid: number;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** {@link processStartTime} of the holder: a pid alone may be reused. */
  processStart: string | null;
  role: 'runtime' | 'nats-server';
  varDir: string;
  lock: 'abstract-socket' | 'pidfile';
  httpUrl?: string;
  natsUrl?: string;
}

/** A held state directory: `update()` adds the addresses once known, `release()` gives it up (idempotent). */
export interface InstanceLock {
  readonly info: InstanceInfo;
  update(addresses: Pick<InstanceInfo, 'httpUrl' | 'natsUrl'>): Promise<void>;
  release(): Promise<void>;
}

/** Options of {@link acquireInstanceLock}; `mode` defaults to the abstract socket on Linux and the pidfile elsewhere. */
export interface InstanceLockOptions {
  varDir: string;
  role: InstanceInfo['role'];
  mode?: 'socket' | 'pidfile';
  log?: Logger;
  /** How long a second instance waits for the holder to say who it is (then reads phaseline.json). */
  askTimeoutMs?: number;
}

/** `<var>/run/phaseline.json`: who holds the state directory, for people and for `cli.ts publish` to find the broker. */
export const instanceInfoFile = (varDir: string): string => join(varDir, 'run', 'phaseline.json');
const pidLockFile = (varDir: string) => join(varDir, 'run', 'phaseline.lock');

/** The abstract-namespace socket name of a state directory (Linux): one per realpath, so symlinks name the same one. */
export async function instanceSocketName(varDir: string): Promise<string> {
  const real = await realpath(varDir);
  return `\0phaseline:${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
}

async function writeRunFile(info: InstanceInfo): Promise<void> {
  const path = instanceInfoFile(info.varDir);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n');
  await rename(tmp, path);
}

const readJson = <T>(path: string): Promise<T | null> =>
  readFile(path, 'utf8').then((t) => JSON.parse(t) as T, () => null);

/** Asks the holder of `name` who it is; null when it does not answer within `timeoutMs` (or nobody listens). */
function ask(name: string, timeoutMs: number): Promise<{ info: InstanceInfo | null; refused: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(name);
    let buf = '';
    const done = (info: InstanceInfo | null, refused = false) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ info, refused });
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        done(JSON.parse(buf.slice(0, nl)) as InstanceInfo);
      } catch {
        done(null);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(null, err.code === 'ECONNREFUSED' || err.code === 'ENOENT'));
    socket.on('close', () => done(null));
  });
}

/** The one line a second instance prints: who runs on this state directory, and what to do. */
export function runningMessage(varDir: string, holder: Partial<InstanceInfo> | null): string {
  const who = holder?.role === 'nats-server' ? 'the foreground broker (`cli.ts nats-server`)' : 'another Phaseline instance';
  const parts = [
    `pid ${holder?.pid ?? 'unknown'}`,
    `http ${holder?.httpUrl ?? (holder?.role === 'nats-server' ? 'none' : 'not listening yet')}`,
    ...(holder?.natsUrl ? [`nats ${holder.natsUrl}`] : []),
    ...(holder?.startedAt ? [`started ${holder.startedAt}`] : []),
  ];
  return `${who} already runs on the state directory ${varDir} (${parts.join(', ')}); stop it first, or set another PHASELINE_VAR`;
}

function held(info: InstanceInfo, log: Logger, drop: () => Promise<void>): InstanceLock {
  let released: Promise<void> | undefined;
  return {
    info,
    async update(addresses) {
      Object.assign(info, addresses);
      await writeRunFile(info);
    },
    release: () =>
      (released ??= (async () => {
        await drop();
        const onDisk = await readJson<InstanceInfo>(instanceInfoFile(info.varDir));
        if (onDisk?.pid === info.pid) await rm(instanceInfoFile(info.varDir), { force: true });
        log.debug({ varDir: info.varDir }, 'state directory released');
      })()),
  };
}

/**
 * Linux: a listening socket in the abstract namespace; bind is atomic and the kernel drops it with its process (the
 * fd is close-on-exec, so the broker child does not inherit it). The namespace is per network namespace: containers
 * that share a state directory but not the network would not see each other.
 */
async function socketLock(info: InstanceInfo, log: Logger, askTimeoutMs: number): Promise<InstanceLock> {
  const name = await instanceSocketName(info.varDir);
  for (let attempt = 0; ; attempt++) {
    const server: Server = createServer((c) => {
      c.on('error', () => undefined);
      c.end(JSON.stringify(info) + '\n');
    });
    const bound = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      server.once('error', (err) => resolve(err as NodeJS.ErrnoException));
      server.listen(name, () => resolve(null));
    });
    if (!bound) {
      server.unref(); // holding the lock must not keep a process alive that has nothing else to do
      return held(info, log, () => new Promise<void>((r) => server.close(() => r())));
    }
    if (bound.code !== 'EADDRINUSE') throw bound;
    const answer = await ask(name, askTimeoutMs);
    // Refused: the holder died between our bind and our connect; try once more.
    if (answer.refused && attempt === 0) continue;
    const holder = answer.info ?? (await readJson<InstanceInfo>(instanceInfoFile(info.varDir)));
    throw new InstanceRunningError(runningMessage(info.varDir, holder), { holder });
  }
}

/**
 * Elsewhere: an O_EXCL pidfile with the holder's process start time, taken over when that process is gone. Two
 * processes taking over the same stale file at the same moment can both succeed (remove, then create, is not atomic);
 * Linux, the product's platform, uses the socket instead.
 */
async function pidfileLock(info: InstanceInfo, log: Logger): Promise<InstanceLock> {
  const file = pidLockFile(info.varDir);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify({ pid: info.pid, processStart: info.processStart }));
      await fh.close();
      return held(info, log, async () => {
        const onDisk = await readJson<{ pid: number }>(file);
        if (onDisk?.pid === info.pid) await rm(file, { force: true });
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readJson<{ pid: number; processStart: string | null }>(file);
    if (!holder && attempt < 5) {
      await sleep(50); // being written
      continue;
    }
    if (holder && (await isSameProcess(holder.pid, holder.processStart))) {
      const about = await readJson<InstanceInfo>(instanceInfoFile(info.varDir));
      const named = about?.pid === holder.pid ? about : { pid: holder.pid };
      throw new InstanceRunningError(runningMessage(info.varDir, named), { holder: named });
    }
    log.warn({ file, holder }, 'removing the lock of a Phaseline process that is gone');
    await rm(file, { force: true });
  }
  throw new InstanceRunningError(`cannot take the lock ${file} (it keeps reappearing)`, {});
}

/**
 * Takes the state directory for this process before anything else starts (DESIGN.md principle 15: one instance owns
 * a state directory), released by the OS if the process dies (on Linux; elsewhere a pidfile checked against the
 * process start time), and writes `<var>/run/phaseline.json` for people; throws InstanceRunningError naming the holder.
 */
export async function acquireInstanceLock(o: InstanceLockOptions): Promise<InstanceLock> {
  const log = o.log ?? logger('instance-lock');
  await mkdir(join(o.varDir, 'run'), { recursive: true });
  const mode = o.mode ?? (process.platform === 'linux' ? 'socket' : 'pidfile');
  const info: InstanceInfo = {
    pid: process.pid, startedAt: new Date().toISOString(), processStart: await processStartTime(process.pid),
    role: o.role, varDir: o.varDir, lock: mode === 'socket' ? 'abstract-socket' : 'pidfile',
  };
  const lock = mode === 'socket' ? await socketLock(info, log, o.askTimeoutMs ?? 1_000) : await pidfileLock(info, log);
  await writeRunFile(info);
  return lock;
}
