// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill loaded first
// (reflect-metadata ships with node-opcua's crypto package; not a direct dependency).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';

/** An embedded MQTT broker (aedes) on a free loopback port, plain TCP or TLS. */
export interface TestMqttBroker {
  url: string;
  /** PEM of the CA that signed the TLS listener's certificate (TLS brokers only). */
  caPem?: string;
  /** Counts of messages the broker saw by topic prefix (for assertions on NCMD etc.). */
  published: { topic: string; payload: Buffer; retain: boolean }[];
  /** Reads the retained message of a topic with a fresh client (undefined when none arrives in `waitMs`). */
  retained(topic: string, waitMs?: number): Promise<Buffer | undefined>;
  /** Cuts the TCP connections of the clients whose id starts with `prefix` (a crash: the broker sends their wills). */
  kick(prefix: string): number;
  stop(): Promise<void>;
}

/** A test CA and a server certificate for `localhost` / `127.0.0.1` signed by it (ECDSA P-256). */
export async function makeTlsMaterial(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  x509.cryptoProvider.set(webcrypto as never);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Phaseline Test CA', notBefore, notAfter, keys: caKeys, signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=localhost', issuer: ca.subject, notBefore, notAfter,
    signingKey: caKeys.privateKey, publicKey: keys.publicKey, signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** Starts aedes on a free port (`tls: true` = a TLS listener with a freshly generated CA). */
export async function startTestMqttBroker(o: { tls?: boolean } = {}): Promise<TestMqttBroker> {
  const aedes = await Aedes.createBroker();
  const published: TestMqttBroker['published'] = [];
  aedes.on('publish', (packet, client) => {
    if (client) published.push({ topic: packet.topic, payload: Buffer.from(packet.payload), retain: packet.retain });
  });
  const material = o.tls ? await makeTlsMaterial() : undefined;
  const server: Server = material
    ? createTlsServer({ key: material.keyPem, cert: material.certPem }, aedes.handle as never)
    : createNetServer(aedes.handle as never);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `${material ? 'mqtts' : 'mqtt'}://${material ? 'localhost' : '127.0.0.1'}:${port}`;
  return {
    url,
    published,
    ...(material ? { caPem: material.caPem } : {}),
    async retained(topic, waitMs = 500) {
      const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...(material ? { ca: material.caPem } : {}) });
      try {
        const got = new Promise<Buffer | undefined>((r) => {
          c.on('message', (t, p, pk) => t === topic && pk.retain && r(p));
          setTimeout(() => r(undefined), waitMs);
        });
        await c.subscribeAsync(topic, { qos: 1 });
        return await got;
      } finally {
        await c.endAsync(true);
      }
    },
    kick(prefix) {
      const clients = (aedes as unknown as { clients: Record<string, { conn: { destroy(): void } }> }).clients;
      const ids = Object.keys(clients).filter((id) => id.startsWith(prefix));
      for (const id of ids) clients[id]!.conn.destroy();
      return ids.length;
    },
    async stop() {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
