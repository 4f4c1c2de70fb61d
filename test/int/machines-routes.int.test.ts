import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhaselineApp } from '../../src/http/app.ts';
import { registerMachineRoutes } from '../../src/http/routes/machines.routes.ts';
import * as h from '../helpers/http-app.ts';

let fx: h.HttpFixture;
let app: PhaselineApp;
let engineer: { authorization: string };

beforeAll(async () => {
  fx = await h.startHttpFixture();
  ({ app } = await h.testApp(fx, {}, registerMachineRoutes));
  engineer = await h.bearer(fx, app, 'engineer');
});
afterAll(async () => {
  await app?.close();
  await fx?.stop();
});

const get = (url: string, headers: Record<string, string> = engineer) => app.inject({ method: 'GET', url, headers });

describe('GET /api/v1/machines', () => {
  it('lists every machine with its version, state ids and transitions for an engineer', async () => {
    const res = await get('/api/v1/machines');
    expect(res.statusCode).toBe(200);
    const body = res.json() as Array<{ name: string; version: number; states: string[]; transitions: Array<Record<string, unknown>> }>;
    const phase = body.find((m) => m.name === 'phase')!;
    expect(phase.version).toBe(1);
    expect(phase.states).toHaveLength(12);
    expect(phase.transitions).toContainEqual({ source: 'Idle', event: 'START', target: 'Running' });
    expect(body.find((m) => m.name === 'unit')!.states).toContain('hygiene.Dirty');
  });

  it('refuses an operator with 403 forbidden and a missing token with 401', async () => {
    const operator = await h.bearer(fx, app, 'operator');
    const res = await get('/api/v1/machines', operator);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'forbidden' });
    expect((await get('/api/v1/machines', {})).statusCode).toBe(401);
  });
});

describe('GET /api/v1/machines/:name/diagram', () => {
  it('answers Mermaid by default', async () => {
    const res = await get('/api/v1/machines/phase/diagram');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/vnd\.mermaid/);
    expect(res.body).toContain('Idle --> Running : START');
  });

  it('answers SCXML and JSON in their media types', async () => {
    const scxml = await get('/api/v1/machines/unit/diagram?format=scxml');
    expect(scxml.statusCode).toBe(200);
    expect(scxml.headers['content-type']).toMatch(/^application\/scxml\+xml/);
    expect(scxml.body).toContain('<parallel id="unit"');
    const json = await get('/api/v1/machines/phase/diagram?format=json');
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.json()).toMatchObject({ name: 'phase', initial: 'Idle', states: expect.arrayContaining([expect.objectContaining({ id: 'Held' })]) });
  });

  it('lets qa read diagrams and refuses an operator', async () => {
    expect((await get('/api/v1/machines/phase/diagram', await h.bearer(fx, app, 'qa'))).statusCode).toBe(200);
    const res = await get('/api/v1/machines/phase/diagram', await h.bearer(fx, app, 'operator'));
    expect(res.statusCode).toBe(403);
  });

  it('answers 404 not_found for an unknown machine', async () => {
    const res = await get('/api/v1/machines/nope/diagram');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining('nope') });
  });

  it('answers SVG as image/svg+xml with every phase state drawn', async () => {
    const res = await get('/api/v1/machines/phase/diagram?format=svg');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
    expect(res.body.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(res.body).toContain('data-state="Held"');
    expect(res.body).toContain('>STATE_COMPLETE [and(isManual, fromMatches)]</text>');
  });

  it('answers 400 invalid_request for an unknown format, naming the format field', async () => {
    const bad = await get('/api/v1/machines/phase/diagram?format=png');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_request', fields: [expect.objectContaining({ path: 'format', in: 'querystring' })] });
    expect(bad.json().message).toContain('svg');
  });
});

describe('OpenAPI', () => {
  it('describes both machine routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const { paths } = res.json();
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/api/v1/machines', '/api/v1/machines/{name}/diagram']));
    const format = paths['/api/v1/machines/{name}/diagram'].get.parameters.find((p: { name: string }) => p.name === 'format');
    expect(format.schema.enum).toEqual(['mermaid', 'scxml', 'svg', 'json']);
  });
});
