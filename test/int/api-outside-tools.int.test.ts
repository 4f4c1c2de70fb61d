import { execFile, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActorPort } from '../../src/http/routes/actor-port.ts';
import { ERRORS, type ErrorCode } from '../../src/errors.ts';
import { REJECTIONS, type RejectionClass } from '../../src/rejections.ts';
import { buildApp, type PhaselineApp } from '../../src/http/app.ts';
import { SessionStore } from '../../src/http/auth/sessions.ts';
import { alarmRoutes } from '../../src/http/routes/alarms.routes.ts';
import { auditDispositionRoutes } from '../../src/http/routes/audit-disposition.routes.ts';
import { exceptionRoutes } from '../../src/http/routes/exceptions.routes.ts';
import { registerMachineRoutes } from '../../src/http/routes/machines.routes.ts';
import { phaseRoutes } from '../../src/http/routes/phases.routes.ts';
import { recordRoutes } from '../../src/http/routes/records.routes.ts';
import { unitRoutes } from '../../src/http/routes/units.routes.ts';
import { METRICS, Metrics, type MetricDef } from '../../src/metrics.ts';
import * as h from '../helpers/http-app.ts';
import { describeWithTools, findTool, probeTool } from '../helpers/tools.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** Redocly CLI of the devDependencies (REDOCLY_BIN overrides). */
const redocly = probeTool(
  findTool('redocly', [join(ROOT, 'node_modules/.bin/redocly')], process.env.REDOCLY_BIN, 'npm ci (devDependency @redocly/cli)'),
  ['--version'],
);
/** promtool from Debian's `prometheus` package (PROMTOOL_BIN overrides); `.ci/run` installs it. */
const promtool = probeTool(
  findTool('promtool', ['promtool', '/usr/bin/promtool'], process.env.PROMTOOL_BIN, 'apt-get install --no-install-recommends prometheus'),
  ['--version'],
);

/** A port to no actors: every id is unknown (404), every list empty; routes need no more to be described. */
const noActors = (fx: h.HttpFixture): ActorPort => ({
  nc: fx.nc, timeoutMs: 1_000, clock: Date.now, send: async () => undefined,
  reader: { record: async () => undefined, view: async () => undefined, list: async () => ({ views: [] }) },
});

/** Every route module's register function, called as src/runtime/http.step.ts calls it (with ports that hold nothing). */
const REGISTER: Record<string, (app: PhaselineApp, fx: h.HttpFixture, metrics: Metrics) => Promise<void> | void> = {
  phaseRoutes: (app, fx) => phaseRoutes(app, noActors(fx)),
  unitRoutes: (app, fx) => unitRoutes(app, noActors(fx)),
  alarmRoutes: (app, fx) => alarmRoutes(app, noActors(fx)),
  exceptionRoutes: (app, fx) => exceptionRoutes(app, { port: noActors(fx), users: fx.users, config: fx.config, audit: () => undefined }),
  registerMachineRoutes: (app) => registerMachineRoutes(app),
  auditDispositionRoutes: async (app, fx) => auditDispositionRoutes(app, { jsm: await jetstreamManager(fx.nc), users: fx.users, publicKeys: () => ({}) as never, audit: async () => undefined }),
  recordRoutes: async (app, fx, metrics) => recordRoutes(app, {
    config: fx.config, jsm: await jetstreamManager(fx.nc), metrics, publicKeys: () => ({}) as never, sources: () => [], frames: async () => [],
  }),
};

let fx: h.HttpFixture;
let app: PhaselineApp;
let metrics: Metrics;
let dir: string;
let doc: OpenApi;

interface Operation { summary?: string; operationId?: string; security?: unknown[]; responses: Record<string, { content?: Record<string, { schema?: { required?: string[] } }> }> }
interface OpenApi { servers?: unknown[]; security?: unknown[]; paths: Record<string, Record<string, Operation>> }

beforeAll(async () => {
  fx = await h.startHttpFixture();
  metrics = new Metrics();
  app = await buildApp({
    config: fx.config, users: fx.users, metrics, idempotencyKv: fx.buckets.idempotency,
    sessions: new SessionStore({ kv: fx.buckets.sessions, security: fx.config.security }),
    audit: () => undefined, health: () => ({ nats: 'connected' }),
  });
  // As src/runtime/http.step.ts does: each module a plugin in its own encapsulated context.
  for (const register of Object.values(REGISTER)) await app.register(async (child) => register(child as PhaselineApp, fx, metrics));
  await app.ready();
  dir = await mkdtemp(join(tmpdir(), 'phaseline-api-tools-'));
  doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as OpenApi;
});
afterAll(async () => {
  await app?.close();
  await fx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const operations = () => Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method, op, name: `${method.toUpperCase()} ${path}` })));

