import { execFile } from 'node:child_process';
import { access, constants, readFile, readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BrokerNotFoundError, PhaselineError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { DEBIAN_SOURCE, debianArch, fetchDebianNatsServer, fetchedDir, type FetchedBinary } from './fetch-debian.ts';
import { compareNatsVersions, isSupportedNatsVersion, MIN_NATS_VERSION, MIN_NATS_VERSION_TEXT, parseNatsVersion } from './version.ts';

const run = promisify(execFile);

export { isSupportedNatsVersion, MIN_NATS_VERSION, parseNatsVersion };

/** Options of {@link resolveNatsServer}; `bin` is NATS_SERVER_BIN as read by config/env.ts. */
export interface ResolveOptions {
  bin?: string;
  varDir: string;
  log: Logger;
}

/** Runs `<bin> --version` and returns `x.y.z`, or throws with the reason it could not be run or parsed. */
export async function natsServerVersion(bin: string): Promise<string> {
  const { stdout, stderr } = await run(bin, ['--version'], { timeout: 10_000 });
  const v = parseNatsVersion(`${stdout}\n${stderr}`);
  if (!v) throw new PhaselineError('ERR_BROKER_VERSION_UNREADABLE', `unexpected --version output: ${JSON.stringify((stdout + stderr).trim().slice(0, 200))}`, { bin });
  return v.join('.');
}

/** The versions of the `nats-server-<x.y.z>` directories among `names`, newest first (other names ignored). */
export function fetchedVersions(names: readonly string[]): string[] {
  const out: [string, [number, number, number]][] = [];
  for (const n of names) {
    const m = /^nats-server-(\d+\.\d+\.\d+)$/.exec(n);
    if (m) out.push([m[1]!, parseNatsVersion(m[1]!)!]);
  }
  return out.sort((a, b) => compareNatsVersions(b[1], a[1])).map((x) => x[0]);
}

/** The fetched nats-server binaries under `<varDir>/bin/`, newest first. */
export async function fetchedNatsServers(varDir: string): Promise<string[]> {
  const binDir = join(varDir, 'bin');
  return fetchedVersions(await readdir(binDir).catch(() => [])).map((v) => join(fetchedDir(binDir, v), 'nats-server'));
}

type Check = { ok: true; version: string } | { ok: false; reason: string };

async function check(bin: string): Promise<Check> {
  try {
    const version = await natsServerVersion(bin);
    const ok = isSupportedNatsVersion(parseNatsVersion(version)!);
    return ok ? { ok, version } : { ok, reason: `is v${version}, older than ${MIN_NATS_VERSION_TEXT}` };
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

/** True on Debian and its derivatives (Ubuntu, …), where the Debian package can be fetched and unpacked. */
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
    `No usable nats-server >= ${MIN_NATS_VERSION_TEXT} was found (Phaseline needs ${MIN_NATS_VERSION_TEXT} or newer: ` +
    `per-key TTL, a stream creation time that stays put across restarts, and "jetstream { sync_interval: always }" so ` +
    `that nothing acknowledged is lost on a power cut). Looked at: ${tried.join('; ')}.` +
    `${fetchProblem ? ` Fetching the Debian ${DEBIAN_SOURCE.suite} package failed: ${fetchProblem}.` : ''} ` +
    `Install nats-server ${MIN_NATS_VERSION_TEXT} or newer (https://github.com/nats-io/nats-server/releases, or a ` +
    `package manager that ships it, e.g. "brew install nats-server" or Debian testing's "apt install nats-server") and ` +
    `put it on PATH or set NATS_SERVER_BIN=/path/to/nats-server; or set NATS_URL to use a NATS JetStream server you ` +
    `run yourself.`
  );
}

/** The first usable fetched binary under `<varDir>/bin/` (newest first); the unusable ones are added to `tried`. */
async function usableFetched(varDir: string, tried?: string[]): Promise<FetchedBinary | null> {
  for (const bin of await fetchedNatsServers(varDir)) {
    const c = await check(bin);
    if (c.ok) return { bin, version: c.version };
    tried?.push(`${bin} ${c.reason}`);
  }
  return null;
}

/**
 * Finds a nats-server >= {@link MIN_NATS_VERSION}: NATS_SERVER_BIN, then PATH, then the newest under `<varDir>/bin/`,
 * then (Debian/Ubuntu with apt, x86-64 or arm64) fetches Debian testing's package into `<varDir>/bin/`; otherwise
 * throws BrokerNotFoundError saying what it looked at and how to install one.
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
  const local = await usableFetched(varDir, tried);
  if (local) return (log.debug(local, 'nats-server from the state dir'), local.bin);
  if (!tried.some((t) => t.startsWith(join(varDir, 'bin')))) tried.push(`${join(varDir, 'bin')} (no nats-server-<version>/)`);

  const arch = debianArch();
  const canFetch = process.platform === 'linux' && arch && (await isDebianLike()) && (await hasCommand('dpkg')) && (await hasCommand('apt-get'));
  if (!canFetch) throw new BrokerNotFoundError(notFoundMessage(tried));
  let fetched: FetchedBinary;
  try {
    // Both ways in have run `--version` and checked the minimum: the unpacked binary, or `usableFetched` under the lock.
    fetched = await fetchDebianNatsServer({ binDir: join(varDir, 'bin'), log, arch, have: () => usableFetched(varDir) });
  } catch (err) {
    throw new BrokerNotFoundError(notFoundMessage(tried, (err as Error).message), { cause: err });
  }
  log.info({ ...fetched, suite: DEBIAN_SOURCE.suite }, `nats-server ${fetched.version} from Debian ${DEBIAN_SOURCE.suite}`);
  return fetched.bin;
}
