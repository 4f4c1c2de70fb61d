import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import type { Env } from '../../config/env.ts';
import { loadConfig } from '../../config/load.ts';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encode } from '../../nats/codec.ts';
import { subjects } from '../../nats/subjects.ts';
import { connectNats } from '../broker/connect.ts';
import { demoNatsUsersFile, edgeConnectOptions, edgeInboxPrefix, loadEdgeCredentials, type DemoNatsUser, type EdgeCredentials } from '../broker/credentials.ts';
import { embeddedNatsDirs, recordedNatsUrl } from '../broker/server.ts';
import { PhaselineError } from '../errors.ts';
import { instanceInfoFile, type InstanceInfo } from '../instance-lock.ts';
import { logger } from '../log.ts';
import { SequenceStore } from './sequence-store.ts';

export const PUBLISH_USAGE = `  publish <source> tlm <tag> <value> [<tag> <value> …] [--q good|uncertain|bad] [--ts MS|ISO]
  publish <source> alarm <alarm> --active|--clear [--value N] [--message TEXT] [--ts MS|ISO]
                          publish as edge source <source> with its own NATS user (PHASELINE_VAR/nats/edge-<source>.json,
                          else PHASELINE_VAR/demo/nats-users.json) a telemetry message on tlm.<source> or an alarm
                          event on alm.<source> (CONTRACT.md §5.1, §5.2), wait for the JetStream acknowledgement and
                          print it as JSON; seq comes from a store per source and kind under PHASELINE_VAR/publish/
    --nats URL (default NATS_URL, else the running instance's broker from PHASELINE_VAR/run/), --creds FILE, --ca FILE
`;

const log = logger('publish');

type Kind = 'tlm' | 'alarm';

/** The broker to publish to: `--nats`, NATS_URL, the running instance's (run/phaseline.json), or the embedded pidfile's. */
async function brokerUrl(env: Env, given?: string): Promise<string> {
  if (given) return given;
  if (env.natsUrl) return env.natsUrl;
  const running = await readFile(instanceInfoFile(env.varDir), 'utf8').then((t) => JSON.parse(t) as InstanceInfo, () => null);
  if (running?.natsUrl) return running.natsUrl;
  const embedded = await recordedNatsUrl(embeddedNatsDirs(env.varDir).runDir);
  if (embedded) return embedded;
  throw new PhaselineError('ERR_NATS_UNAVAILABLE', `no broker found for ${env.varDir}: start Phaseline (npm start) or pass --nats URL`);
}

/** The source's own credentials: `--creds`, `<var>/nats/edge-<src>.json`, `<var>/demo/nats-users.json`; null = no auth. */
async function credentials(env: Env, src: string, file?: string): Promise<EdgeCredentials | null> {
  if (file) return JSON.parse(await readFile(file, 'utf8')) as EdgeCredentials;
  const own = await loadEdgeCredentials(env.varDir, src);
  if (own) return own;
  const list = await readFile(demoNatsUsersFile(env.varDir), 'utf8').then((t) => JSON.parse(t) as DemoNatsUser[], () => []);
  const u = list.find((x) => x.source === src);
  return u ? { source: src, user: u.user, password: u.password, inboxPrefix: u.inboxPrefix ?? edgeInboxPrefix(src) } : null;
}

function timestamp(text: string | undefined): number {
  if (text === undefined) return Date.now();
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t)) throw usageError(`--ts ${text} is neither epoch milliseconds nor an ISO time`);
  return t;
}

const usageError = (message: string) => Object.assign(new PhaselineError('ERR_CLI_USAGE', message), { usage: true });

/** Converts one `<tag> <value>` pair into a sample, refusing a tag the source does not own or a value of the wrong type. */
function sample(config: PlantConfig, src: string, tag: string, raw: string, q: string, ts: number) {
  const def = config.tags.find((t) => t.tag === tag);
  if (!def || def.source !== src) {
    const own = config.tags.filter((t) => t.source === src).map((t) => t.tag);
    throw usageError(`source ${src} has no tag ${tag} (its tags: ${own.join(', ') || 'none'})`);
  }
  let v: number | boolean | string = raw;
  if (def.dataType === 'number') v = Number(raw);
  if (def.dataType === 'boolean') v = raw === 'true' || raw === '1';
  if (def.dataType === 'number' && (!Number.isFinite(v) || raw.trim() === '')) throw usageError(`${tag} is a number, not ${JSON.stringify(raw)}`);
  if (def.dataType === 'boolean' && !['true', 'false', '1', '0'].includes(raw)) throw usageError(`${tag} is a boolean (true/false), not ${JSON.stringify(raw)}`);
  return { tag, v, q, ts };
}

