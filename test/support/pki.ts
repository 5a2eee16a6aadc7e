/**
 * A throw-away PKI for tests, made with the project's own `src/pki` (the files `securesense pki`
 * writes, which tests elsewhere prove OpenSSL and GnuTLS accept). Everything lives in one temp
 * directory that is removed when the test ends.
 *
 *   const pki = await makeTempPki(t);
 *   pki.root.cert                      trust anchor file (--ca / -CAfile)
 *   pki.server.{cert,key,chain}        CN=localhost, DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth
 *   pki.device.{cert,key,chain}        CN=device-1, clientAuth
 *   pki.expired                        a server certificate that expired in 2021
 *   pki.untrusted                      a server certificate from another CA (pki.untrustedCa)
 *   pki.rpkServer / rpkClient / rpkStranger   raw-public-key pairs: {key, spki (PEM file), spkiDer, fingerprint}
 *
 * By default leaves are issued by an intermediate, so every chain sent has two certificates (and is
 * long enough to need fragmentation at a 256-byte MTU); `{ intermediate: false }` issues from the
 * root, `{ intermediates: n }` puts n intermediate CAs in between (chains of n + 1 certificates).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CaMaterial,
  createCa,
  generateKeyPem,
  issueCertificate,
  issuedFilePaths,
  rawPublicKey,
  writeCaDir,
  writeIssued,
} from '../../src/pki/index.ts';

export interface IssuedFiles {
  /** PEM certificate file. */
  cert: string;
  /** PEM PKCS#8 key file. */
  key: string;
  /** The certificate followed by its intermediates (what a peer sends). */
  chain: string;
  certPem: string;
  keyPem: string;
  chainPem: string;
}

export interface CaFilesInfo {
  dir: string;
  /** This CA's certificate. */
  cert: string;
  key: string;
  certPem: string;
  material: CaMaterial;
}

export interface RpkFiles {
  /** PEM PKCS#8 private key file. */
  key: string;
  /** PEM SubjectPublicKeyInfo file. */
  spki: string;
  keyPem: string;
  spkiPem: string;
  spkiDer: Buffer;
  /** Lower-case hex SHA-256 of spkiDer. */
  fingerprint: string;
}

export interface TempPki {
  dir: string;
  root: CaFilesInfo;
  /** The CA that issued server/device/expired; the root itself with `{ intermediate: false }`. */
  issuer: CaFilesInfo;
  server: IssuedFiles;
  device: IssuedFiles;
  expired: IssuedFiles;
  untrustedCa: CaFilesInfo;
  untrusted: IssuedFiles;
  rpkServer: RpkFiles;
  rpkClient: RpkFiles;
  rpkStranger: RpkFiles;
  /** Issues another certificate from `issuer` into the temp dir. */
  issue(
    name: string,
    opts?: Omit<Parameters<typeof issueCertificate>[0], 'ca' | 'cn'> & { cn?: string },
  ): Promise<IssuedFiles>;
  cleanup(): void;
}

export interface TempPkiOptions {
  /** Issue leaves from an intermediate CA (default true); false issues them from the root. */
  intermediate?: boolean;
  /** How many intermediate CAs stand between the root and the leaves (default 1; 0 = `intermediate: false`). */
  intermediates?: number;
}

function caInfo(dir: string, material: CaMaterial): CaFilesInfo {
  const files = writeCaDir(dir, material);
  return { dir, cert: files.cert, key: files.key, certPem: material.certPem, material };
}

async function rpkPair(dir: string, name: string): Promise<RpkFiles> {
  const keyPem = await generateKeyPem();
  const { spkiPem, spkiDer, fingerprint } = rawPublicKey(keyPem);
  const key = join(dir, `${name}.key`);
  const spki = join(dir, `${name}.pub`);
  writeFileSync(key, keyPem, { mode: 0o600 });
  writeFileSync(spki, spkiPem);
  return { key, spki, keyPem, spkiPem, spkiDer, fingerprint };
}

/** Makes the PKI; pass the test context to have it removed when the test ends. */
export async function makeTempPki(t?: { after(fn: () => void): void }, opts: TempPkiOptions = {}): Promise<TempPki> {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-pki-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  t?.after(cleanup);
  try {
    const rootMaterial = await createCa({ cn: 'SecureSense Test Root' });
    const root = caInfo(join(dir, 'root'), rootMaterial);
    const depth = opts.intermediates ?? (opts.intermediate === false ? 0 : 1);
    let issuer = root;
    for (let i = 1; i <= depth; i++) {
      const material = await createCa({ cn: `SecureSense Test Intermediate ${i}`, parent: issuer.material });
      issuer = caInfo(join(dir, i === 1 ? 'intermediate' : `intermediate-${i}`), material);
    }
    const issue: TempPki['issue'] = async (name, o = {}) => {
      const issued = await issueCertificate({ ...o, ca: issuer.material, cn: o.cn ?? name });
      const files = writeIssued(join(dir, name), issued);
      return {
        cert: files.cert,
        key: issuedFilePaths(join(dir, name)).key,
        chain: files.chain,
        certPem: issued.certPem,
        keyPem: issued.keyPem!,
        chainPem: issued.chainPem,
      };
    };
    const untrustedMaterial = await createCa({ cn: 'Untrusted CA' });
    const untrustedCa = caInfo(join(dir, 'untrusted-ca'), untrustedMaterial);
    const untrustedIssued = await issueCertificate({
      ca: untrustedMaterial,
      cn: 'localhost',
      dns: ['localhost'],
      ip: ['127.0.0.1', '::1'],
      usage: 'server',
    });
    const untrustedFiles = writeIssued(join(dir, 'untrusted'), untrustedIssued);
    return {
      dir,
      root,
      issuer,
      server: await issue('server', { cn: 'localhost', dns: ['localhost'], ip: ['127.0.0.1', '::1'], usage: 'server' }),
      device: await issue('device', { cn: 'device-1', usage: 'client' }),
      expired: await issue('expired', {
        cn: 'localhost',
        dns: ['localhost'],
        ip: ['127.0.0.1'],
        usage: 'server',
        notBefore: new Date('2020-01-01T00:00:00Z'),
        notAfter: new Date('2021-01-01T00:00:00Z'),
      }),
      untrustedCa,
      untrusted: {
        cert: untrustedFiles.cert,
        key: issuedFilePaths(join(dir, 'untrusted')).key,
        chain: untrustedFiles.chain,
        certPem: untrustedIssued.certPem,
        keyPem: untrustedIssued.keyPem!,
        chainPem: untrustedIssued.chainPem,
      },
      rpkServer: await rpkPair(dir, 'rpk-server'),
      rpkClient: await rpkPair(dir, 'rpk-client'),
      rpkStranger: await rpkPair(dir, 'rpk-stranger'),
      issue,
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
