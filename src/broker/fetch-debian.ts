import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../log.ts';
import { isAlive } from './process.ts';
import { isSupportedNatsVersion, MIN_NATS_VERSION_TEXT, parseNatsVersion } from './version.ts';
import { PhaselineError } from '../errors.ts';

const run = promisify(execFile);

/**
 * Where the embedded default nats-server comes from: the Debian testing suite `forky` (2.15.1 on 2026-12-02,
 * FACTS.md). The suite is pinned, not the file: testing moves, so a pinned .deb would vanish from the mirror; apt
 * checks what it downloads against the suite's InRelease, signed by a key in `keyring` (Signed-By), which is the trust
 * anchor. The codename rather than `testing`, so that the release this follows does not jump when forky is released.
 */
export const DEBIAN_SOURCE = {
  suite: 'forky',
  mirror: 'http://deb.debian.org/debian',
  keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
  package: 'nats-server',
} as const;

/** What `<binDir>/nats-server-<version>/fetched.json` records about a fetched binary (provenance, for people). */
export interface FetchedRecord {
  package: string;
  debVersion: string;
  version: string;
  suite: string;
  mirror: string;
  file: string;
  /** SHA-256 of the .deb as apt delivered it (apt verified it against the signed index before). */
  sha256: string;
  size: number;
  fetchedAt: string;
  verifiedBy: string;
}

const LOCK_STALE_MS = 15 * 60_000;
const LOCK_WAIT_MS = 15 * 60_000;

/** A usable nats-server binary and its `x.y.z`. */
export interface FetchedBinary {
  bin: string;
  version: string;
}

/** Options of {@link fetchDebianNatsServer}; `have` finds an already fetched usable binary (checked under the lock). */
export interface FetchOptions {
  binDir: string;
  log: Logger;
  arch: string;
  have: () => Promise<FetchedBinary | null>;
}

/** The directory a fetched nats-server of upstream version `version` lives in. */
export const fetchedDir = (binDir: string, version: string): string => join(binDir, `nats-server-${version}`);

/** The Debian architecture of this Node process, or null where Debian ships no nats-server for it. */
export function debianArch(arch: string = process.arch): string | null {
  return ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[arch] ?? null;
}

/** Takes an O_EXCL lock file; returns the binary instead when another process fetched one meanwhile. */
async function acquire(lock: string, have: FetchOptions['have'], log: Logger): Promise<FetchedBinary | null> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }));
      await fh.close();
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const found = await have();
    if (found) return found;
    const holder = await readFile(lock, 'utf8').then((t) => JSON.parse(t) as { pid: number; at: number }, () => null);
    if (holder && (!isAlive(holder.pid) || Date.now() - holder.at > LOCK_STALE_MS)) {
      // A crashed fetcher: a racing second remover is harmless, each fetch works in its own temp dir.
      log.warn({ lock, holder }, 'removing a stale nats-server fetch lock');
      await rm(lock, { force: true });
      continue;
    }
    if (!told) (told = true, log.info({ lock, holder }, 'waiting for another process that is fetching nats-server'));
    if (Date.now() > deadline) throw new PhaselineError('ERR_BROKER_FETCH', `timed out waiting for the fetch lock ${lock}`, { lock });
    await sleep(250);
  }
}

/** `apt-get download` of the suite's package with private sources, lists and caches: the system's apt state is untouched. */
async function aptDownload(dir: string, arch: string): Promise<void> {
  await mkdir(join(dir, 'lists', 'partial'), { recursive: true });
  await mkdir(join(dir, 'sources'), { recursive: true });
  await mkdir(join(dir, 'archives', 'partial'), { recursive: true });
  await writeFile(
    join(dir, 'sources', `${DEBIAN_SOURCE.suite}.sources`),
    `Types: deb\nURIs: ${DEBIAN_SOURCE.mirror}\nSuites: ${DEBIAN_SOURCE.suite}\nComponents: main\n` +
      `Signed-By: ${DEBIAN_SOURCE.keyring}\n`,
  );
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  const opts = [
    '-q',
    ...o('Dir::Etc::SourceParts', join(dir, 'sources')),
    ...o('Dir::Etc::SourceList', '/dev/null'),
    ...o('Dir::State::Lists', join(dir, 'lists')),
    ...o('Dir::Cache', join(dir, 'cache')),
    ...o('Dir::Cache::Archives', join(dir, 'archives')),
    ...o('Dir::Cache::pkgcache', ''),
    ...o('Dir::Cache::srcpkgcache', ''),
    ...o('Debug::NoLocking', '1'),
    ...o('APT::Architecture', arch),
  ];
  const big = { maxBuffer: 16 << 20, timeout: 10 * 60_000 };
  await run('apt-get', [...opts, 'update'], big);
  // `pkg/suite`: the suite's own version, whatever the system has installed or pinned.
  await run('apt-get', [...opts, 'download', `${DEBIAN_SOURCE.package}/${DEBIAN_SOURCE.suite}`], { ...big, cwd: dir });
}

