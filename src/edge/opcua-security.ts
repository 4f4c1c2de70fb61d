import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import {
  MessageSecurityMode,
  SecurityPolicy,
  UserTokenType,
  type EndpointDescription,
  type UserIdentityInfo,
} from 'node-opcua';
import { convertPEMtoDER } from 'node-opcua-crypto';
import type { Source } from '../../config/plant.schema.ts';
import { OpcuaConfigError } from '../errors.ts';
import { readPasswordFile } from './opcua-credentials.ts';

/** The security a source is collected with. */
export interface OpcuaSecurity {
  policy: keyof typeof POLICIES;
  mode: keyof typeof MODES;
  identity: NonNullable<Source['identity']>;
}

const POLICIES = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
} as const;
const MODES = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
} as const;

/** Default for `opcua` sources: Basic256Sha256 with SignAndEncrypt (IEC 62541-7 §6.6.165), anonymous identity. */
export function resolveSecurity(source: Pick<Source, 'securityPolicy' | 'securityMode' | 'identity'>): OpcuaSecurity {
  return {
    policy: source.securityPolicy ?? 'Basic256Sha256',
    mode: source.securityMode ?? 'SignAndEncrypt',
    identity: source.identity ?? { type: 'anonymous' },
  };
}

/** node-opcua's values for a resolved security setting. */
export function opcuaSecurity(s: OpcuaSecurity): { securityPolicy: SecurityPolicy; securityMode: MessageSecurityMode } {
  return { securityPolicy: POLICIES[s.policy], securityMode: MODES[s.mode] };
}

const TOKEN_TYPE = { anonymous: UserTokenType.Anonymous, username: UserTokenType.UserName, certificate: UserTokenType.Certificate } as const;

/**
 * Picks the server endpoint (from GetEndpoints, IEC 62541-4 §5.4.4) that offers exactly the configured policy and mode
 * and accepts the configured identity token; a server offering only weaker security is refused, never downgraded to.
 */
export function pickEndpoint(endpoints: readonly EndpointDescription[], s: OpcuaSecurity): EndpointDescription | { refused: string } {
  const { securityPolicy, securityMode } = opcuaSecurity(s);
  const same = endpoints.filter((e) => e.securityPolicyUri === securityPolicy && e.securityMode === securityMode);
  if (same.length === 0) {
    const offered = endpoints.map((e) => `${e.securityPolicyUri?.split('#')[1]}/${MessageSecurityMode[e.securityMode]}`);
    return { refused: `no endpoint with ${s.policy}/${s.mode} (offered: ${[...new Set(offered)].join(', ') || 'none'})` };
  }
  const token = TOKEN_TYPE[s.identity.type];
  const withToken = same.find((e) => (e.userIdentityTokens ?? []).some((t) => t.tokenType === token));
  return withToken ?? { refused: `no ${s.policy}/${s.mode} endpoint accepts ${s.identity.type} identity` };
}

/** Loads the identity's secrets (password or user certificate and key) from files under PHASELINE_VAR. */
export async function loadIdentity(s: OpcuaSecurity, varDir: string): Promise<UserIdentityInfo> {
  const id = s.identity;
  if (id.type === 'anonymous') return { type: UserTokenType.Anonymous };
  if (id.type === 'username') {
    const password = await readPasswordFile(varDir, id.passwordFile, id.username);
    return { type: UserTokenType.UserName, userName: id.username, password };
  }
  const at = (f: string) => (isAbsolute(f) ? f : join(varDir, f));
  try {
    const certificateData = convertPEMtoDER(await readFile(at(id.certificateFile), 'utf8'));
    const privateKey = await readFile(at(id.privateKeyFile), 'utf8');
    return { type: UserTokenType.Certificate, certificateData, privateKey } as UserIdentityInfo;
  } catch (err) {
    throw new OpcuaConfigError('OPC UA user certificate or key not readable', { file: id.certificateFile }, { cause: err });
  }
}
