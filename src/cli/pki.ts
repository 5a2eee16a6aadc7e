/**
 * `securesense pki …`: make the credentials of the three CoAP security modes (RFC 7252 §9):
 *
 *   pki ca --out DIR [--cn NAME] [--days N] [--parent DIR] [--path-length N]
 *   pki issue --ca DIR --cn NAME [--dns H …] [--ip A …] [--server|--client] [--days N]
 *             [--not-before ISO --not-after ISO] [--key FILE | --csr FILE] --out PREFIX
 *   pki rpk --key FILE [--out FILE]
 *   pki keygen --out FILE
 *   pki psk [--identity ID] [--bytes 16]
 *
 * Each command prints what it made on stdout (one JSON line for ca/issue/keygen, the SPKI
 * fingerprint for rpk, ID:HEX for psk) and errors on stderr. Formats: docs/pki.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createCa,
  describeCertificate,
  generateKeyPem,
  generatePsk,
  issueCertificate,
  rawPublicKey,
  readCaDir,
  writeCaDir,
  writeIssued,
} from '../pki/index.ts';

export const summary = 'create a CA, issue certificates, export raw public keys, make PSKs';

const USAGE = `usage: securesense pki <command> [options]

  ca     --out DIR [--cn NAME] [--days N] [--parent DIR] [--path-length N]
         a root CA (or an intermediate signed by the CA in --parent DIR):
         DIR/ca.pem, DIR/ca.key, DIR/root.pem (+ DIR/chain.pem for an intermediate)
  issue  --ca DIR --cn NAME [--dns HOST …] [--ip ADDR …] [--server|--client]
         [--days N] [--not-before ISO --not-after ISO] [--key FILE | --csr FILE] --out PREFIX
         a P-256 end-entity certificate: PREFIX.pem, PREFIX.key, PREFIX-chain.pem
         (--key certifies an existing key, --csr the key of a PKCS#10 request: no PREFIX.key,
         and --cn may be left out to keep the request's subject)
  rpk    --key FILE [--out FILE]
         the raw public key (SubjectPublicKeyInfo PEM) of a key or certificate; prints its SHA-256
  keygen --out FILE
         a P-256 private key (PKCS#8 PEM); prints its raw-public-key SHA-256
  psk    [--identity ID] [--bytes 16]
         a random pre-shared key, printed as ID:HEX
`;

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
}

function date(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`${name} must be an ISO date, got '${v}'`);
  return d;
}

function required(v: string | undefined, name: string): string {
  if (!v) throw new Error(`${name} is required\n${USAGE}`);
  return v;
}

const line = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function ca(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: 'string' },
      cn: { type: 'string' },
      days: { type: 'string' },
      parent: { type: 'string' },
      'path-length': { type: 'string' },
      'not-before': { type: 'string' },
      'not-after': { type: 'string' },
    },
    strict: true,
  });
  const out = required(values.out, '--out');
  const pathLength = values['path-length'] === undefined ? undefined : Number(values['path-length']);
  if (pathLength !== undefined && (!Number.isInteger(pathLength) || pathLength < 0)) {
    throw new Error('--path-length must be a non-negative integer');
  }
  const material = await createCa({
    cn: values.cn ?? (values.parent ? 'SecureSense Intermediate CA' : 'SecureSense CA'),
    days: positiveInt(values.days, '--days'),
    notBefore: date(values['not-before'], '--not-before'),
    notAfter: date(values['not-after'], '--not-after'),
    parent: values.parent ? readCaDir(values.parent) : undefined,
    pathLength,
  });
  const files = writeCaDir(out, material);
  line({ ...files, ...describeCertificate(material.certPem) });
  return 0;
}

async function issue(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ca: { type: 'string' },
      cn: { type: 'string' },
      dns: { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      server: { type: 'boolean' },
      client: { type: 'boolean' },
      days: { type: 'string' },
      'not-before': { type: 'string' },
      'not-after': { type: 'string' },
      key: { type: 'string' },
      csr: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const usage = values.server && !values.client ? 'server' : values.client && !values.server ? 'client' : 'both';
  const issued = await issueCertificate({
    ca: readCaDir(required(values.ca, '--ca')),
    cn: values.csr ? values.cn : required(values.cn, '--cn'),
    dns: values.dns,
    ip: values.ip,
    usage,
    days: positiveInt(values.days, '--days'),
    notBefore: date(values['not-before'], '--not-before'),
    notAfter: date(values['not-after'], '--not-after'),
    keyPem: values.key ? readFileSync(values.key, 'utf8') : undefined,
    csrPem: values.csr ? readFileSync(values.csr) : undefined,
  });
  const files = writeIssued(required(values.out, '--out'), issued);
  line({ ...files, usage, ...describeCertificate(issued.certPem) });
  return 0;
}

async function rpk(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { key: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const { spkiPem, fingerprint } = rawPublicKey(readFileSync(required(values.key, '--key'), 'utf8'));
  if (values.out) writeFileSync(values.out, spkiPem);
  else process.stdout.write(spkiPem);
  process.stdout.write(`${fingerprint}\n`);
  return 0;
}

async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' } }, strict: true });
  const out = required(values.out, '--out');
  const keyPem = await generateKeyPem();
  writeFileSync(out, keyPem, { mode: 0o600 });
  line({ key: out, fingerprint: rawPublicKey(keyPem).fingerprint });
  return 0;
}

async function psk(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { identity: { type: 'string' }, bytes: { type: 'string' } },
    strict: true,
  });
  const { identity, keyHex } = generatePsk({ identity: values.identity, bytes: positiveInt(values.bytes, '--bytes') });
  process.stdout.write(`${identity}:${keyHex}\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { ca, issue, rpk, keygen, psk };

export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`securesense pki: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  try {
    return await cmd(rest);
  } catch (err) {
    process.stderr.write(`securesense pki ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
