import { execFile } from 'node:child_process';
import { access, constants, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BrokerNotFoundError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { PINNED, fetchPinnedNatsServer } from './fetch-debian.ts';

const run = promisify(execFile);

/** Oldest usable nats-server: 2.10 is the first with `jetstream { sync_interval: always }` (fsync before ack). */
export const MIN_NATS_VERSION: readonly [number, number, number] = [2, 10, 0];

/** Options of {@link resolveNatsServer}; `bin` is NATS_SERVER_BIN as read by config/env.ts. */
export interface ResolveOptions {
  bin?: string;
  varDir: string;
  log: Logger;
}

/** Parses the `x.y.z` out of `nats-server --version` output (`nats-server: v2.10.27`); null when there is none. */
export function parseNatsVersion(text: string): [number, number, number] | null {
  const m = /nats-server:?\s+v?(\d+)\.(\d+)\.(\d+)/i.exec(text) ?? /\bv?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `version` is at least `min` (major, minor, patch compared in order). */
export function isSupportedNatsVersion(
  version: readonly [number, number, number],
  min: readonly [number, number, number] = MIN_NATS_VERSION,
): boolean {
  for (let i = 0; i < 3; i++) {
    if (version[i]! !== min[i]!) return version[i]! > min[i]!;
  }
  return true;
}

/** Runs `<bin> --version` and returns `x.y.z`, or throws with the reason it could not be run or parsed. */
export async function natsServerVersion(bin: string): Promise<string> {
  const { stdout, stderr } = await run(bin, ['--version'], { timeout: 10_000 });
  const v = parseNatsVersion(`${stdout}\n${stderr}`);
  if (!v) throw new Error(`unexpected --version output: ${JSON.stringify((stdout + stderr).trim().slice(0, 200))}`);
  return v.join('.');
}

/** The path where a fetched nats-server lives under the state dir. */
export function pinnedNatsServerPath(varDir: string): string {
  return join(varDir, 'bin', `nats-server-${PINNED.version}`, 'nats-server');
}

type Check = { ok: true; version: string } | { ok: false; reason: string };

async function check(bin: string): Promise<Check> {
  try {
    const version = await natsServerVersion(bin);
    const ok = isSupportedNatsVersion(parseNatsVersion(version)!);
    return ok ? { ok, version } : { ok, reason: `is v${version}, older than ${MIN_NATS_VERSION.join('.')}` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, reason: e.code === 'ENOENT' ? 'does not exist' : `cannot be run (${e.code ?? e.message})` };
  }
}

/** Every `nats-server` on PATH, found through `which -a` so that PATH is never read outside config/. */
async function onPath(): Promise<string[]> {
  try {
    const { stdout } = await run('which', ['-a', 'nats-server'], { timeout: 5_000 });
    const seen = new Set<string>();
    const out: string[] = [];
    for (const p of stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
      const real = await realpath(p).catch(() => p);
      if (!seen.has(real)) (seen.add(real), out.push(p));
    }
    return out;
  } catch (err) {
    // `which` exits 1 when nothing is found; when `which` itself is missing let the OS resolve the bare name.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? ['nats-server'] : [];
  }
}

/** True on Debian and its derivatives (Ubuntu, …), where the pinned trixie package can be fetched and unpacked. */
export async function isDebianLike(): Promise<boolean> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const ids = /^(?:ID|ID_LIKE)=(.*)$/gm;
  let m: RegExpExecArray | null;
  while ((m = ids.exec(text))) if (/\b(debian|ubuntu)\b/.test(m[1]!.replace(/"/g, ''))) return true;
  return false;
}

async function hasCommand(name: string): Promise<boolean> {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    if (await access(join(dir, name), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

function notFoundMessage(tried: string[], fetchProblem?: string): string {
  return (
    `No usable nats-server >= ${MIN_NATS_VERSION.slice(0, 2).join('.')} was found (Phaseline needs 2.10 or newer for ` +
    `"jetstream { sync_interval: always }", so that nothing acknowledged is lost on a power cut). Looked at: ` +
    `${tried.join('; ')}.${fetchProblem ? ` Fetching the Debian package failed: ${fetchProblem}.` : ''} ` +
    `Install nats-server 2.10 or newer (https://github.com/nats-io/nats-server/releases, or a package ` +
    `manager that ships >= 2.10, e.g. "brew install nats-server" or Debian trixie's "apt install nats-server") and ` +
    `put it on PATH or set NATS_SERVER_BIN=/path/to/nats-server; or set NATS_URL to use a NATS JetStream server you ` +
    `run yourself.`
  );
}

/**
 * Finds a nats-server >= 2.10: NATS_SERVER_BIN, then PATH, then `<varDir>/bin/`, then (Debian/Ubuntu, x86-64)
 * fetches the pinned Debian trixie package into `<varDir>/bin/`; otherwise throws BrokerNotFoundError.
 */
export async function resolveNatsServer(opts: ResolveOptions): Promise<string> {
  const { bin, varDir, log } = opts;
  if (bin) {
    const c = await check(bin);
    if (c.ok) return (log.debug({ bin, version: c.version }, 'nats-server from NATS_SERVER_BIN'), bin);
    throw new BrokerNotFoundError(notFoundMessage([`NATS_SERVER_BIN=${bin} ${c.reason}`]));
  }
  const tried: string[] = ['NATS_SERVER_BIN (unset)'];
  const candidates = await onPath();
  if (candidates.length === 0) tried.push('PATH (no nats-server)');
  for (const p of candidates) {
    const c = await check(p);
    if (c.ok) return (log.debug({ bin: p, version: c.version }, 'nats-server from PATH'), p);
    tried.push(`${p} on PATH ${c.reason}`);
  }
  const pinned = pinnedNatsServerPath(varDir);
  const c = await check(pinned);
  if (c.ok) return (log.debug({ bin: pinned, version: c.version }, 'nats-server from the state dir'), pinned);
  tried.push(`${pinned} ${c.reason}`);

  if (process.platform !== 'linux' || process.arch !== 'x64' || !(await isDebianLike()) || !(await hasCommand('dpkg'))) {
    throw new BrokerNotFoundError(notFoundMessage(tried));
  }
  try {
    await fetchPinnedNatsServer({ target: pinned, binDir: join(varDir, 'bin'), log, useApt: await hasCommand('apt-get') });
  } catch (err) {
    throw new BrokerNotFoundError(notFoundMessage(tried, (err as Error).message), { cause: err });
  }
  const after = await check(pinned);
  if (!after.ok) throw new BrokerNotFoundError(notFoundMessage([...tried, `fetched ${pinned} ${after.reason}`]));
  log.info({ bin: pinned, version: after.version }, 'nats-server fetched from Debian trixie');
  return pinned;
}
