/**
 * The PKI on disk, in the layout `securesense pki` writes and reads:
 *
 *   CA directory:   ca.pem (certificate), ca.key (PKCS#8 key, mode 0600), root.pem (the trust
 *                   anchor: ca.pem itself for a root), chain.pem (intermediates from this CA up to
 *                   the root, leaf-most first; only for an intermediate)
 *   issued PREFIX:  PREFIX.pem (certificate), PREFIX.key (PKCS#8, 0600), PREFIX-chain.pem (the
 *                   certificate followed by the intermediates: what a server or device sends)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CaMaterial } from './pki.ts';

export interface CaFiles {
  cert: string;
  key: string;
  root: string;
  chain?: string;
}

export function caFilePaths(dir: string): Required<CaFiles> {
  return {
    cert: join(dir, 'ca.pem'),
    key: join(dir, 'ca.key'),
    root: join(dir, 'root.pem'),
    chain: join(dir, 'chain.pem'),
  };
}

export function writeCaDir(dir: string, ca: CaMaterial): CaFiles {
  mkdirSync(dir, { recursive: true });
  const p = caFilePaths(dir);
  writeFileSync(p.cert, ca.certPem);
  writeFileSync(p.key, ca.keyPem, { mode: 0o600 });
  writeFileSync(p.root, ca.rootPem);
  if (ca.chainPem) {
    writeFileSync(p.chain, ca.chainPem);
    return p;
  }
  return { cert: p.cert, key: p.key, root: p.root };
}

export function readCaDir(dir: string): CaMaterial {
  const p = caFilePaths(dir);
  if (!existsSync(p.cert) || !existsSync(p.key)) {
    throw new Error(
      `${dir} is not a CA directory (needs ca.pem and ca.key; make one with 'securesense pki ca --out ${dir}')`,
    );
  }
  const certPem = readFileSync(p.cert, 'utf8');
  return {
    certPem,
    keyPem: readFileSync(p.key, 'utf8'),
    chainPem: existsSync(p.chain) ? readFileSync(p.chain, 'utf8') : '',
    rootPem: existsSync(p.root) ? readFileSync(p.root, 'utf8') : certPem,
  };
}

export function issuedFilePaths(prefix: string): { cert: string; key: string; chain: string } {
  return { cert: `${prefix}.pem`, key: `${prefix}.key`, chain: `${prefix}-chain.pem` };
}

/** Writes PREFIX.pem, PREFIX-chain.pem and, when there is a key (not for a CSR), PREFIX.key. */
export function writeIssued(prefix: string, issued: { certPem: string; keyPem?: string; chainPem: string }) {
  const p = issuedFilePaths(prefix);
  mkdirSync(dirname(p.cert), { recursive: true });
  writeFileSync(p.cert, issued.certPem);
  writeFileSync(p.chain, issued.chainPem);
  if (issued.keyPem === undefined) return { cert: p.cert, chain: p.chain };
  writeFileSync(p.key, issued.keyPem, { mode: 0o600 });
  return p;
}
