import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../../src/broker/process.ts';
import { InstanceRunningError } from '../../src/errors.ts';
import { acquireInstanceLock, instanceSocketName, type InstanceLock } from '../../src/instance-lock.ts';

let root: string;
const held: InstanceLock[] = [];
const take = async (varDir: string, mode?: 'socket' | 'pidfile') => {
  const l = await acquireInstanceLock({ varDir, role: 'runtime', mode });
  held.push(l);
  return l;
};
const refusal = (varDir: string, mode?: 'socket' | 'pidfile') => acquireInstanceLock({ varDir, role: 'runtime', mode }).then(
  (l) => (held.push(l), null),
  (e: unknown) => e as InstanceRunningError,
);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'phaseline-lock-'));
});
afterAll(async () => {
  for (const l of held) await l.release();
  await rm(root, { recursive: true, force: true });
});

describe.runIf(process.platform === 'linux')('instance lock: abstract socket (Linux)', () => {
  it('refuses a second holder, naming the first by pid and addresses, and is free again once released', async () => {
    const varDir = join(root, 'a');
    const first = await take(varDir, 'socket');
    await first.update({ httpUrl: 'http://127.0.0.1:1234', natsUrl: 'nats://127.0.0.1:4321' });
    const err = await refusal(varDir, 'socket');
    expect(err).toBeInstanceOf(InstanceRunningError);
    expect(err!.code).toBe('ERR_INSTANCE_RUNNING');
    expect(err!.message).toContain(`pid ${process.pid}, http http://127.0.0.1:1234, nats nats://127.0.0.1:4321`);
    const about = JSON.parse(await readFile(join(varDir, 'run', 'phaseline.json'), 'utf8'));
    expect(about).toMatchObject({ pid: process.pid, role: 'runtime', lock: 'abstract-socket', httpUrl: 'http://127.0.0.1:1234' });
    await first.release();
    await expect(readFile(join(varDir, 'run', 'phaseline.json'))).rejects.toThrow(/ENOENT/);
    await (await take(varDir, 'socket')).release();
  });

  it('names one lock per real directory: a symlink to the state directory is the same one', async () => {
    const varDir = join(root, 'real');
    await take(varDir, 'socket');
    await symlink(varDir, join(root, 'link'));
    expect(await instanceSocketName(join(root, 'link'))).toBe(await instanceSocketName(varDir));
    expect(await refusal(join(root, 'link'), 'socket')).toBeInstanceOf(InstanceRunningError);
  });

  it('is released by the kernel when its holder is killed with SIGKILL', async () => {
    const varDir = join(root, 'killed');
    const lockUrl = new URL('../../src/instance-lock.ts', import.meta.url).href;
    const script = join(root, 'holder.mts');
    await writeFile(script, `import { acquireInstanceLock } from ${JSON.stringify(lockUrl)};\n` +
      `await acquireInstanceLock({ varDir: ${JSON.stringify(varDir)}, role: 'runtime', mode: 'socket' });\n` +
      `process.stdout.write('held\\n');\nsetInterval(() => {}, 1000);\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    expect((await refusal(varDir, 'socket'))?.message).toContain(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = await take(varDir, 'socket');
    expect(lock.info.pid).toBe(process.pid);
  }, 30_000);
});

describe('instance lock: pidfile with the process start time (elsewhere)', () => {
  it('refuses a second holder while the first lives, and is free again once released', async () => {
    const varDir = join(root, 'p');
    const first = await take(varDir, 'pidfile');
    expect((await refusal(varDir, 'pidfile'))?.message).toContain(`pid ${process.pid}`);
    await first.release();
    await take(varDir, 'pidfile');
  });

  it('takes over the pidfile of a dead process, and of a live pid whose start time differs (a recycled pid)', async () => {
    const varDir = join(root, 'stale');
    await take(varDir, 'socket').then((l) => l.release()); // makes run/
    const file = join(varDir, 'run', 'phaseline.lock');
    await writeFile(file, JSON.stringify({ pid: 2 ** 22 + 17, processStart: '1' }));
    await (await take(varDir, 'pidfile')).release();
    await writeFile(file, JSON.stringify({ pid: process.pid, processStart: `${await processStartTime(process.pid)}0` }));
    const lock = await take(varDir, 'pidfile');
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, processStart: await processStartTime(process.pid) });
    await lock.release();
  });
});
