import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { decode, encode } from '../../nats/codec.ts';
import { ensureStreams } from '../../nats/streams.ts';
import { logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { startCommandOutcomes } from '../../src/records/command-outcomes.ts';
import { connectTest, startTestNats, type TestConn, type TestNats } from '../helpers/nats.ts';

let server: TestNats;
let conn: TestConn;
const conns: NatsConnection[] = [];
const metrics = new Metrics();

beforeAll(async () => {
  server = await startTestNats();
  conn = await connectTest(server.url, conns);
  await ensureStreams(conn.jsm);
});
afterAll(async () => {
  for (const nc of conns) await nc.close();
  await server?.stop();
});

/** Polls until `read` returns at least `n` entries (10 s at most). */
async function poll(read: () => Promise<any[]>, n: number): Promise<any[]> {
  const end = Date.now() + 10_000;
  for (;;) {
    const got = await read();
    if (got.length >= n || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function all(stream: string, filter: string): Promise<any[]> {
  const out: unknown[] = [];
  for (let seq = 1; ; ) {
    const m = await conn.jsm.direct.getMessage(stream, { seq, next_by_subj: filter }).catch(() => null);
    if (!m) return out;
    out.push(decode(m.data));
    seq = m.seq + 1;
  }
}

describe('guarded-write outcomes into the audit trail (21 CFR 11.10(e))', () => {
  it('records every outcome once as an audit request, and dead-letters what is not an outcome', async () => {
    const outcomes = startCommandOutcomes({ ...conn, configVersion: 'sha256:test', log: logger('test-cmdres'), metrics });
    try {
      const ok = { id: 'phase:R101.HEAT:7', src: 'sim', tag: 'R101.HEAT.CMD', value: 'START', by: 'mes', outcome: 'executed', at: 1_000, ref: 'inbox:7' };
      await conn.js.publish('cmdres.sim', encode(ok), { msgID: 'res:1' });
      await conn.js.publish('cmdres.sim', encode({ ...ok, id: 'phase:R101.HEAT:8', outcome: 'refused', reason: 'role_not_allowed' }), { msgID: 'res:2' });
      await conn.js.publish('cmdres.sim', encode(ok), { msgID: 'res:1-again' }); // a redelivered outcome
      await conn.js.publish('cmdres.sim', new Uint8Array([0xc1]), { msgID: 'junk' });
      await conn.js.publish('cmdres.sim', encode({ id: 'x', outcome: 'maybe', at: 1 }), { msgID: 'bad' });
      const entries = await poll(() => all('INBOX', 'inbox.audit.writer'), 2);
      await new Promise((r) => setTimeout(r, 300)); // a redelivered outcome must not add a third entry
      expect(await all('INBOX', 'inbox.audit.writer')).toHaveLength(2);
      expect(entries[0]).toMatchObject({ who: 'edge:sim', action: 'plc.write.executed', target: 'source:sim', at: 1_000, ref: 'inbox:7', after: { tag: 'R101.HEAT.CMD', by: 'mes' } });
      expect(entries[1]).toMatchObject({ action: 'plc.write.refused', reason: 'role_not_allowed' });
      const dlq = await poll(() => all('DEADLETTER', 'dlq.cmdres.sim'), 2);
      expect(dlq.map((d) => d.reason)).toEqual(['malformed', 'malformed']);
      expect(dlq[1].detail).toMatch(/outcome/);
    } finally {
      await outcomes.stop();
    }
  });
});
