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
 * Each command prints what it made as one JSON line on stdout (psk's carries `psk: "ID:HEX"`, the
 * form `--psk` takes) and errors on stderr. Formats: docs/pki.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
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
import { command, dispatch, intOption, type OptionTable, required, type SubCommand, UsageError } from './args.ts';

function date(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${name} must be an ISO date, got '${v}'`);
  return d;
}

function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${v}'`);
  return n;
}

const line = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const VALIDITY = {
  days: { type: 'string', arg: 'N', help: 'validity in days from now' },
  'not-before': { type: 'string', arg: 'ISO', help: 'start of validity (with --not-after, instead of --days)' },
  'not-after': { type: 'string', arg: 'ISO', help: 'end of validity' },
} as const satisfies OptionTable;

const ca = command(
  {
    name: 'pki ca',
    usage: '--out DIR [options]',
    about:
      'A root CA (or an intermediate signed by the CA in --parent DIR): DIR/ca.pem, DIR/ca.key, DIR/root.pem\n' +
      '(+ DIR/chain.pem for an intermediate). Prints one JSON line.',
    options: {
      out: { type: 'string', arg: 'DIR', help: 'directory to write the CA to' },
      cn: { type: 'string', arg: 'NAME', help: "subject common name (default 'SecureSense CA')" },
      ...VALIDITY,
      parent: { type: 'string', arg: 'DIR', help: 'make an intermediate signed by the CA in DIR' },
      'path-length': { type: 'string', arg: 'N', help: 'basicConstraints pathLenConstraint' },
    },
  },
  async ({ values }) => {
    const out = required(values.out, '--out');
    const material = await createCa({
      cn: values.cn ?? (values.parent ? 'SecureSense Intermediate CA' : 'SecureSense CA'),
      days: positiveInt(values.days, '--days'),
      notBefore: date(values['not-before'], '--not-before'),
      notAfter: date(values['not-after'], '--not-after'),
      parent: values.parent ? readCaDir(values.parent) : undefined,
      pathLength: intOption(values['path-length'], '--path-length', 0, 255),
    });
    const files = writeCaDir(out, material);
    line({ ...files, ...describeCertificate(material.certPem) });
    return 0;
  },
);

const issue = command(
  {
    name: 'pki issue',
    usage: '--ca DIR --cn NAME --out PREFIX [options]',
    about:
      'A P-256 end-entity certificate: PREFIX.pem, PREFIX.key, PREFIX-chain.pem. --key certifies an existing\n' +
      "key, --csr the key of a PKCS#10 request (no PREFIX.key; --cn may be left out to keep the request's\n" +
      'subject). Prints one JSON line.',
    options: {
      ca: { type: 'string', arg: 'DIR', help: 'the issuing CA (made by pki ca)' },
      cn: { type: 'string', arg: 'NAME', help: 'subject common name' },
      dns: { type: 'string', multiple: true, arg: 'HOST', help: 'a DNS subjectAltName' },
      ip: { type: 'string', multiple: true, arg: 'ADDR', help: 'an IP subjectAltName' },
      server: { type: 'boolean', help: 'server authentication only (default both)' },
      client: { type: 'boolean', help: 'client authentication only (default both)' },
      ...VALIDITY,
      key: { type: 'string', arg: 'FILE', help: 'certify this private key instead of making one' },
      csr: { type: 'string', arg: 'FILE', help: 'certify the key of this PKCS#10 request' },
      out: { type: 'string', arg: 'PREFIX', help: 'where the files go' },
    },
  },
  async ({ values }) => {
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
  },
);

const rpk = command(
  {
    name: 'pki rpk',
    usage: '--key FILE [--out FILE]',
    about:
      'The raw public key (SubjectPublicKeyInfo PEM) of a private key, public key or certificate. Prints one\n' +
      'JSON line: {"rpk": FILE, "fingerprint"} with --out, {"spki": PEM, "fingerprint"} without (SHA-256 hex).',
    options: {
      key: { type: 'string', arg: 'FILE', help: 'a PEM private key, public key or certificate' },
      out: { type: 'string', arg: 'FILE', help: 'write the SubjectPublicKeyInfo PEM here' },
    },
  },
  async ({ values }) => {
    const { spkiPem, fingerprint } = rawPublicKey(readFileSync(required(values.key, '--key'), 'utf8'));
    if (values.out) {
      writeFileSync(values.out, spkiPem);
      line({ rpk: values.out, fingerprint });
    } else line({ spki: spkiPem, fingerprint });
    return 0;
  },
);

const keygen = command(
  {
    name: 'pki keygen',
    usage: '--out FILE',
    about: 'A P-256 private key (PKCS#8 PEM, mode 0600). Prints {"key": FILE, "fingerprint"} (its raw public key).',
    options: { out: { type: 'string', arg: 'FILE', help: 'where the key goes' } },
  },
  async ({ values }) => {
    const out = required(values.out, '--out');
    const keyPem = await generateKeyPem();
    writeFileSync(out, keyPem, { mode: 0o600 });
    line({ key: out, fingerprint: rawPublicKey(keyPem).fingerprint });
    return 0;
  },
);

const psk = command(
  {
    name: 'pki psk',
    usage: '[--identity ID] [--bytes N]',
    about:
      'A random pre-shared key. Prints one JSON line: {"identity", "key" (hex), "psk": "ID:HEX"}, the last\n' +
      'in the form --psk takes (`securesense pki psk | jq -r .psk`).',
    options: {
      identity: { type: 'string', arg: 'ID', help: 'the PSK identity (default device-<8 hex>)' },
      bytes: { type: 'string', arg: 'N', help: 'key length in bytes (default 16)' },
    },
  },
  async ({ values }) => {
    const { identity, keyHex } = generatePsk({
      identity: values.identity,
      bytes: positiveInt(values.bytes, '--bytes'),
    });
    line({ identity, key: keyHex, psk: `${identity}:${keyHex}` });
    return 0;
  },
);

const SUBS: Record<string, SubCommand> = {
  ca: { summary: 'a root or intermediate CA', run: ca },
  issue: { summary: 'a P-256 end-entity certificate (new key, --key or --csr)', run: issue },
  rpk: { summary: 'the raw public key (SPKI) of a key or certificate, and its SHA-256', run: rpk },
  keygen: { summary: 'a P-256 private key', run: keygen },
  psk: { summary: 'a random pre-shared key (JSON with its ID:HEX form)', run: psk },
};

export async function run(args: string[]): Promise<number> {
  return dispatch('pki', SUBS, args);
}
