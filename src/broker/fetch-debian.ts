import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../log.ts';
import { isAlive } from './process.ts';

const run = promisify(execFile);

/** The Debian trixie build of nats-server that is fetched when none is installed (FACTS.md, "NATS server"). */
export const PINNED = {
  version: '2.10.27',
  debVersion: '2.10.27-1+b2',
  file: 'nats-server_2.10.27-1+b2_amd64.deb',
  sha256: '6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a',
  mirror: 'http://deb.debian.org/debian',
} as const;

const LOCK_STALE_MS = 15 * 60_000;
const LOCK_WAIT_MS = 15 * 60_000;

/** Options of {@link fetchPinnedNatsServer}. */
export interface FetchOptions {
  target: string;
  binDir: string;
  log: Logger;
  useApt: boolean;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** Takes an O_EXCL lock file; returns false when another live process holds it and the target appeared meanwhile. */
async function acquire(lock: string, target: string, log: Logger): Promise<boolean> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }));
      await fh.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await exists(target)) return false;
    const holder = await readFile(lock, 'utf8').then((t) => JSON.parse(t) as { pid: number; at: number }, () => null);
    if (holder && (!isAlive(holder.pid) || Date.now() - holder.at > LOCK_STALE_MS)) {
      // A crashed fetcher: a racing second remover is harmless, each fetch works in its own temp dir.
      log.warn({ lock, holder }, 'removing a stale nats-server fetch lock');
      await rm(lock, { force: true });
      continue;
    }
    if (!told) (told = true, log.info({ lock, holder }, 'waiting for another process that is fetching nats-server'));
    if (Date.now() > deadline) throw new Error(`timed out waiting for the fetch lock ${lock}`);
    await sleep(250);
  }
}

async function aptDownload(dir: string): Promise<void> {
  await mkdir(join(dir, 'lists', 'partial'), { recursive: true });
  await mkdir(join(dir, 'sources'), { recursive: true });
  await mkdir(join(dir, 'archives', 'partial'), { recursive: true });
  await writeFile(
    join(dir, 'sources', 'trixie.sources'),
    `Types: deb\nURIs: ${PINNED.mirror}\nSuites: trixie\nComponents: main\n` +
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
  // Private sources, lists and caches (no pkgcache.bin): the system's apt state is never read for writing.
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
    ...o('APT::Architecture', 'amd64'),
  ];
  const big = { maxBuffer: 16 << 20, timeout: 10 * 60_000 };
  await run('apt-get', [...opts, 'update'], big);
  await run('apt-get', [...opts, 'download', `nats-server=${PINNED.debVersion}`], { ...big, cwd: dir });
}

async function httpDownload(dir: string): Promise<void> {
  const url = `${PINNED.mirror}/pool/main/n/nats-server/${PINNED.file}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10 * 60_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  await writeFile(join(dir, PINNED.file), Buffer.from(await res.arrayBuffer()));
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Downloads the .deb (apt first, the pool URL second), checks its SHA-256 and returns its path. */
async function download(dir: string, useApt: boolean, log: Logger): Promise<string> {
  const problems: string[] = [];
  for (const [how, fn] of [
    ['apt-get download', useApt ? aptDownload : null],
    ['HTTP', httpDownload],
  ] as const) {
    if (!fn) continue;
    try {
      await fn(dir);
      const deb = (await readdir(dir)).find((f) => /^nats-server_.*\.deb$/.test(f));
      if (!deb) throw new Error('no .deb was written');
      const sum = await sha256(join(dir, deb));
      if (sum !== PINNED.sha256) throw new Error(`${deb} has SHA-256 ${sum}, expected ${PINNED.sha256}`);
      return join(dir, deb);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      const msg = `${how}: ${(e.stderr?.trim().split('\n').slice(-2).join(' ') || e.message).slice(0, 400)}`;
      log.warn({ err: msg }, 'fetching nats-server failed');
      problems.push(msg);
      await rm(join(dir, PINNED.file), { force: true });
    }
  }
  throw new Error(problems.join('; '));
}

/**
 * Fetches the pinned Debian trixie nats-server into `target` (SHA-256 checked, `dpkg -x`, atomic rename, mode 755),
 * holding a lock file in `binDir` so that parallel processes fetch it once.
 */
export async function fetchPinnedNatsServer(opts: FetchOptions): Promise<void> {
  const { target, binDir, log, useApt } = opts;
  await mkdir(binDir, { recursive: true });
  const lock = join(binDir, '.fetch.lock');
  if (!(await acquire(lock, target, log))) return;
  try {
    if (await exists(target)) return;
    log.info({ target, deb: PINNED.file }, 'fetching nats-server from Debian trixie (one time)');
    // The temp dir sits next to the target so that the final rename stays on one filesystem (atomic).
    const tmp = await mkdtemp(join(binDir, '.fetch-'));
    try {
      const deb = await download(tmp, useApt, log);
      await run('dpkg', ['-x', deb, join(tmp, 'x')], { timeout: 60_000 });
      await mkdir(dirname(target), { recursive: true });
      const staged = `${target}.tmp-${process.pid}`;
      await rename(join(tmp, 'x', 'usr', 'sbin', 'nats-server'), staged);
      await chmod(staged, 0o755);
      await rename(staged, target);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } finally {
    await rm(lock, { force: true });
  }
}
