import { randomBytes } from 'node:crypto';
import { open, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KV } from '@nats-io/kv';
import type { PlantConfig } from '../../../config/plant.schema.ts';
import { decode, encode } from '../../../nats/codec.ts';
import { encodeId } from '../../../nats/ids.ts';
import { logger } from '../../log.ts';
import { hashPassword, randomPassword, verifyPassword } from './passwords.ts';

const log = logger('users');

/** A user account as the rest of the product sees it (never with its password hash). */
export interface User {
  username: string;
  displayName: string;
  roles: string[];
  createdAt: number;
  disabled?: boolean;
}

/** What the `users` KV bucket holds per user (MessagePack, key = encodeId(username)). */
interface UserRecord extends User {
  passwordHash: string;
  passwordChangedAt: number;
}

/** A new account: its password is hashed before anything is stored. */
export interface NewUser {
  username: string;
  displayName: string;
  roles: string[];
  password: string;
}

/** A demo account's credentials as written to `<varDir>/demo/credentials.json` (CONTRACT.md §1). */
export interface DemoCredential {
  username: string;
  password: string;
  roles: string[];
}

function publicUser(rec: UserRecord): User {
  const user: User = { username: rec.username, displayName: rec.displayName, roles: [...rec.roles], createdAt: rec.createdAt };
  if (rec.disabled) user.disabled = true;
  return user;
}

/** Thrown by {@link UserStore.create} when the username is taken. */
export class UserExistsError extends Error {
  constructor(username: string) {
    super(`user ${username} already exists`);
    this.name = 'UserExistsError';
  }
}

/**
 * User accounts in the `users` KV bucket (21 CFR 11.300(a): each identification code is unique to one person and
 * is never reused — `create` refuses a taken name).
 */
export class UserStore {
  readonly #kv: KV;
  /** A hash of a password nobody knows, verified against when the user does not exist (no timing oracle). */
  readonly #decoy: Promise<string>;

  constructor(kv: KV) {
    this.#kv = kv;
    this.#decoy = hashPassword(randomPassword());
    this.#decoy.catch(() => undefined);
  }

  /** The user, or undefined when there is none. */
  async get(username: string): Promise<User | undefined> {
    const rec = await this.#read(username);
    return rec && publicUser(rec);
  }

  /** Creates a user with a hashed password; throws {@link UserExistsError} when the name is taken. */
  async create(input: NewUser): Promise<User> {
    const now = Date.now();
    const rec: UserRecord = {
      username: input.username,
      displayName: input.displayName,
      roles: [...input.roles],
      createdAt: now,
      passwordHash: await hashPassword(input.password),
      passwordChangedAt: now,
    };
    try {
      await this.#kv.create(encodeId(input.username), encode(rec));
    } catch (err) {
      if (await this.#read(input.username)) throw new UserExistsError(input.username);
      throw err;
    }
    log.info({ username: input.username, roles: input.roles }, 'user created');
    return publicUser(rec);
  }

  /**
   * Checks a username and password; returns the user when both match and the account is enabled. Does one scrypt
   * verification whether or not the user exists (21 CFR 11.300(d): no oracle telling an attacker which names exist).
   */
  async verify(username: string, password: string): Promise<User | undefined> {
    const rec = username.length > 0 ? await this.#read(username) : undefined;
    const ok = await verifyPassword(password, rec?.passwordHash ?? (await this.#decoy));
    return rec && ok && !rec.disabled ? publicUser(rec) : undefined;
  }

  async #read(username: string): Promise<UserRecord | undefined> {
    const entry = await this.#kv.get(encodeId(username));
    if (!entry || entry.operation !== 'PUT') return undefined;
    return decode(entry.value) as UserRecord;
  }
}

/** Options of {@link ensureDemoUsers}. */
export interface EnsureDemoUsersOptions {
  store: UserStore;
  config: Pick<PlantConfig, 'security'>;
  varDir: string;
}

/**
 * Creates each configured demo user that does not exist yet, with a random password (no default password exists
 * anywhere: 21 CFR 11.300(a)), and keeps `<varDir>/demo/credentials.json` (mode 0600) listing every demo user created
 * in this or an earlier start that still exists. Returns only the users created now, for the caller to print once.
 */
export async function ensureDemoUsers(opts: EnsureDemoUsersOptions): Promise<DemoCredential[]> {
  const file = join(opts.varDir, 'demo', 'credentials.json');
  const previous = await readCredentials(file);
  const created: DemoCredential[] = [];
  for (const demo of opts.config.security.demoUsers) {
    if (await opts.store.get(demo.username)) continue;
    const password = randomPassword();
    try {
      await opts.store.create({ ...demo, password });
    } catch (err) {
      if (err instanceof UserExistsError) continue; // another process created it first
      throw err;
    }
    created.push({ username: demo.username, password, roles: [...demo.roles] });
  }
  const fresh = new Set(created.map((c) => c.username));
  const kept: DemoCredential[] = [];
  for (const c of previous) {
    if (!fresh.has(c.username) && (await opts.store.get(c.username))) kept.push(c);
  }
  const all = [...kept, ...created];
  if (all.length > 0 || previous.length > 0) {
    const text = JSON.stringify(all, null, 2) + '\n';
    if (created.length > 0 || kept.length !== previous.length) await writeSecretFile(file, text);
  }
  if (created.length > 0) log.info({ users: created.map((c) => c.username), file }, 'demo users created');
  return created;
}

async function readCredentials(file: string): Promise<DemoCredential[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) throw new TypeError('not an array');
    return list.filter(
      (c): c is DemoCredential =>
        typeof c?.username === 'string' && typeof c?.password === 'string' && Array.isArray(c?.roles),
    );
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'demo credentials file unreadable; rewriting it');
    return [];
  }
}

/** Writes a file readable by its owner only, atomically (temp file, fsync, rename) so a crash never leaves half of it. */
async function writeSecretFile(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.chmod(0o600); // the umask cannot widen it, but be explicit
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dh = await open(dir, 'r');
  await dh.sync().catch(() => undefined).finally(() => dh.close());
}
