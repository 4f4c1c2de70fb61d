import { execFile, spawn } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/broker/connect.ts';
import { isRunning, processStartTime } from '../../src/broker/process.ts';
import { isSupportedNatsVersion, natsServerVersion, parseNatsVersion, resolveNatsServer } from '../../src/broker/resolve.ts';
import { startNatsServer, type NatsServerHandle, type StartNatsOptions } from '../../src/broker/server.ts';
import { BrokerNotFoundError, BrokerStartError } from '../../src/errors.ts';
import { logger } from '../../src/log.ts';
import { REPO_VAR_DIR, startTestNats, testNatsServerBin } from '../helpers/nats.ts';

const run = promisify(execFile);
const log = logger('broker-test');
const exists = (p: string) => access(p).then(() => true, () => false);

let bin: string;
let root: string;
const handles: NatsServerHandle[] = [];

/** Pids of live nats-server processes started with this run dir's config file (Linux /proc). */
async function serversOn(runDir: string): Promise<number[]> {
  const conf = join(runDir, 'nats-server.conf');
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(conf) && !/^\d+ \(.*\) Z/.test(stat)) pids.push(Number(e));
  }
  return pids;
}

async function dirs(name: string) {
  const dir = join(root, name);
  return { bin, storeDir: join(dir, 'store'), runDir: join(dir, 'run'), log };
}

async function start(opts: Awaited<ReturnType<typeof dirs>> & Pick<StartNatsOptions, 'users'>): Promise<NatsServerHandle> {
  const h = await startNatsServer(opts);
  handles.push(h);
  return h;
}

beforeAll(async () => {
  bin = await testNatsServerBin();
  root = await mkdtemp(join(tmpdir(), 'phaseline-broker-'));
});
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('resolveNatsServer', () => {
  it('resolves a nats-server of version 2.11 or newer', async () => {
    const resolved = await resolveNatsServer({ varDir: REPO_VAR_DIR, log });
    expect(isSupportedNatsVersion(parseNatsVersion(await natsServerVersion(resolved))!)).toBe(true);
  });

  it('takes the newest usable one under var/bin/, checking the binary\'s own version rather than its directory name', async () => {
    const varDir = join(root, 'resolve-var');
    const real = await natsServerVersion(bin);
    const fake = async (dirVersion: string, prints: string) => {
      await mkdir(join(varDir, 'bin', `nats-server-${dirVersion}`), { recursive: true });
      const f = join(varDir, 'bin', `nats-server-${dirVersion}`, 'nats-server');
      await writeFile(f, `#!/bin/sh\necho "nats-server: v${prints}"\n`);
      await chmod(f, 0o755);
    };
    await fake('2.10.27', '2.10.27');
    await fake('99.0.0', '2.9.0'); // a directory that lies about its binary
    await mkdir(join(varDir, 'bin', `nats-server-${real}`), { recursive: true });
    await symlink(bin, join(varDir, 'bin', `nats-server-${real}`, 'nats-server'));
    const resolved = await resolveNatsServer({ varDir, log });
    expect(isSupportedNatsVersion(parseNatsVersion(await natsServerVersion(resolved))!)).toBe(true);
    // A usable nats-server on PATH comes first; this machine's PATH (Debian bookworm) has only 2.9.10.
    if (resolved.startsWith(varDir)) expect(resolved).toBe(join(varDir, 'bin', `nats-server-${real}`, 'nats-server'));
  });

  it('refuses a NATS_SERVER_BIN that does not exist, saying how to install one', async () => {
    const err = await resolveNatsServer({ bin: '/nonexistent/nats-server', varDir: root, log }).catch((e) => e);
    expect(err).toBeInstanceOf(BrokerNotFoundError);
    expect(err.code).toBe('ERR_BROKER_NOT_FOUND');
    expect(err.message).toMatch(/NATS_SERVER_BIN=\/nonexistent\/nats-server does not exist/);
    expect(err.message).toMatch(/2\.11 or newer/);
  });
});

