import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlantConfig } from '../../config/plant.schema.ts';
import { encodeId } from '../../nats/ids.ts';
import { subjects } from '../../nats/subjects.ts';
import { PhaselineError } from '../errors.ts';

/** One NATS user of the embedded (or a generated production) broker: the runtime, or one edge source. */
export interface NatsUser {
  user: string;
  password: string;
  role: 'runtime' | 'edge';
  source?: string;
}

/** Publish and subscribe allow-lists of one NATS user (nats-server `permissions`). */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** A user as written into the server's `authorization { users: [...] }` block; no permissions = everything. */
export interface NatsUserConf {
  user: string;
  password: string;
  permissions?: NatsPermissions;
}

/** What an edge process is given (`<var>/nats/edge-<src>.json`): its user, password and the inbox prefix it must use. */
export interface EdgeCredentials {
  source: string;
  user: string;
  password: string;
  inboxPrefix: string;
}

/** The durable consumer name an edge uses on COMMANDS (src/edge/command-executor.ts). */
export const edgeCommandDurable = (src: string): string => `edge-cmd-${encodeId(src)}`;

/**
 * The inbox prefix of an edge connection: replies (JetStream acks, pulled messages) to one source go to subjects that
 * no other edge may subscribe to, so an edge cannot read another edge's commands or context through `_INBOX.>`.
 */
export const edgeInboxPrefix = (src: string): string => `_INBOX.edge.${encodeId(src)}`;

export const RUNTIME_NATS_USER = 'phaseline-runtime';
const edgeUser = (src: string) => `edge-${encodeId(src)}`;

/** The directory of the NATS credentials under the state dir (mode 0700; files 0600). */
export function natsCredentialsDir(varDir: string): string {
  return join(varDir, 'nats');
}

const usersFile = (varDir: string) => join(natsCredentialsDir(varDir), 'users.json');
/** The credentials file of one edge source, the file an edge process is given. */
export const edgeCredentialsFile = (varDir: string, src: string): string =>
  join(natsCredentialsDir(varDir), `edge-${encodeId(src)}.json`);