describe('the OpenAPI document (GET /api/v1/openapi.json)', () => {
  it('describes every route module the runtime registers (a new module must be added here)', async () => {
    const modules = readdirSync(join(ROOT, 'src/http/routes')).filter((f) => f.endsWith('.routes.ts'));
    const exported: string[] = [];
    for (const file of modules) {
      const mod = (await import(join(ROOT, 'src/http/routes', file))) as Record<string, unknown>;
      exported.push(...Object.entries(mod).filter(([k, v]) => typeof v === 'function' && /Routes$/.test(k)).map(([k]) => k));
    }
    // registerAuthRoutes is registered by buildApp itself.
    expect(exported.filter((k) => k !== 'registerAuthRoutes').sort()).toEqual(Object.keys(REGISTER).sort());
  });

  it('gives every operation a summary, a unique operationId and at least one 4xx answer', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(40);
    expect(ops.filter((o) => !o.op.summary).map((o) => o.name)).toEqual([]);
    expect(ops.filter((o) => !o.op.operationId).map((o) => o.name)).toEqual([]);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const without4xx = ops.filter((o) => !Object.keys(o.op.responses).some((s) => /^4/.test(s))).map((o) => o.name);
    // Nothing a client sends can make these two fail: no parameters, no body, no session.
    expect(without4xx.sort()).toEqual(['GET /api/v1/health', 'GET /metrics']);
  });

  it('declares 401 on every operation behind a session and the error body { error, message } on every error', () => {
    const secured = operations().filter((o) => (o.op.security ?? doc.security ?? []).length > 0);
    expect(secured.length).toBeGreaterThan(40);
    expect(secured.filter((o) => !o.op.responses['401']).map((o) => o.name)).toEqual([]);
    for (const o of operations()) {
      for (const [status, response] of Object.entries(o.op.responses).filter(([s]) => /^[45]/.test(s))) {
        expect(response.content?.['application/json']?.schema?.required, `${o.name} ${status}`).toEqual(['error', 'message']);
      }
    }
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('documents the status of every client rejection an actor answers with, on that actor\'s write routes (src/rejections.ts)', () => {
    const routesOf: Record<string, string> = { phase: '/api/v1/phases/', unit: '/api/v1/units/', alarm: '/api/v1/alarms/', exception: '/api/v1/exceptions' };
    for (const [type, prefix] of Object.entries(routesOf)) {
      const writes = operations().filter((o) => o.name.startsWith(`POST ${prefix}`));
      expect(writes.length, type).toBeGreaterThan(0);
      const documented = new Set(writes.flatMap((o) => Object.keys(o.op.responses)).map(Number));
      const statuses = new Set(Object.values(REJECTIONS[type as keyof typeof REJECTIONS] as Record<string, RejectionClass>)
        .filter((c): c is ErrorCode => c !== 'internal').map((c) => ERRORS[c].status));
      expect([...statuses].filter((st) => !documented.has(st)), type).toEqual([]);
    }
  });

  it('documents every status the routes answer, for no session and for each demo role, with an empty body', async () => {
    const undocumented: string[] = [];
    const tokens: Record<string, string> = { '(no session)': '' };
    for (const user of ['operator', 'supervisor', 'qa', 'engineer', 'admin', 'mes']) {
      tokens[user] = (await h.bearer(fx, app, user)).authorization;
    }
    for (const o of operations()) {
      const url = o.path.replace(/\{[^}]+\}/g, 'X1');
      for (const [who, authorization] of Object.entries(tokens)) {
        const res = await app.inject({
          method: o.method.toUpperCase() as 'GET', url, headers: authorization ? { authorization } : {},
          ...(o.method === 'post' ? { payload: {} } : {}),
        });
        if (res.statusCode < 500 && !o.op.responses[String(res.statusCode)]) undocumented.push(`${o.name} as ${who}: ${res.statusCode}`);
      }
    }
    expect(undocumented).toEqual([]);
  });
});

