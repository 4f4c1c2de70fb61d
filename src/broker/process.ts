import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** True while a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return /^\d+ \(.*\) Z/.test(stat);
}

/** True while the process exists and has not exited (an exited child its parent has not reaped yet is not running). */
export async function isRunning(pid: number): Promise<boolean> {
  return isAlive(pid) && !(await isZombie(pid));
}

/**
 * An opaque start time of a process, so that a recorded pid can be told from a recycled one: on Linux field 22 of
 * `/proc/<pid>/stat` (clock ticks since boot), elsewhere `ps -o lstart=`; null when the process does not exist.
 */
export async function processStartTime(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat !== null) return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  if (process.platform === 'linux') return null;
  try {
    const { stdout } = await run('ps', ['-o', 'lstart=', '-p', String(pid)], { timeout: 5_000 });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/** True while the process that had `startTime` ({@link processStartTime}) still runs under `pid`. */
export async function isSameProcess(pid: number, startTime: string | null | undefined): Promise<boolean> {
  if (startTime == null || !isAlive(pid)) return false;
  return (await processStartTime(pid)) === startTime;
}

/** The argv of a running process (from /proc on Linux, `ps` elsewhere), or null when it cannot be read. */
export async function commandLine(pid: number): Promise<string[] | null> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (raw !== null) return raw.split('\0').filter(Boolean);
  try {
    const { stdout } = await run('ps', ['-o', 'command=', '-p', String(pid)], { timeout: 5_000 });
    return stdout.trim() ? stdout.trim().split(/\s+/) : null;
  } catch {
    return null;
  }
}

/** Resolves true once the process has exited (an unreaped zombie counts as exited), false after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, child?: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) return true;
    if (!(await isRunning(pid))) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/** True when a NATS server answers at `url` with its INFO line within `timeoutMs`. */
export function probeNats(url: string, timeoutMs: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length >= 5) done(buf.startsWith('INFO '));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** The last `maxChars` characters a log file received from byte `from` on (the current run's output). */
export async function logTail(path: string, from = 0, maxChars = 2_000): Promise<string> {
  const buf = await readFile(path).catch(() => Buffer.alloc(0));
  const text = buf.subarray(Math.min(from, buf.length)).toString('utf8').trim();
  return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
}
