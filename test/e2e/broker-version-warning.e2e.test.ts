import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let varDir: string;
let fake: Server;
const sockets = new Set<Socket>();

/** Just enough of a NATS server to be connected to: INFO with an old version, PONG to PING, nothing else. */
function fakeNats(version: string): Promise<Server> {
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    const info = { server_id: 'FAKE', server_name: 'fake', version, proto: 1, go: 'go1', host: '127.0.0.1', port: 0, headers: true, max_payload: 1 << 20, jetstream: true };
    s.write(`INFO ${JSON.stringify(info)}\r\n`);
    s.on('data', (d) => { if (/PING\r\n/.test(d.toString())) s.write('PONG\r\n'); });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-oldnats-'));
  fake = await fakeNats('2.10.27');
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => fake?.close(r));
  await rm(varDir, { recursive: true, force: true });
});

describe('an external broker (NATS_URL) older than 2.11', () => {
  it('is named in a warning at start with its version and the minimum', async () => {
    const url = `nats://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env: { ...process.env, PHASELINE_VAR: varDir, PHASELINE_HTTP_PORT: '0', PHASELINE_SIMULATOR: 'off', PHASELINE_LOG_LEVEL: 'warn', NATS_URL: url },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no warning within 60 s; stderr:\n${stderr}`)), 60_000);
      proc.stderr.on('data', (d) => {
        stderr += d;
        const hit = stderr.split('\n').find((l) => l.includes('older than 2.11'));
        if (hit) (clearTimeout(timer), resolve(hit));
      });
      proc.once('exit', (code) => (clearTimeout(timer), reject(new Error(`exited ${code}; stderr:\n${stderr}`))));
    }).finally(() => proc.kill('SIGKILL'));
    const entry = JSON.parse(line) as { level: number; msg: string; serverVersion: string };
    expect(entry.level).toBe(40);
    expect(entry.serverVersion).toBe('2.10.27');
    expect(entry.msg).toContain(`the NATS server at ${url} is nats-server 2.10.27, older than 2.11`);
  }, 90_000);
});
