import { createHash, randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Security } from '../../../config/plant.schema.ts';
import { decode, encode } from '../../../nats/codec.ts';
import { logger } from '../../log.ts';
import type { User } from './users.ts';

const log = logger('sessions');
/** A session's lastSeenAt is written at most this often (or a quarter of the inactivity timeout, if shorter). */
const SLIDE_EVERY_MS = 30_000;

/** The identity a session carries. */
export interface SessionUser {
  username: string;
  displayName: string;
  roles: string[];
}

/** What the `sessions` KV bucket holds under sha256(token) (epoch milliseconds). */
export interface SessionRecord extends SessionUser {
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** The answer of a successful login (CONTRACT.md §2 `POST /auth/login`). */
export interface LoginResult {
  token: string;
  expiresAt: string;
  user: SessionUser;
}

/** Why {@link SessionStore.validate} refused a token (logged, never told to the client). */
export type SessionRejection = 'unknown' | 'expired' | 'inactive';

/** Options of {@link SessionStore}; `now` is injectable for tests. */
export interface SessionStoreOptions {
  kv: KV;
  security: Pick<Security, 'sessionInactivityMinutes' | 'sessionMaxHours'>;
  now?: () => number;
}

/** The KV key of a token: its SHA-256 in hex, so a leaked bucket holds no usable token. */
export function sessionKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Server-side sessions in the `sessions` KV bucket: a random bearer token, stored only as its hash, that expires after
 * `sessionMaxHours` and after `sessionInactivityMinutes` without use (21 CFR 11.10(d) limiting system access to
 * authorized individuals; 11.300(d) safeguards against unauthorized use of a left-open session).
 */
export class SessionStore {
  readonly #kv: KV;
  readonly #maxMs: number;
  readonly #idleMs: number;
  readonly #slideMs: number;
  readonly #now: () => number;

  constructor(opts: SessionStoreOptions) {
    this.#kv = opts.kv;
    this.#maxMs = opts.security.sessionMaxHours * 3_600_000;
    this.#idleMs = opts.security.sessionInactivityMinutes * 60_000;
    this.#slideMs = Math.min(SLIDE_EVERY_MS, this.#idleMs / 4);
    this.#now = opts.now ?? Date.now;
  }

  /** Opens a session for an authenticated user; the token is returned once and never stored. */
  async login(user: SessionUser): Promise<LoginResult> {
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    const rec: SessionRecord = {
      username: user.username,
      displayName: user.displayName,
      roles: [...user.roles],
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.#maxMs,
    };
    await this.#kv.create(sessionKey(token), encode(rec));
    log.info({ username: user.username }, 'session opened');
    return {
      token,
      expiresAt: new Date(rec.expiresAt).toISOString(),
      user: { username: rec.username, displayName: rec.displayName, roles: rec.roles },
    };
  }

  /**
   * The session of a token, or why it is refused: unknown, past its absolute expiry, or idle too long (each refused
   * session is deleted). A valid session's lastSeenAt slides forward, written at most every ~30 s.
   */
  async validate(token: string): Promise<SessionRecord | SessionRejection> {
    if (token.length === 0 || token.length > 256) return 'unknown';
    const key = sessionKey(token);
    const entry = await this.#kv.get(key);
    if (!entry || entry.operation !== 'PUT') return 'unknown';
    const rec = decode(entry.value) as SessionRecord;
    const now = this.#now();
    const why: SessionRejection | undefined =
      now >= rec.expiresAt ? 'expired' : now - rec.lastSeenAt > this.#idleMs ? 'inactive' : undefined;
    if (why) {
      await this.#kv.delete(key).catch(() => undefined);
      log.info({ username: rec.username, why }, 'session ended');
      return why;
    }
    if (now - rec.lastSeenAt >= this.#slideMs) {
      const slid = { ...rec, lastSeenAt: now };
      // A lost race means another request (or replica) slid it, or a logout deleted it: either way fine.
      await this.#kv.update(key, encode(slid), entry.revision).catch(() => undefined);
      return slid;
    }
    return rec;
  }

  /** Ends a session; unknown tokens are ignored. */
  async logout(token: string): Promise<void> {
    await this.#kv.delete(sessionKey(token));
  }

  /** Ends every session of a user (after a password change or when the account is disabled). */
  async logoutUser(username: string): Promise<number> {
    return this.#sweep((rec) => rec.username === username);
  }

  /** Deletes expired and idle sessions; returns how many (call it now and then: the bucket has no TTL). */
  async sweep(): Promise<number> {
    const now = this.#now();
    return this.#sweep((rec) => now >= rec.expiresAt || now - rec.lastSeenAt > this.#idleMs);
  }

  async #sweep(drop: (rec: SessionRecord) => boolean): Promise<number> {
    let n = 0;
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      if (drop(decode(entry.value) as SessionRecord)) {
        await this.#kv.delete(key);
        n++;
      }
    }
    return n;
  }
}

/** The session user of a {@link User}. */
export function sessionUserOf(user: User): SessionUser {
  return { username: user.username, displayName: user.displayName, roles: [...user.roles] };
}
