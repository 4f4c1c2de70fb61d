import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../nats/codec.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { isRunning } from '../../src/broker/process.ts';
import { startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let rt: PhaselineProcess;
let varDir: string;

/** Runs a second process on the same state directory the way `npm start` (or `cli.ts nats-server`) would. */
function second(entry: string[]): Promise<{ code: number | null; ms: number; stdout: string; stderr: string }> {
  const t0 = Date.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', ...entry], {
    cwd: ROOT,
    env: { ...process.env, PHASELINE_VAR: varDir, PHASELINE_HTTP_PORT: '0', PHASELINE_SIMULATOR: 'off', PHASELINE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => proc.once('exit', (code) => {
    clearTimeout(killer);
    resolve({ code, ms: Date.now() - t0, stdout, stderr });
  }));
}

const runFiles = async () => ({
  pidfile: await readFile(join(varDir, 'run', 'nats', 'nats-server.pid'), 'utf8'),
  conf: await readFile(join(varDir, 'run', 'nats', 'nats-server.conf'), 'utf8'),
  instance: await readFile(join(varDir, 'run', 'phaseline.json'), 'utf8'),
});

async function answers(p: PhaselineProcess): Promise<void> {
  expect((await p.api('GET', '/api/v1/health')).body).toMatchObject({ status: 'ok', nats: 'connected' });
  await p.token('operator');
  const nc = await connectNats(p.natsUrl, { name: 'lock-e2e', ...(await p.natsUser('line2')) });
  try {
    const msg = encode({ src: 'line2', epoch: 'lock-e2e', seq: 1, sent: Date.now(), samples: [{ tag: 'R201.TT01.PV', v: 21, q: 'good', ts: Date.now() }] });
    expect((await jetstream(nc).publish('tlm.line2', msg, { msgID: `line2:lock-e2e:${Date.now()}` })).stream).toBe('TELEMETRY');
  } finally {
    await nc.close();
  }
  const rtNc = await connectNats(p.natsUrl, { name: 'lock-e2e-rt', ...(await p.natsUser('runtime')) });
  try {
    expect((await (await jetstreamManager(rtNc)).streams.info('AUDIT')).config.name).toBe('AUDIT');
  } finally {
    await rtNc.close();
  }
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-lock-e2e-'));
  rt = await startPhaseline(varDir, { PHASELINE_SIMULATOR: 'off' });
}, 90_000);

afterAll(async () => {
  expect(await rt?.stop()).toBe(0);
  await rm(varDir, { recursive: true, force: true });
});

describe('one instance per state directory (DESIGN.md principle 15)', () => {
  it('a second start exits within 2 s with one stderr line naming the running one, and the first is undisturbed', async () => {
    const before = await runFiles();
    const broker = JSON.parse(before.pidfile) as { pid: number; owner: { pid: number } };
    expect(broker.owner.pid).toBe(rt.proc.pid);
    const r = await second([join(ROOT, 'src/main.ts')]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.ms, `exited after ${r.ms} ms`).toBeLessThan(2_000);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^phaseline: another Phaseline instance already runs on the state directory /);
    expect(lines[0]).toContain(`pid ${rt.proc.pid}, http ${rt.httpUrl}, nats ${rt.natsUrl}`);
    expect(r.stdout).toBe('');
    // Nothing of the first was touched: broker child, its pidfile and config, the instance file.
    expect(await runFiles()).toEqual(before);
    expect(await isRunning(broker.pid)).toBe(true);
    await answers(rt);
  }, 60_000);

  it('the foreground broker (cli.ts nats-server) is refused the same way while the runtime runs', async () => {
    const before = await runFiles();
    const r = await second([join(ROOT, 'src/cli.ts'), 'nats-server']);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr.trim()).toMatch(new RegExp(`^phaseline: ERR_INSTANCE_RUNNING: another Phaseline instance .*pid ${rt.proc.pid}, http ${rt.httpUrl}`));
    expect(await runFiles()).toEqual(before);
    await answers(rt);
  }, 60_000);

  it('after kill -9 of the first, a new start takes the state directory and adopts the orphaned broker', async () => {
    const broker = JSON.parse((await runFiles()).pidfile) as { pid: number };
    await rt.kill();
    expect(await isRunning(broker.pid)).toBe(true); // the child outlives its owner
    rt = await startPhaseline(varDir, { PHASELINE_SIMULATOR: 'off' });
    const now = await runFiles();
    expect(JSON.parse(now.pidfile)).toMatchObject({ pid: broker.pid, owner: { pid: rt.proc.pid } });
    expect(JSON.parse(now.instance)).toMatchObject({ pid: rt.proc.pid, httpUrl: rt.httpUrl, natsUrl: rt.natsUrl });
    await answers(rt);
  }, 120_000);
});
