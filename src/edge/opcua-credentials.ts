import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { OpcuaConfigError } from '../errors.ts';

/** One OPC UA user of the demo simulator, as stored in `<varDir>/demo/opcua-users.json` (mode 0600). */
export interface OpcuaUser {
  username: string;
  password: string;
}

/** The user name the demo collector logs on to the simulator with (the password is generated on first start). */
export const DEMO_OPCUA_USER = 'edge-sim';

/** Where the demo keeps the simulator's OPC UA users (relative to PHASELINE_VAR, as a source's `passwordFile`). */
export const DEMO_OPCUA_USERS_FILE = join('demo', 'opcua-users.json');

/**
 * Demo only: returns the simulator's OPC UA users, creating `edge-sim` with a random password on first start
 * (no default password exists anywhere; IEC 62541-2 §5.3 user authentication). The file is written 0600, atomically.
 */
export async function ensureDemoOpcuaUsers(varDir: string): Promise<OpcuaUser[]> {
  const file = join(varDir, DEMO_OPCUA_USERS_FILE);
  const existing = await readUsers(file).catch(() => []);
  if (existing.some((u) => u.username === DEMO_OPCUA_USER)) return existing;
  const users = [...existing, { username: DEMO_OPCUA_USER, password: randomBytes(18).toString('base64url') }];
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(users, null, 2) + '\n', 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await chmod(file, 0o600);
  return users;
}

async function readUsers(file: string): Promise<OpcuaUser[]> {
  const list = JSON.parse(await readFile(file, 'utf8')) as unknown;
  if (!Array.isArray(list)) return [];
  return list.filter((u): u is OpcuaUser => typeof u?.username === 'string' && typeof u?.password === 'string');
}

/**
 * Reads a password for `username` from a secret file: a JSON list `[{ username, password }]` (the demo's file) or a
 * file holding only the password. Relative paths are under PHASELINE_VAR; secrets never live in the reviewed config.
 */
export async function readPasswordFile(varDir: string, passwordFile: string, username: string): Promise<string> {
  const file = isAbsolute(passwordFile) ? passwordFile : join(varDir, passwordFile);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new OpcuaConfigError(`OPC UA password file ${file} is not readable`, { file }, { cause: err });
  }
  if (!text.trimStart().startsWith('[')) return text.trim();
  const users = await readUsers(file);
  const u = users.find((x) => x.username === username);
  if (!u) throw new OpcuaConfigError(`no password for OPC UA user ${username} in ${file}`, { file, username });
  return u.password;
}

/** Constant-time check of a user name and password against a user list (no early exit on the first difference). */
export function checkOpcuaUser(users: readonly OpcuaUser[], username: string, password: string): boolean {
  const given = Buffer.from(password);
  let ok = false;
  for (const u of users) {
    const want = Buffer.from(u.password);
    const same = want.length === given.length && timingSafeEqual(want, given);
    ok = ok || (u.username === username && same);
  }
  return ok;
}