/** Writes a secret file atomically at mode 0600 (temp file, then rename): never readable by others, even briefly. */
export async function writeSecret(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

const password = () => randomBytes(24).toString('base64url');

/**
 * Loads the NATS users from `<var>/nats/users.json`, creating the runtime user and a user per configured source with
 * random passwords on first start (and for sources added later); writes each edge's credentials file and the
 * `<var>/demo/nats-users.json` list of CONTRACT.md §1, all mode 0600 (IEC 62443-3-3 SR 1.1, unique identification).
 */
export async function ensureNatsCredentials(varDir: string, sources: readonly string[]): Promise<NatsUser[]> {
  const dir = natsCredentialsDir(varDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await readFile(usersFile(varDir), 'utf8').then((t) => JSON.parse(t) as NatsUser[], () => [] as NatsUser[]);
  const users = [...existing];
  let changed = false;
  if (!users.some((u) => u.role === 'runtime')) {
    users.push({ user: RUNTIME_NATS_USER, password: password(), role: 'runtime' });
    changed = true;
  }
  for (const source of sources) {
    if (users.some((u) => u.role === 'edge' && u.source === source)) continue;
    users.push({ user: edgeUser(source), password: password(), role: 'edge', source });
    changed = true;
  }
  if (changed) await writeSecret(usersFile(varDir), JSON.stringify(users, null, 2) + '\n');
  const edges = users.filter((u) => u.role === 'edge' && sources.includes(u.source!));
  for (const u of edges) {
    const creds: EdgeCredentials = { source: u.source!, user: u.user, password: u.password, inboxPrefix: edgeInboxPrefix(u.source!) };
    await writeSecret(edgeCredentialsFile(varDir, u.source!), JSON.stringify(creds, null, 2) + '\n');
  }
  await mkdir(join(varDir, 'demo'), { recursive: true });
  // CONTRACT.md §1: a client that reads only this file must know its inbox prefix, or its replies are refused.
  const list: DemoNatsUser[] = edges.map((u) => ({ user: u.user, password: u.password, source: u.source!, inboxPrefix: edgeInboxPrefix(u.source!) }));
  await writeSecret(demoNatsUsersFile(varDir), JSON.stringify(list, null, 2) + '\n');
  return users;
}

/** One entry of `<var>/demo/nats-users.json` (CONTRACT.md §1). */
export interface DemoNatsUser {
  user: string;
  password: string;
  source: string;
  inboxPrefix: string;
}

/** The demo list of edge users, `<var>/demo/nats-users.json`. */
export const demoNatsUsersFile = (varDir: string): string => join(varDir, 'demo', 'nats-users.json');

/** Reads the credentials file of one edge source, or null when there is none. */
export async function loadEdgeCredentials(varDir: string, src: string): Promise<EdgeCredentials | null> {
  return readFile(edgeCredentialsFile(varDir, src), 'utf8').then((t) => JSON.parse(t) as EdgeCredentials, () => null);
}

/** The connection options (src/broker/connect.ts) of an edge given its credentials file. */
export function edgeConnectOptions(c: EdgeCredentials): { user: string; pass: string; inboxPrefix: string } {
  return { user: c.user, pass: c.password, inboxPrefix: c.inboxPrefix };
}

/** The runtime user out of {@link ensureNatsCredentials}' list. */
export function runtimeUser(users: readonly NatsUser[]): NatsUser {
  const u = users.find((x) => x.role === 'runtime');
  if (!u) throw new PhaselineError('ERR_BROKER_START', 'no runtime NATS user in the broker credentials');
  return u;
}

/**
 * The least privilege of edge source `src` (NIST SP 800-82r3 §5.2.3 zones and conduits, IEC 62443-3-3 SR 2.1): it may
 * publish only its own telemetry, heartbeats, alarm events, command outcomes and dead letters of its own commands and
 * MQTT messages, and
 * read only the context of its own units and its own commands. Reads go through JetStream, so the JetStream API
 * subjects are allowed only in the forms whose subject names the stream, consumer and filter:
 * - `$JS.API.INFO` — `jetstreamManager()` checks the account once;
 * - `$JS.API.DIRECT.GET.CONTEXT.ctx.<unit>` — the last context of a unit (the filter is part of the subject); updates
 *   arrive on the core subscription `ctx.<unit>` (src/edge/context-follower.ts), so no consumer on CONTEXT is
 *   allowed at all — a pull grant would match any consumer name, the runtime's own durables included;
 * - `CONSUMER.CREATE|INFO|MSG.NEXT` of the durable `edge-cmd-<src>` on COMMANDS filtered to `cmd.<src>`, and its acks
 *   `$JS.ACK.COMMANDS.edge-cmd-<src>.>`;
 * - replies only on `_INBOX.edge.<src>.>` (the connection's `inboxPrefix`), never `_INBOX.>`.
 */
export function edgePermissions(src: string, units: readonly string[]): NatsPermissions {
  const durable = edgeCommandDurable(src);
  const cmd = subjects.command(src);
  return {
    publish: [
      subjects.telemetry(src),
      subjects.heartbeat(src),
      subjects.alarms(src),
      subjects.commandResult(src),
      subjects.deadLetter(cmd),
      // dead letters of its own MQTT messages (Sparkplug collector): dlq.mqtt.<src>.<encoded topic>
      `${subjects.deadLetter(`mqtt.${encodeId(src)}`)}.>`,
      '$JS.API.INFO',
      ...units.map((u) => `$JS.API.DIRECT.GET.CONTEXT.${subjects.context(u)}`),
      `$JS.API.CONSUMER.CREATE.COMMANDS.${durable}.${cmd}`,
      `$JS.API.CONSUMER.INFO.COMMANDS.${durable}`,
      `$JS.API.CONSUMER.MSG.NEXT.COMMANDS.${durable}`,
      `$JS.ACK.COMMANDS.${durable}.>`,
    ],
    subscribe: [`${edgeInboxPrefix(src)}.>`, cmd, ...units.map((u) => subjects.context(u))],
  };
}

/** The users of the broker's `authorization` block: the runtime with every right, each source with {@link edgePermissions}. */
export function brokerUsers(users: readonly NatsUser[], config: Pick<PlantConfig, 'sources' | 'units'>): NatsUserConf[] {
  const out: NatsUserConf[] = [];
  for (const u of users) {
    if (u.role === 'runtime') out.push({ user: u.user, password: u.password });
    else if (config.sources.some((s) => s.id === u.source)) {
      const units = config.units.filter((x) => x.source === u.source).map((x) => x.id);
      out.push({ user: u.user, password: u.password, permissions: edgePermissions(u.source!, units) });
    }
  }
  return out;
}

/** Renders an `authorization { users: [...] }` block in nats-server config syntax (strings JSON-quoted: `$` is literal). */
export function authorizationConf(users: readonly NatsUserConf[]): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;
  const lines = ['authorization {', '  users: ['];
  for (const u of users) {
    const perms = u.permissions
      ? `, permissions: { publish: { allow: ${list(u.permissions.publish)} }, subscribe: { allow: ${list(u.permissions.subscribe)} } }`
      : '';
    lines.push(`    { user: ${q(u.user)}, password: ${q(u.password)}${perms} }`);
  }
  lines.push('  ]', '}');
  return lines.join('\n');
}