/** Downloads and unpacks the .deb into `tmp/x`; returns the binary, its record and its version (checked ≥ minimum). */
async function downloadAndUnpack(tmp: string, arch: string): Promise<{ binary: string; record: FetchedRecord }> {
  try {
    await aptDownload(tmp, arch);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new PhaselineError('ERR_BROKER_FETCH', `apt-get download: ${(e.stderr?.trim().split('\n').slice(-2).join(' ') || e.message).slice(0, 400)}`, {}, { cause: err });
  }
  const file = (await readdir(tmp)).find((f) => /^nats-server_.*\.deb$/.test(f));
  if (!file) throw new PhaselineError('ERR_BROKER_FETCH', 'apt-get download wrote no nats-server .deb');
  const deb = join(tmp, file);
  const bytes = await readFile(deb);
  const { stdout } = await run('dpkg-deb', ['-f', deb, 'Version'], { timeout: 30_000 });
  const debVersion = stdout.trim();
  await run('dpkg', ['-x', deb, join(tmp, 'x')], { timeout: 60_000 });
  const binary = join(tmp, 'x', 'usr', 'sbin', 'nats-server');
  const { stdout: out, stderr } = await run(binary, ['--version'], { timeout: 10_000 });
  const v = parseNatsVersion(`${out}\n${stderr}`);
  if (!v || !isSupportedNatsVersion(v)) {
    throw new PhaselineError('ERR_BROKER_FETCH', `${file} from ${DEBIAN_SOURCE.suite} holds nats-server ${v?.join('.') ?? '(unknown)'}, older than ${MIN_NATS_VERSION_TEXT}`, { file });
  }
  const record: FetchedRecord = {
    package: DEBIAN_SOURCE.package, debVersion, version: v.join('.'), suite: DEBIAN_SOURCE.suite,
    mirror: DEBIAN_SOURCE.mirror, file, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length,
    fetchedAt: new Date().toISOString(),
    verifiedBy: `apt: the suite's InRelease signed by a key in ${DEBIAN_SOURCE.keyring}, the .deb checked against its Packages index`,
  };
  return { binary, record };
}

/**
 * Fetches nats-server from Debian {@link DEBIAN_SOURCE} into `<binDir>/nats-server-<version>/` (apt-verified, `dpkg -x`,
 * the .deb's SHA-256 in `fetched.json` and the log, the binary renamed into place last, mode 755), holding a lock file
 * in `binDir` so that parallel processes fetch it once; returns the binary and its version (checked ≥ the minimum).
 */
export async function fetchDebianNatsServer(opts: FetchOptions): Promise<FetchedBinary> {
  const { binDir, log, arch, have } = opts;
  await mkdir(binDir, { recursive: true });
  const lock = join(binDir, '.fetch.lock');
  const already = await acquire(lock, have, log);
  if (already) return already;
  try {
    const found = await have();
    if (found) return found;
    log.info({ suite: DEBIAN_SOURCE.suite, binDir }, `fetching nats-server from Debian ${DEBIAN_SOURCE.suite} (one time)`);
    // The temp dir sits next to the target so that the final rename stays on one filesystem (atomic).
    const tmp = await mkdtemp(join(binDir, '.fetch-'));
    try {
      const { binary, record } = await downloadAndUnpack(tmp, arch);
      const dir = fetchedDir(binDir, record.version);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'fetched.json'), JSON.stringify(record, null, 2) + '\n');
      const target = join(dir, 'nats-server');
      await chmod(binary, 0o755);
      await rename(binary, target);
      log.info({ bin: target, ...record }, 'nats-server fetched');
      return { bin: target, version: record.version };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } finally {
    await rm(lock, { force: true });
  }
}