function alarmEvent(config: PlantConfig, src: string, alarm: string, o: { active?: boolean; clear?: boolean; value?: string; message?: string }, ts: number) {
  const def = config.alarms.find((a) => a.id === alarm);
  const unitSource = def && config.units.find((u) => u.id === def.unit)?.source;
  if (!def || unitSource !== src) {
    const own = config.alarms.filter((a) => config.units.find((u) => u.id === a.unit)?.source === src).map((a) => a.id);
    throw usageError(`source ${src} reports no alarm ${alarm} (its alarms: ${own.join(', ') || 'none'})`);
  }
  if (o.active === o.clear) throw usageError('give exactly one of --active and --clear');
  const value = o.value === undefined ? {} : { value: Number.isFinite(Number(o.value)) ? Number(o.value) : o.value };
  return { alarm, active: o.active === true, ts, ...value, ...(o.message ? { message: o.message } : {}) };
}

/**
 * `phaseline publish <source> tlm|alarm …`: publishes one telemetry message or alarm event as an edge source with its
 * own NATS user and inbox prefix (CONTRACT.md §1, §5.1, §5.2; IEC 62443-3-3 SR 1.1), with `Nats-Msg-Id:
 * <src>:<epoch>:<seq>` from a persisted sequence store, and prints the JetStream acknowledgement; returns the exit code.
 */
export async function runPublish(argv: string[], env: Env, out: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true,
      options: {
        active: { type: 'boolean' }, clear: { type: 'boolean' }, value: { type: 'string' }, message: { type: 'string' },
        q: { type: 'string', default: 'good' }, ts: { type: 'string' }, nats: { type: 'string' }, creds: { type: 'string' }, ca: { type: 'string' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values: o, positionals: [src, kind, ...rest] } = parsed;
  if (!src || (kind !== 'tlm' && kind !== 'alarm')) return usage('give a source and tlm or alarm');
  if (!['good', 'uncertain', 'bad'].includes(o.q!)) return usage(`--q ${o.q} is not good, uncertain or bad`);
  const config = loadConfig(env.configDir);
  if (!config.sources.some((s) => s.id === src)) return usage(`no source ${src} in ${env.configDir} (sources: ${config.sources.map((s) => s.id).join(', ')})`);
  let payload: Record<string, unknown>;
  try {
    const ts = timestamp(o.ts);
    if (kind === 'tlm') {
      if (rest.length === 0 || rest.length % 2 !== 0) throw usageError('tlm needs <tag> <value> pairs');
      const samples = [];
      for (let i = 0; i < rest.length; i += 2) samples.push(sample(config, src, rest[i]!, rest[i + 1]!, o.q!, ts));
      payload = { samples };
    } else {
      if (rest.length !== 1) throw usageError('alarm needs one alarm id');
      payload = { events: [alarmEvent(config, src, rest[0]!, o, ts)] };
    }
  } catch (err) {
    if ((err as { usage?: boolean }).usage) return usage((err as Error).message);
    throw err;
  }
  return publish(env, src, kind, payload, o, out);
}

async function publish(env: Env, src: string, kind: Kind, payload: Record<string, unknown>, o: { nats?: string; creds?: string; ca?: string }, out: (s: string) => void): Promise<number> {
  const url = await brokerUrl(env, o.nats);
  const creds = await credentials(env, src, o.creds);
  const caFile = o.ca ?? env.tlsFiles.caFile ?? (env.tls ? join(env.varDir, 'tls', 'ca.pem') : undefined);
  const nc = await connectNats(url, {
    name: `phaseline-publish-${src}`, log,
    ...(creds ? edgeConnectOptions(creds) : {}),
    ...(caFile ? { ca: await readFile(caFile, 'utf8') } : {}),
  });
  try {
    // A store of its own per kind: telemetry and alarm events each count 1, 2, 3, … (gaps in tlm are reported).
    const store = await SequenceStore.open(join(env.varDir, 'publish', kind), src, log.child({}, { level: 'warn' }));
    const seq = await store.next();
    const msgId = `${src}:${store.epoch}:${seq}`;
    const subject = kind === 'tlm' ? subjects.telemetry(src) : subjects.alarms(src);
    const ack = await jetstream(nc).publish(subject, encode({ src, epoch: store.epoch, seq, sent: Date.now(), ...payload }), { msgID: msgId });
    out(`${JSON.stringify({ subject, msgId, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate })}\n`);
    return 0;
  } finally {
    await nc.close();
  }
}

function usage(problem: string): number {
  process.stderr.write(`phaseline publish: ${problem}\nusage:\n${PUBLISH_USAGE}`);
  return 2;
}