describeWithTools('Redocly CLI lints the OpenAPI document with its recommended rules', [redocly], () => {
  /** Lints a document; answers Redocly's totals and problems (its JSON format). */
  const lint = async (document: unknown, file: string) => {
    const path = join(dir, file);
    await writeFile(path, JSON.stringify(document, null, 2));
    let stdout: string;
    try {
      ({ stdout } = await run(redocly.path!, ['lint', '--extends', 'recommended', '--format', 'json', '--max-problems', '1000', path], {
        timeout: 120_000, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      }));
    } catch (err) {
      stdout = (err as { stdout?: string }).stdout ?? ''; // exit 1: errors found, reported on stdout as well
      if (!stdout.trim()) throw err;
    }
    return JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
    };
  };

  it('finds no error (warnings only where no 4xx can happen)', async () => {
    const result = await lint(doc, 'openapi.json');
    const errors = result.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(errors).toEqual([]);
    expect(result.totals.errors).toBe(0);
    expect(result.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`).sort()).toEqual([
      'operation-4xx-response #/paths/~1api~1v1~1health/get/responses',
      'operation-4xx-response #/paths/~1metrics/get/responses',
    ]);
  });

  it('reports an operation without a summary and an empty servers list as errors (the check can fail)', async () => {
    const broken = structuredClone(doc);
    broken.servers = [];
    delete broken.paths['/api/v1/phases']!.get!.summary;
    const result = await lint(broken, 'broken.json');
    expect(result.problems.filter((p) => p.severity === 'error').map((p) => p.ruleId).sort()).toEqual(['no-empty-servers', 'operation-summary']);
  });
});

/** Runs `promtool check metrics` on an exposition text; answers its exit code and everything it printed. */
function checkMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool.path!, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.trim() }));
    child.stdin.end(text);
  });
}

describeWithTools('promtool checks GET /metrics', [promtool], () => {
  it('reports nothing, on an answer that lists every product metric before its first use', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await checkMetrics(res.body)).toEqual({ code: 0, output: '' });
    for (const [name, def] of Object.entries(METRICS) as Array<[string, MetricDef]>) {
      expect(res.body).toContain(`# TYPE ${name} ${def.type}\n`);
      // Nothing in this app chains audit entries or ingests: those counters are there, at zero.
      if (def.type === 'counter' && def.labels.length === 0) expect(res.body).toMatch(new RegExp(`\n${name} \\d+\n`));
    }
    expect(res.body).toContain('\nphaseline_audit_entries_total 0\n');
    expect(res.body).toContain('\nphaseline_auth_logins_total{result="failed"} 0\n');
    expect(res.body).toContain('# TYPE phaseline_edge_bad_items_total counter\n'); // the README's name
  });

  it('reports nothing once requests have counted', async () => {
    await h.login(fx, app, 'operator');
    await h.login(fx, app, 'operator', 'wrong password');
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toContain('\nphaseline_auth_logins_total{result="failed"} 1\n');
    expect(await checkMetrics(body)).toEqual({ code: 0, output: '' });
  });

  it('reports nothing with a sample in every family, odd label values and odd numbers included', async () => {
    const m = new Metrics();
    let i = 0;
    for (const [name, def] of Object.entries(METRICS) as Array<[string, MetricDef]>) {
      const labels = Object.fromEntries(def.labels.map((l) => [l, `v"\\${l}\n${i}`]));
      const values = [0, 0.5, 1e21, 3e-7, Number.NaN, Infinity];
      if (def.type === 'counter') m.inc(name, labels, values[i % 4]!);
      else m.set(name, labels, [...values, -Infinity, -2.5][i % 8]!);
      i++;
    }
    expect(await checkMetrics(m.render())).toEqual({ code: 0, output: '' });
  });

  it('reports a counter without _total and a gauge in milliseconds (the check can fail)', async () => {
    const m = new Metrics({});
    m.inc('phaseline_widgets', {}, 1, 'widgets');
    m.set('phaseline_widget_age_ms', {}, 5, 'age');
    const { code, output } = await checkMetrics(m.render());
    expect(code).not.toBe(0);
    expect(output).toMatch(/phaseline_widgets counter metrics should have "_total" suffix/);
    expect(output).toMatch(/phaseline_widget_age_ms metric names should not contain abbreviated units/);
  });
});
