import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import { logger } from '../log.ts';

const log = logger('audit-key');
const PRIVATE_FILE = 'audit-ed25519.key.pem';
const PUBLIC_SUFFIX = '.audit-ed25519.pub.pem';
/** KV key prefix (in the actors bucket) under which public checkpoint keys are published by key id. */
export const PUBLIC_KEY_KV_PREFIX = 'audit.key.';

/** The checkpoint signing key of this installation. */
export interface AuditKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
}

/** The key id: the first 16 hex digits of SHA-256 over the DER (SPKI) public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Loads the Ed25519 checkpoint key from `<varDir>/keys/`, creating it (private file mode 0600) on first use
 * (21 CFR 11.10(c) protection of records: checkpoints are signed so a rewritten chain is detected).
 */
export async function loadOrCreateAuditKey(varDir: string): Promise<AuditKey> {
  const dir = join(varDir, 'keys');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, PRIVATE_FILE);
  let pem = await readIfExists(file);
  if (pem === undefined) pem = await createKeyFile(file);
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError(`${file} is not an Ed25519 key`);
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const pubFile = join(dir, keyId + PUBLIC_SUFFIX);
  if ((await readIfExists(pubFile)) !== publicKeyPem) await writeFile(pubFile, publicKeyPem, { mode: 0o644 });
  return { keyId, privateKey, publicKey, publicKeyPem };
}

/** Every public checkpoint key under `<varDir>/keys/` (retired ones too), by key id, for exports (21 CFR 11.10(e)). */
export async function loadAuditPublicKeys(varDir: string): Promise<Record<string, string>> {
  const dir = join(varDir, 'keys');
  const out: Record<string, string> = {};
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  for (const name of names.filter((n) => n.endsWith(PUBLIC_SUFFIX))) {
    const pem = await readFile(join(dir, name), 'utf8');
    out[keyIdOf(createPublicKey(pem))] = pem;
  }
  return out;
}

/** Publishes the public key in KV so any process can verify checkpoints without the key directory (21 CFR 11.10(e)). */
export async function publishAuditPublicKey(kv: KV, key: Pick<AuditKey, 'keyId' | 'publicKeyPem'>): Promise<void> {
  const name = PUBLIC_KEY_KV_PREFIX + key.keyId;
  const existing = await kv.get(name);
  if (existing && existing.operation === 'PUT' && existing.string() === key.publicKeyPem) return;
  await kv.put(name, key.publicKeyPem);
}

/** Reads every public checkpoint key published in KV, by key id (21 CFR 11.10(e) audit trail). */
export async function readAuditPublicKeys(kv: KV): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const name of await kv.keys(PUBLIC_KEY_KV_PREFIX + '>')) {
    const entry = await kv.get(name);
    if (!entry || entry.operation !== 'PUT') continue;
    const pem = entry.string();
    const keyId = keyIdOf(createPublicKey(pem));
    if (name === PUBLIC_KEY_KV_PREFIX + keyId) out[keyId] = pem;
    else log.warn({ name, keyId }, 'published audit key does not match its key id; ignored');
  }
  return out;
}

/** Writes a new key atomically: a temp file linked into place, so a crash never leaves a half-written key. */
async function createKeyFile(file: string): Promise<string> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, pem, { mode: 0o600 });
  try {
    await link(tmp, file);
    log.info({ file }, 'created audit checkpoint key');
    return pem;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFile(file, 'utf8'); // another process created it first
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
