import { OPCUAClient, type ClientSession, type OPCUACertificateManager } from 'node-opcua';
import { OpcuaSecurityError } from '../errors.ts';
import { DEMO_APPS } from './opcua-pki.ts';
import { loadIdentity, opcuaSecurity, pickEndpoint, type OpcuaSecurity } from './opcua-security.ts';

/** An open session and what ends it: the channel lost or closed, the session closed or its keep-alive failed. */
export interface OpenSession {
  client: OPCUAClient;
  session: ClientSession;
  /** Resolves with the reason once the session is over (the caller re-creates everything). */
  lost: Promise<string>;
  /** Ends the session from outside (e.g. a subscription the server terminated). */
  end(reason: string): void;
  /** The security policy the server granted (its URI's fragment). */
  policy: string;
}

/**
 * The session step: a client with our certificate and the configured policy and mode, connected with endpoint
 * discovery (IEC 62541-4 §5.4.2 GetEndpoints), the endpoint checked against what we require, and a session with the
 * configured identity (§5.6.2 CreateSession / ActivateSession). Reconnection is the caller's: the client never retries.
 */
export async function openOpcuaSession(o: {
  endpoint: string;
  security: OpcuaSecurity;
  cm: OPCUACertificateManager;
  own: { certificateFile: string; privateKeyFile: string };
  varDir: string;
  onClient(client: OPCUAClient): void;
}): Promise<OpenSession> {
  await o.cm.reloadCertificates(); // an operator may have trusted the server's certificate meanwhile
  const identity = await loadIdentity(o.security, o.varDir);
  const client = OPCUAClient.create({
    applicationName: DEMO_APPS.client.applicationName,
    applicationUri: DEMO_APPS.client.applicationUri,
    clientCertificateManager: o.cm,
    certificateFile: o.own.certificateFile,
    privateKeyFile: o.own.privateKeyFile,
    ...opcuaSecurity(o.security),
    endpointMustExist: false,
    keepSessionAlive: true,
    requestedSessionTimeout: 60_000,
    // The caller owns reconnection: a lost channel ends the session and everything is re-created.
    connectionStrategy: { initialDelay: 100, maxDelay: 500, maxRetry: 0 },
  });
  o.onClient(client); // closed by the caller whatever happens next
  let end: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => {
    end = resolve;
    client.on('connection_lost', () => resolve('connection lost'));
    client.on('close', () => resolve('closed'));
    client.on('connection_failed', () => resolve('connection failed'));
  });
  await client.connect(o.endpoint).catch(async (err: Error) => {
    if (!/Cannot find an Endpoint/.test(err.message)) throw err;
    // The server offers no endpoint with our policy and mode: name what it offers (discovery over None only).
    throw new OpcuaSecurityError(`OPC UA server refused: ${await describeOffer(o.endpoint, o.security)}`, { endpoint: o.endpoint }, { cause: err });
  });
  const chosen = pickEndpoint(await client.getEndpoints(), o.security);
  if ('refused' in chosen) throw new OpcuaSecurityError(`OPC UA server refused: ${chosen.refused}`, { endpoint: o.endpoint });
  const session = await client.createSession(identity);
  // A session the server ended while the channel stays up also means: re-create everything.
  session.on('session_closed', () => end('session closed'));
  session.on('keepalive_failure', () => end('session keep-alive failed'));
  return { client, session, lost, end, policy: client.securityPolicy?.split('#')[1] ?? String(client.securityPolicy) };
}

/** GetEndpoints on a discovery (None) channel, to say why no endpoint fits (IEC 62541-4 §5.4.4). */
async function describeOffer(endpoint: string, security: OpcuaSecurity): Promise<string> {
  const c = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  try {
    await c.connect(endpoint);
    const chosen = pickEndpoint(await c.getEndpoints(), security);
    return 'refused' in chosen ? chosen.refused : `no endpoint with ${security.policy}/${security.mode}`;
  } catch {
    return `no endpoint with ${security.policy}/${security.mode}`;
  } finally {
    await c.disconnect().catch(() => undefined);
  }
}
