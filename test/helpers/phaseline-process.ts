import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childControls } from './child.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface PhaselineProcess {
  httpUrl: string;
  natsUrl: string;
  proc: ChildProcess;
  stdout: () => string;
  /** Everything the process wrote on stderr (its pino log lines), up to 64 MB. */
  stderr: () => string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, like a power cut of the runtime process (its nats-server child lives on and is adopted next start). */
  kill(): Promise<void>;
  token(username: string): Promise<string>;
  /**
   * Connection options of a user of the runtime's embedded broker (src/broker/credentials.ts): `runtime` has every
   * right (a test that plays several edges or reads the runtime's streams), a source id gets that edge's permissions.
   */
  natsUser(who: 'runtime' | (string & {})): Promise<{ user: string; pass: string; inboxPrefix?: string }>;
  api<T = any>(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: T }>;
}

/** Starts the real program the way `npm start` does, in its own state dir, and waits for the ready line. */
export async function startPhaseline(varDir: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<PhaselineProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PHASELINE_VAR: varDir, PHASELINE_HTTP_PORT: '0', PHASELINE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let log = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => {
    err = (err + d).slice(-20_000);
    if (log.length < 64 * 2 ** 20) log += d;
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const ready = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    const check = () => {
      const m = out.match(/^phaseline ready http=(\S+) nats=(\S+)$/m);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code} before ready; stderr:\n${err}`)); });
  });
  const httpUrl = ready[1]!;
  const api: PhaselineProcess['api'] = async (method, path, opts = {}) => {
    const res = await fetch(httpUrl + path, {
      method,
      headers: {
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...opts.headers,
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* text answer (metrics) */
    }
    return { status: res.status, body };
  };
  return {
    httpUrl,
    natsUrl: ready[2]!,
    proc,
    stdout: () => out,
    stderr: () => log,
    api,
    ...childControls(proc, exited),
    async natsUser(who) {
      const users = JSON.parse(await readFile(join(varDir, 'nats', 'users.json'), 'utf8')) as { user: string; password: string; role: string; source?: string }[];
      const u = users.find((x) => (who === 'runtime' ? x.role === 'runtime' : x.source === who));
      if (!u) throw new Error(`no NATS user ${who} in ${varDir}/nats/users.json`);
      return { user: u.user, pass: u.password, ...(u.role === 'edge' ? { inboxPrefix: `_INBOX.edge.${u.user.slice('edge-'.length)}` } : {}) };
    },
    async token(username) {
      const creds = JSON.parse(await readFile(join(varDir, 'demo', 'credentials.json'), 'utf8')) as { username: string; password: string }[];
      const password = creds.find((c) => c.username === username)!.password;
      const r = await api('POST', '/api/v1/auth/login', { body: { username, password } });
      if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.token as string;
    },
  };
}

/** Polls until `f` returns a truthy value. */
export async function eventually<T>(f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
