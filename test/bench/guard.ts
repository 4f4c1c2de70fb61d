import { spawn } from 'node:child_process';

/**
 * Plain JavaScript run by a detached `node -e`: once the bench process is gone (also after a SIGKILL, e.g. tsx's
 * escalation when the bench's event loop is too busy to answer its SIGINT relay within 30 ms), it stops the private
 * nats-server (only if that pid still runs with the bench's config file) and removes the temp dir.
 */
const SCRIPT = `
const [parent, server, conf, dir] = process.argv.slice(1);
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const argsOf = (pid) => {
  try { return fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0'); } catch {}
  try { return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim().split(/\\s+/); } catch {}
  return [];
};
const ours = (pid) => alive(pid) && argsOf(pid).includes(conf);
const kill = (sig) => { if (ours(+server)) { try { process.kill(+server, sig); } catch {} } };
const poll = setInterval(() => {
  if (alive(+parent)) return;
  clearInterval(poll);
  kill('SIGTERM');
  const deadline = Date.now() + 10000;
  const wait = setInterval(() => {
    if (ours(+server) && Date.now() < deadline) return;
    clearInterval(wait);
    kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }, 50);
}, 200);
`;

/** Starts the guard for a bench run; it exits by itself shortly after the bench process does. */
export function guardServer(serverPid: number, conf: string, dir: string): void {
  const child = spawn(process.execPath, ['-e', SCRIPT, String(process.pid), String(serverPid), conf, dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}
