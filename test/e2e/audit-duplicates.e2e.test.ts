import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../nats/codec.ts';
import { connectNats } from '../../src/broker/connect.ts';
import { WRITER_KV_KEY } from '../../src/records/audit-state.ts';
import { testNatsServerBin } from '../helpers/nats.ts';
import { eventually, startPhaseline, type PhaselineProcess } from '../helpers/phaseline-process.ts';

/**
 * An AUDIT stream that already holds requests recorded twice (it denies delete: the defect of earlier versions left
 * them there) is reported by verify, entry by entry, until QA's signed disposition acknowledges them (EU GMP Annex 11
 * §9, 21 CFR 11.10(e), 11.50).
 */
let varDir: string;
let rt: PhaselineProcess;
let env: Record<string, string>;

beforeAll(async () => {
  varDir = await mkdtemp(join(tmpdir(), 'phaseline-dups-'));
  env = { PHASELINE_SIMULATOR: 'off', NATS_SERVER_BIN: await testNatsServerBin() };
  rt = await startPhaseline(varDir, env);
}, 90_000);

afterAll(async () => {
  await rt?.stop();
  await rm(varDir, { recursive: true, force: true });
});

/** Makes the writer chain its whole inbox once more, as the restart defect did: position and id index forgotten. */
async function replayWholeInbox(): Promise<void> {
  await rt.kill();
  const nc = await connectNats(rt.natsUrl, { name: 'e2e-dups', ...(await rt.natsUser('runtime')) });
  try {
    const kvm = new Kvm(nc);
    const actors = await kvm.open('phaseline_actors');
    const jsm = await jetstreamManager(nc);
    const rec = decode((await actors.get(WRITER_KV_KEY))!.value) as Record<string, unknown>;
    const last = (await jsm.streams.info('AUDIT')).state.last_seq;
    const tail = decode((await jsm.direct.getMessage('AUDIT', { seq: last }))!.data) as { seq: number; hash: string };
    // The position at the end of the trail, the inbox position back at its start: the defect's state exactly.
    await actors.put(WRITER_KV_KEY, encode({ ...rec, auditSeq: last, idsUpTo: last, head: { seq: tail.seq, hash: tail.hash }, lastInboxSeq: 0 }));
    await jsm.streams.purge('KV_phaseline_audit');
  } finally {
    await nc.close();
  }
  rt = await startPhaseline(varDir, env);
}

describe('requests recorded twice in the audit trail', () => {
  it('are named by verify, and pass once QA signs their disposition; refusals are answered with reasons', async () => {
    const mes = await rt.token('mes');
    await rt.api('POST', '/api/v1/units/R201/context', { token: mes, body: { batchId: 'B-DUP', specVersion: '1', seq: 1 } });
    let qa = await rt.token('qa');
    const pw = async (u: string) => (JSON.parse(await readFile(join(varDir, 'demo', 'credentials.json'), 'utf8')) as any[]).find((c) => c.username === u).password;
    // Nothing to disposition on a clean trail.
    const none = await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: qa, body: { username: 'qa', password: await pw('qa'), reason: 'check' } });
    expect(none).toMatchObject({ status: 409, body: { error: 'nothing_to_disposition' } });

    await replayWholeInbox();
    qa = await rt.token('qa');
    const verify = await eventually(async () => {
      const v = (await rt.api('GET', '/api/v1/audit/verify', { token: qa })).body;
      return v.duplicates?.length ? v : undefined;
    }, 30_000);
    expect(verify.ok).toBe(false);
    expect(verify.firstBad).toBeUndefined(); // the chain is intact; the copies are the finding
    for (const d of verify.duplicates) expect(d.firstSeq).toBeLessThan(d.seq);
    const seqs = verify.duplicates.map((d: any) => d.seq);

    const op = await rt.token('operator');
    const body = { username: 'qa', password: await pw('qa'), reason: 'copies written by the restart defect before the stream-identity fix' };
    expect((await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: op, body: { ...body, username: 'operator' } })).status).toBe(403);
    expect((await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: qa, body: { ...body, password: 'wrong' } })).body.error).toBe('invalid_credentials');
    expect((await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: qa, body: { ...body, reason: '' } })).status).toBe(400);
    expect((await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: qa, body: { ...body, seqs: [1] } })).body).toMatchObject({ error: 'not_a_duplicate', seqs: [1] });

    const signed = await rt.api('POST', '/api/v1/audit/duplicates/disposition', { token: qa, body });
    expect(signed.status).toBe(202);
    expect(signed.body.seqs).toEqual(seqs);
    expect(signed.body.signature).toMatchObject({ printedName: 'Demo QA Reviewer', username: 'qa', meaning: 'dispositioned', contentHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(signed.body.signature.signedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const after = await eventually(async () => {
      const v = (await rt.api('GET', '/api/v1/audit/verify', { token: qa })).body;
      return v.ok ? v : undefined;
    }, 30_000);
    expect(after.duplicates.map((d: any) => d.seq)).toEqual(seqs);
    for (const d of after.duplicates) expect(d.dispositionedBy).toBeGreaterThan(d.seq);
    const trail = (await rt.api('GET', '/api/v1/audit?limit=10000', { token: qa })).body as any[];
    expect(trail.filter((e) => e.action === 'signature.failed' && e.target === 'audit')).toHaveLength(1);
  }, 180_000);
});