describe('startNatsServer', () => {
  it('writes pidfile, ports file and a sync_interval: always config, serves JetStream, and stop() leaves nothing', async () => {
    const opts = await dirs('basic');
    const h = await start(opts);
    expect(h.adopted).toBe(false);
    expect(h.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const pidfile = JSON.parse(await readFile(join(opts.runDir, 'nats-server.pid'), 'utf8'));
    expect(pidfile).toEqual({
      pid: h.pid, url: h.url, storeDir: opts.storeDir, bin, confHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      owner: { pid: process.pid, processStart: await processStartTime(process.pid) },
    });
    const ports = JSON.parse(await readFile(join(opts.runDir, `nats-server_${h.pid}.ports`), 'utf8'));
    expect(ports.nats[0]).toBe(h.url);
    const conf = join(opts.runDir, 'nats-server.conf');
    expect(await readFile(conf, 'utf8')).toMatch(/^\s*sync_interval: always$/m);
    await expect(run(bin, ['-t', '-c', conf])).resolves.toBeTruthy(); // the binary accepts the option

    const nc = await connectNats(h.url, { name: 'broker-test', highRate: true });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
      const ack = await jetstream(nc).publish('t.1', 'x');
      expect(ack).toMatchObject({ stream: 'T', seq: 1 });
      expect((await jsm.getAccountInfo()).streams).toBe(1);
    } finally {
      await nc.close();
    }

    await h.stop();
    expect(await isRunning(h.pid)).toBe(false);
    expect(await serversOn(opts.runDir)).toEqual([]);
    expect(await exists(join(opts.runDir, 'nats-server.pid'))).toBe(false);
    expect(await exists(join(opts.runDir, `nats-server_${h.pid}.ports`))).toBe(false);
  });

  it('adopts the server a dropped handle left running instead of starting a second one on the same store', async () => {
    const opts = await dirs('dropped');
    const first = await startNatsServer(opts); // the handle is dropped: nobody stops it
    const second = await start(opts);
    expect(second).toMatchObject({ adopted: true, pid: first.pid, url: first.url });
    expect(await serversOn(opts.runDir)).toEqual([first.pid]);
    await second.stop();
    expect(await serversOn(opts.runDir)).toEqual([]);
  });

  it('does not adopt a leftover server whose users or TLS differ: it is replaced by one with the new config', async () => {
    const opts = await dirs('reconfigured');
    const open = await startNatsServer(opts); // handle dropped, no users
    const users = [{ user: 'u', password: 'p' }];
    const secured = await start({ ...opts, users });
    expect(secured.adopted).toBe(false);
    expect(await isRunning(open.pid)).toBe(false);
    expect(await serversOn(opts.runDir)).toEqual([secured.pid]);
    await expect(connectNats(secured.url, { name: 'anon' })).rejects.toThrow(/auth/i);
    expect(await start({ ...opts, users })).toMatchObject({ adopted: true, pid: secured.pid }); // same config: adopted
  });

  it('adopts the server of a parent that was SIGKILLed, and the server survived its parent; not while the parent lives', async () => {
    const opts = await dirs('crashed');
    const script = join(root, 'parent.mts');
    const serverUrl = new URL('../../src/broker/server.ts', import.meta.url).href;
    const logUrl = new URL('../../src/log.ts', import.meta.url).href;
    await writeFile(
      script,
      `import { startNatsServer } from ${JSON.stringify(serverUrl)};\n` +
        `import { logger } from ${JSON.stringify(logUrl)};\n` +
        `const h = await startNatsServer({ ...${JSON.stringify({ ...opts, log: undefined })}, log: logger('parent') });\n` +
        `process.stdout.write(JSON.stringify({ pid: h.pid, url: h.url }) + '\\n');\n` +
        'setInterval(() => {}, 1000);\n',
    );
    const parent = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      parent.stdout.once('data', (d: Buffer) => resolve(d.toString()));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    const child = JSON.parse(line) as { pid: number; url: string };
    // While its owner lives, the server is not ours to adopt or stop (the instance lock normally prevents this).
    const refused = await startNatsServer(opts).catch((e) => e);
    expect(refused).toBeInstanceOf(BrokerStartError);
    expect(refused.message).toMatch(new RegExp(`belongs to the live process ${parent.pid}`));
    expect(await serversOn(opts.runDir)).toEqual([child.pid]);
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    expect(await isRunning(child.pid)).toBe(true);

    const h = await start(opts);
    expect(h).toMatchObject({ adopted: true, pid: child.pid, url: child.url });
    await h.stop();
    expect(await isRunning(child.pid)).toBe(false);
    expect(await serversOn(opts.runDir)).toEqual([]);
  });

  it('replaces a leftover server that runs on another store dir', async () => {
    const opts = await dirs('moved');
    const first = await startNatsServer(opts);
    const second = await start({ ...opts, storeDir: join(root, 'moved', 'store2') });
    expect(second.adopted).toBe(false);
    expect(second.pid).not.toBe(first.pid);
    expect(await isRunning(first.pid)).toBe(false);
    expect(await serversOn(opts.runDir)).toEqual([second.pid]);
  });

  it('fails with ERR_BROKER_START naming the path when the binary does not exist', async () => {
    const opts = await dirs('bogus');
    const err = await startNatsServer({ ...opts, bin: join(root, 'no-such-nats-server') }).catch((e) => e);
    expect(err).toBeInstanceOf(BrokerStartError);
    expect(err.code).toBe('ERR_BROKER_START');
    expect(err.message).toMatch(/no-such-nats-server.*ENOENT/);
  });

  it('fails with the server log in the error when the port is taken', async () => {
    const a = await start(await dirs('port-a'));
    const port = Number(new URL(a.url).port);
    const opts = await dirs('port-b');
    const err = await startNatsServer({ ...opts, port }).catch((e) => e);
    expect(err).toBeInstanceOf(BrokerStartError);
    expect(err.message).toMatch(/exited during start-up[\s\S]*address already in use/);
    expect(await serversOn(opts.runDir)).toEqual([]);
  });
});

describe('startTestNats', () => {
  it('restarts on the same port and store after a graceful stop and after SIGKILL', async () => {
    const nats = await startTestNats();
    try {
      const nc = await connectNats(nats.url, { name: 'restart-test' });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'R', subjects: ['r.>'] });
      await jetstream(nc).publish('r.1', 'a');
      // Requests made while disconnected fail in nats.js, so wait for the client to be back on the same url.
      const reconnected = async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return;
      };
      let back = reconnected();
      await nats.restart();
      await back;
      await jetstream(nc).publish('r.2', 'b');
      back = reconnected();
      nats.kill();
      await nats.restart();
      await back;
      expect((await jsm.streams.info('R')).state.messages).toBe(2);
      await nc.close();
    } finally {
      await nats.stop();
    }
    expect(await exists(nats.dir)).toBe(false);
  });
});
