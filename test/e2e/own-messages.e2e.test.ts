import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { ContextMessageSchema, type ContextMessage } from '../../nats/context.schema.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';
import { atLeast, brief, deadLetterCounts, logLines, storedDeadLetters } from '../helpers/product-health.ts';

// Issue 8 item 6 (DESIGN.md principle 9, CONTRACT.md §5): every message the product publishes passes the schema its
// consumer uses. The demo runs as `npm start` does (PLC simulator, OPC UA edge, demo MES on R101); the test adds what
// nothing in-process produces (an MES context and release on R201 over HTTP, line 2's alarm report as an external
// edge would send it, an operator's alarm acknowledgement) and then expects zero dead letters and no error line.

let rt: PhaselineProcess;
let varDir: string;
let nc: NatsConnection;
const seen = new Map<string, number>();
const contexts: { subject: string; message: ContextMessage }[] = [];
const invalidContexts: { subject: string; issues: string }[] = [];

/** The family of a subject as CONTRACT.md §5 names it, with the source or actor type: `cmd.sim`, `evt.phase`, … */
const family = (subject: string) => {
  const [head, second] = subject.split('.');
  return ['tlm', 'hb', 'alm', 'cmd', 'cmdres', 'evt', 'ctx', 'dlq'].includes(head!) ? `${head}.${second}` : head!;
};

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-own-'));
  rt = await startPhaseline(varDir);
  nc = await connectNats(rt.natsUrl, { name: 'own-messages-test', ...(await rt.natsUser('runtime')) });
  nc.subscribe('>', {
    callback: (_err, m) => {
      const f = family(m.subject);
      seen.set(f, (seen.get(f) ?? 0) + 1);
      if (!m.subject.startsWith('ctx.')) return;
      const r = ContextMessageSchema.safeParse(decode(m.data));
      if (r.success) contexts.push({ subject: m.subject, message: r.data });
      else invalidContexts.push({ subject: m.subject, issues: JSON.stringify(r.error.issues) });
    },
  });
}, 90_000);

afterAll(async () => {
  await nc?.close();
  expect(await rt?.stop()).toBe(0);
  await rm(varDir, { recursive: true, force: true });
});

describe('the product\'s own messages validate (no dead letters)', () => {
  it('publishes telemetry, heartbeats, context assertions and releases, commands, results, events, alarms and audit, and dead-letters none of them', async () => {
    const mes = await rt.token('mes');
    const op = await rt.token('operator');
    const qa = await rt.token('qa');
    expect((await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-OWN', specVersion: '1', seq: 1 } })).status).toBe(200);
    const line2 = await connectNats(rt.natsUrl, { name: 'own-messages-line2', ...(await rt.natsUser('line2')) });
    try {
      await jetstream(line2).publish('alm.line2', encode({
        src: 'line2', epoch: 'own', seq: 1, sent: Date.now(), events: [{ alarm: 'R201.TT01.HI', active: true, ts: Date.now(), value: 95 }],
      }), { msgID: 'line2:own:1' });
    } finally {
      await line2.close();
    }
    await eventually(async () => (await rt.api('GET', '/api/v1/alarms/R201.TT01.HI', { token: op })).body.state === 'Unacknowledged');
    expect((await rt.api('POST', '/api/v1/alarms/R201.TT01.HI/ack', { token: op, body: {} })).status).toBe(200);
    expect((await rt.api('POST', '/api/v1/units/R201/release', { token: mes, body: { batchId: 'B-OWN', reason: 'test batch ended' } })).status).toBe(200);

    // One of each kind, the demo's own R101 batch release among them (the edge's context follower reads that one).
    const kinds = ['tlm.sim', 'hb.sim', 'cmd.sim', 'cmdres.sim', 'cmd.line2', 'alm.line2', 'evt.phase', 'evt.unit', 'evt.alarm', 'evt.exception', 'audit'];
    const released = (unit: string) => contexts.some((c) => c.subject === `ctx.${unit}` && c.message.released === true);
    const asserted = (unit: string) => contexts.some((c) => c.subject === `ctx.${unit}` && c.message.released !== true);
    await eventually(() => kinds.every((k) => (seen.get(k) ?? 0) > 0) && asserted('R101') && released('R101') && asserted('R201') && released('R201'), 180_000, 500)
      .catch((err) => { throw new Error(`${err}: seen ${JSON.stringify(Object.fromEntries(seen))}, contexts ${JSON.stringify(contexts.map((c) => [c.subject, c.message.released === true]))}`); });
    expect(invalidContexts).toEqual([]);

    // The frame tracker consumed both releases: the batch frames are closed at them.
    for (const unit of ['R101', 'R201']) {
      await eventually(async () => {
        const frames = (await rt.api('GET', `/api/v1/frames?unit=${unit}&kind=batch`, { token: qa })).body as { end?: string }[];
        return frames.some((f) => typeof f.end === 'string');
      }, 30_000);
    }

    const metrics = (await rt.api('GET', '/metrics')).body as string;
    expect(deadLetterCounts(metrics).filter((c) => c.value > 0)).toEqual([]);
    expect(await storedDeadLetters(nc)).toEqual([]);
    expect([...seen].filter(([k]) => k.startsWith('dlq.'))).toEqual([]);
    expect(atLeast(logLines(rt.stderr()), 50).map(brief)).toEqual([]);
  }, 240_000);
});
