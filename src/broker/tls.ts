// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill loaded first
// (reflect-metadata ships with node-opcua's crypto package; not a direct dependency).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

/** TLS material of one installation: the server certificate and key, and the CA that clients trust (all PEM). */
export interface TlsMaterial {
  certFile: string;
  keyFile: string;
  caFile: string;
  cert: string;
  key: string;
  ca: string;
}

/** Paths given by the operator (PHASELINE_TLS_CERT / _KEY / _CA); unset = generate under `<var>/tls/`. */
export interface TlsPaths {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

const pemKey = async (key: webcrypto.CryptoKey) =>
  x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

/** Creates a local CA and a server certificate signed by it for `hosts` (DNS names and IP addresses). */
async function generate(dir: string, hosts: readonly string[]): Promise<void> {
  x509.cryptoProvider.set(webcrypto as never);
  const now = Date.now();
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Phaseline local CA (${hostname()})`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 10 * 365 * DAY_MS),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const isIp = (h: string) => /^[\d.]+$/.test(h) || h.includes(':');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=phaseline',
    issuer: ca.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 2 * 365 * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...new Set(hosts)].map((h) => ({ type: isIp(h) ? 'ip' : 'dns', value: h }))),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  await writeAtomic(join(dir, 'ca-key.pem'), await pemKey(caKeys.privateKey), 0o600);
  await writeAtomic(join(dir, 'ca.pem'), ca.toString('pem') + '\n', 0o644);
  await writeAtomic(join(dir, 'server-key.pem'), await pemKey(keys.privateKey), 0o600);
  await writeAtomic(join(dir, 'server.pem'), cert.toString('pem') + '\n', 0o644);
}

/**
 * The TLS material for NATS and HTTPS (IEC 62443-3-3 SR 4.1 communication confidentiality, SR 3.1 integrity): the
 * given files, or on first use a local CA and a server certificate for loopback, `localhost`, this host's name and
 * `extraHosts`, generated under `<var>/tls/` (keys 0600). Clients trust `ca.pem`.
 */
export async function ensureTlsMaterial(varDir: string, given: TlsPaths = {}, extraHosts: readonly string[] = []): Promise<TlsMaterial> {
  let { certFile, keyFile, caFile } = given;
  if (!certFile || !keyFile) {
    const dir = join(varDir, 'tls');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    [certFile, keyFile] = [join(dir, 'server.pem'), join(dir, 'server-key.pem')];
    caFile ??= join(dir, 'ca.pem');
    const have = await readFile(certFile, 'utf8').then(() => true, () => false);
    if (!have) {
      const hosts = ['127.0.0.1', '::1', 'localhost', hostname(), ...extraHosts.filter((h) => h && h !== '0.0.0.0' && h !== '::')];
      await generate(dir, hosts);
    }
  }
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  // With given paths and no CA, the certificate itself is the trust anchor (a self-signed certificate).
  caFile ??= certFile;
  return { certFile, keyFile, caFile, cert, key, ca: await readFile(caFile, 'utf8') };
}
