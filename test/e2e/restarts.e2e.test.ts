import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { INCARNATION_KEY } from '../../nats/stream-identity.ts';
import { MSG_ID, subjects } from '../../nats/subjects.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { WRITER_KV_KEY } from '../../src/records/audit-state.ts';
import { untilDedupeForgets } from '../helpers/dedupe.ts';
import { testNatsServerBin } from '../helpers/nats.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

/**
 * DESIGN.md principle 15 with the whole product on its embedded broker: any number of restarts, clean or killed,
 * leaves every record as it was — nothing re-applied, re-chained or re-raised (21 CFR 11.10(e), EU GMP Annex 11 §9).
 */
let varDir: string;
let rt: PhaselineProcess | undefined;
const logs: string[] = [];
let ENV: Record<string, string> = {};

async function start(): Promise<PhaselineProcess> {
  rt = await startPhaseline(varDir, ENV);
  return rt;
}

async function end(how: 'clean' | 'kill'): Promise<void> {
  const p = rt!;
  rt = undefined;
  if (how === 'clean') expect(await p.stop()).toBe(0);
  else await p.kill();
  logs.push(p.stderr());
}

async function withRuntimeNats<T>(p: PhaselineProcess, f: (nc: NatsConnection, jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const nc = await connectNats(p.natsUrl, { name: 'e2e-restarts', ...(await p.natsUser('runtime')) });
  try {
    return await f(nc, await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

async function auditOf(p: PhaselineProcess, token: string): Promise<any[]> {
  return (await p.api('GET', '/api/v1/audit?limit=10000', { token })).body as any[];
}

/** Waits until the trail stops growing (the writer has chained what the last command caused). */
async function settledAudit(p: PhaselineProcess, token: string): Promise<any[]> {
  let last = -1;
  return eventually(async () => {
    const entries = await auditOf(p, token);
    const stable = entries.length === last;
    last = entries.length;
    return stable ? entries : undefined;
  }, 30_000, 700);
}

function requestIds(entries: any[]): string[] {
  return entries.map((e) => e.src?.msgId).filter((id): id is string => typeof id === 'string');
}

function duplicatesOf(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
}

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-restarts-'));
  ENV = { PHASELINE_SIMULATOR: 'off', PHASELINE_LOG_LEVEL: 'info', NATS_SERVER_BIN: await testNatsServerBin() };
}, 30_000);

afterAll(async () => {
  if (rt) await rt.stop();
  await rm(varDir, { recursive: true, force: true });
});

describe('restarts of the whole product', () => {
  it('records every operator command once across seven starts, clean and kill -9 mixed, and the phase is where the commands left it', async () => {
    // [how the previous run ends, then what is done in the next one]
    const steps: [end: 'clean' | 'kill', what: { command?: string; complete?: true; state: string }][] = [
      ['clean', { command: 'start', state: 'Running' }],
      ['kill', { command: 'hold', state: 'Holding' }],
      ['clean', { complete: true, state: 'Held' }],
      ['kill', { command: 'restart', state: 'Restarting' }],
      ['clean', { complete: true, state: 'Running' }],
      ['kill', { command: 'stop', state: 'Stopping' }],
      ['clean', { complete: true, state: 'Stopped' }],
    ];
    let p = await start();
    const mes = await p.token('mes');
    expect((await p.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-RESTART', specVersion: '1', seq: 1 } })).status).toBe(200);
    for (const [how, step] of steps) {
      await end(how);
      p = await start();
      const op = await p.token('operator');
      const r = step.command
        ? await p.api('POST', '/api/v1/phases/R201.HEAT/commands', { token: op, body: { command: step.command } })
        : await p.api('POST', '/api/v1/phases/R201.HEAT/complete', { token: op, body: {} });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.state).toBe(step.state);
    }
    const qa = await p.token('qa');
    expect((await p.api('GET', '/api/v1/phases/R201.HEAT', { token: qa })).body.state).toBe('Stopped');

    const entries = await settledAudit(p, qa);
    expect(duplicatesOf(requestIds(entries))).toEqual([]);
    const actions = entries.filter((e) => e.target === 'phase:R201.HEAT').map((e) => e.action);
    for (const a of ['phase.start', 'phase.hold', 'phase.restart', 'phase.stop']) expect(actions.filter((x) => x === a), a).toHaveLength(1);
    const transitions = entries.filter((e) => e.target === 'phase:R201.HEAT' && e.action === 'phase.transition').map((e) => e.after.state);
    expect(transitions).toEqual(['Running', 'Holding', 'Held', 'Restarting', 'Running', 'Stopping', 'Stopped']);
    const verify = (await p.api('GET', '/api/v1/audit/verify', { token: qa })).body;
    expect(verify).toMatchObject({ ok: true });
    expect(verify.duplicates).toBeUndefined();

    // Every transition published once on EVENTS.
    await withRuntimeNats(p, async (nc) => {
      const js = jetstream(nc);
      const c = await js.consumers.get('EVENTS', { filter_subjects: ['evt.phase.R201=2EHEAT'] });
      const seen: string[] = [];
      for (;;) {
        const m = await c.next({ expires: 1000 });
        if (!m) break;
        seen.push((decode(m.data) as { to: string }).to);
        if (m.info.pending === 0) break;
      }
      expect(seen).toEqual(transitions);
    });

    logs.push(p.stderr());
    const all = logs.join('\n');
    expect(all).not.toMatch(/recreated|new stream incarnation/i);
    expect(all).not.toMatch(/"level":(50|60)/); // no error-level line in any of the starts
  }, 300_000);

  it('does not chain an audit request that is replayed after the broker\'s duplicate window', async () => {
    const p = rt ?? (await start());
    const qa = await p.token('qa');
    const before = await settledAudit(p, qa);
    const started = before.find((e) => e.action === 'phase.start' && e.target === 'phase:R201.HEAT');
    await withRuntimeNats(p, async (nc, jsm) => {
      const request = await jsm.direct.getMessage('INBOX', { seq: started.src.inboxSeq });
      expect(request?.header.get(MSG_ID)).toBe(started.src.msgId);
      const info = await jsm.streams.info('INBOX');
      await jsm.streams.update('INBOX', { ...info.config, duplicate_window: 100 * 1e6 }); // the next start restores it
      const h = headers();
      h.set(MSG_ID, started.src.msgId);
      await untilDedupeForgets(jetstream(nc), 'inbox.probe.dedupe');
      const ack = await jetstream(nc).publish(subjects.auditInbox, request!.data, { headers: h }); // only the writer can refuse it now
      expect(ack.duplicate).toBe(false);
    });
    await eventually(async () => /phaseline_audit_duplicates_total\{by="producer_id"\} [1-9]/.test((await p.api('GET', '/metrics')).body), 20_000);
    const after = await settledAudit(p, qa);
    expect(after.filter((e) => e.src?.msgId === started.src.msgId)).toHaveLength(1);
    expect((await p.api('GET', '/api/v1/audit/verify', { token: qa })).body.ok).toBe(true);
  }, 120_000);

  it('starts a state directory made by the previous version with nothing re-applied, and audits the migration once', async () => {
    const p = rt ?? (await start());
    const qa = await p.token('qa');
    const phaseBefore = (await p.api('GET', '/api/v1/phases/R201.HEAT', { token: qa })).body;
    // One telemetry message, so that ingest has a source record of its own to upgrade.
    await withRuntimeNats(p, async (nc) => {
      const msg = { src: 'line2', epoch: 'e-upgrade', seq: 1, sent: Date.now(), samples: [{ tag: 'R201.TT01.PV', v: 21, q: 'good', ts: Date.now() }] };
      await jetstream(nc).publish('tlm.line2', encode(msg), { msgID: 'line2:e-upgrade:1' });
    });
    await eventually(async () => ((await p.api('GET', '/api/v1/sources', { token: qa })).body as any[]).find((x) => x.id === 'line2')?.lastSeq === 1);
    const before = await settledAudit(p, qa);
    await end('kill'); // the broker child lives on: the state is rewritten as the previous version left it
    await withRuntimeNats(p, async (nc, jsm) => {
      for (const name of ['INBOX', 'TELEMETRY', 'ALARMS', 'EVENTS', 'CONTEXT', 'COMMANDS', 'AUDIT', 'DEADLETTER']) {
        const info = await jsm.streams.info(name);
        await jsm.streams.update(name, { ...info.config, metadata: {} });
      }
      const kvm = new Kvm(nc);
      const actors = await kvm.open('phaseline_actors');
      for await (const key of await actors.keys()) {
        const e = await actors.get(key);
        if (e?.operation !== 'PUT') continue;
        let rec: Record<string, unknown>;
        try {
          rec = decode(e.value) as Record<string, unknown>;
        } catch {
          continue; // not a record (the published audit key)
        }
        if (key === WRITER_KV_KEY) {
          const { inboxIncarnation: _i, idsUpTo: _u, ...legacy } = rec;
          await actors.put(key, encode({ ...legacy, inboxCreated: '2026-12-01T00:00:00Z', dedupe: { producers: [], recent: [] } }));
        } else if ('incarnation' in rec) {
          const { incarnation: _i, outboxPublished: _p, seen: _s, ...legacy } = rec;
          await actors.put(key, encode({ ...legacy, streamCreated: '2026-12-01T00:00:00Z' }));
        }
      }
      const ingest = await kvm.open('phaseline_ingest');
      for await (const key of await ingest.keys()) {
        const e = await ingest.get(key);
        if (e?.operation !== 'PUT') continue;
        const { incarnation: _i, ...legacy } = decode(e.value) as Record<string, unknown>;
        await ingest.put(key, encode({ ...legacy, streamCreated: '2026-12-01T00:00:00Z' }));
      }
      await jsm.streams.delete('KV_phaseline_audit'); // the previous version had no id index
    });

    const q = await start();
    const qa2 = await q.token('qa');
    const after = await settledAudit(q, qa2);
    const added = after.slice(before.length);
    expect(after.slice(0, before.length).map((e) => e.hash)).toEqual(before.map((e) => e.hash));
    expect(duplicatesOf(requestIds(after))).toEqual([]);
    expect(added.filter((e) => e.action === 'audit.position.migrated')).toHaveLength(1);
    expect(added.filter((e) => e.action === 'actors.position.migrated')).toHaveLength(1);
    expect(added.filter((e) => e.action === 'ingest.position.migrated').map((e) => e.after.sources)).toEqual([['line2']]);
    const streams = added.filter((e) => e.action === 'streams.identity.assigned');
    expect(streams).toHaveLength(1);
    expect(Object.keys(streams[0].after.streams).sort()).toEqual(['ALARMS', 'AUDIT', 'COMMANDS', 'CONTEXT', 'DEADLETTER', 'EVENTS', 'INBOX', 'TELEMETRY']);
    expect(added.filter((e) => e.target === 'phase:R201.HEAT')).toEqual([]);
    expect((await q.api('GET', '/api/v1/phases/R201.HEAT', { token: qa2 })).body).toMatchObject({ state: phaseBefore.state });
    expect((await q.api('GET', '/api/v1/audit/verify', { token: qa2 })).body.ok).toBe(true);
    await withRuntimeNats(q, async (_nc, jsm) => {
      expect((await jsm.streams.info('INBOX')).config.metadata?.[INCARNATION_KEY]).toMatch(/^[0-9a-f-]{36}$/);
    });

    // Once migrated, later starts migrate nothing.
    await end('clean');
    const r = await start();
    const qa3 = await r.token('qa');
    const later = await settledAudit(r, qa3);
    expect(later.filter((e) => /position\.migrated$|identity\.assigned$/.test(e.action))).toHaveLength(4);
    expect(duplicatesOf(requestIds(later))).toEqual([]);
    logs.push(r.stderr());
    expect(logs.join('\n')).not.toMatch(/recreated|new stream incarnation/i);
  }, 240_000);
});
