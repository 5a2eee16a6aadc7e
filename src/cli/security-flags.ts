/**
 * The DTLS security flags that every SecureSense tool takes (`securesense dtls`, `securesense coap`,
 * `securesense device run`): their option tables (with the help lines) and their parser, once:
 * `--psk ID:HEX` (repeatable), `--cert FILE --key FILE`, `--ca FILE …`, `--rpk-key FILE`,
 * `--trust-rpk FILE …`, `--client-auth none|want|need`, `--no-verify-name`, `--mtu N`, `--hint TEXT`.
 *
 *   const OPTIONS = { port: { type: 'string', arg: 'N', help: 'UDP port' }, ...SECURITY_OPTIONS };
 *   const sec = readSecurityFlags(values, 'server');       // throws an Error naming the flag / file
 *   const server = await DtlsServer.listen({ port, ...dtlsServerSecurity(sec) });
 *
 * It speaks of DTLS only; the client fragment is exactly what `coaps://` takes (`CoapsSecurity` is
 * the same `DtlsClientOptions` minus the address fields). Public-key files are read and checked by
 * {@link loadCredentialFiles}, whose messages name the file at fault.
 */
import {
  type ClientAuth,
  type CredentialFiles,
  loadCredentialFiles,
  type PeerTrust,
  type PublicKeyCredentials,
} from '../dtls/credentials/keys.ts';
import { type PskCredential, pskLookup } from '../dtls/credentials/psk.ts';
import type { DtlsClientOptions, DtlsServerOptions } from '../dtls/index.ts';
import type { OptionTable } from './args.ts';

export type { PskCredential } from '../dtls/credentials/psk.ts';

const GROUP = 'security';

/** Credentials and trust: both roles. */
export const CREDENTIAL_OPTIONS = {
  psk: { type: 'string', multiple: true, arg: 'ID:HEX', help: 'pre-shared key identity and key (hex)', group: GROUP },
  cert: { type: 'string', arg: 'FILE', help: 'our X.509 certificate (PEM; its chain may follow)', group: GROUP },
  key: { type: 'string', arg: 'FILE', help: 'the private key of --cert', group: GROUP },
  ca: { type: 'string', multiple: true, arg: 'FILE', help: 'a trust anchor (PEM)', group: GROUP },
  'rpk-key': {
    type: 'string',
    arg: 'FILE',
    help: 'a P-256 private key whose public key is our raw public key (RFC 7250)',
    group: GROUP,
  },
  'trust-rpk': {
    type: 'string',
    multiple: true,
    arg: 'FILE',
    help: 'pinned raw public keys (PEM) or SHA-256 fingerprints',
    group: GROUP,
  },
  'client-auth': {
    type: 'string',
    arg: 'MODE',
    help: '(server) none, want or need a client certificate / raw public key',
    group: GROUP,
  },
  'no-verify-name': {
    type: 'boolean',
    help: '(client) accept a server certificate whatever names it carries',
    group: GROUP,
  },
} as const satisfies OptionTable;

/** Endpoint settings that go with them. */
export const DTLS_SETTING_OPTIONS = {
  mtu: { type: 'string', arg: 'N', help: 'largest DTLS datagram, 64..65507', group: GROUP },
  hint: { type: 'string', arg: 'TEXT', help: '(server) PSK identity hint', group: GROUP },
} as const satisfies OptionTable;

export const SECURITY_OPTIONS = { ...CREDENTIAL_OPTIONS, ...DTLS_SETTING_OPTIONS } as const satisfies OptionTable;

/** The raw values of the security flags, as parseArgs returns them for {@link SECURITY_OPTIONS}. */
export interface SecurityFlags {
  psk?: string[];
  cert?: string;
  key?: string;
  ca?: string[];
  'rpk-key'?: string;
  'trust-rpk'?: string[];
  /** Server: ask clients for a certificate or raw public key (none|want|need). */
  'client-auth'?: string;
  /** Client: do not check the server certificate's name against the host connected to. */
  'no-verify-name'?: boolean;
  /** Largest datagram sent, 64..65507 (a UDP payload). */
  mtu?: string;
  /** Server: the PSK identity hint (RFC 4279 §2). */
  hint?: string;
}

/**
 * Which side the flags configure. A 'client' or 'server' tool refuses the other side's flags
 * (`--client-auth`, `--hint` are the server's; `--no-verify-name` is the client's); 'both' (the
 * device agent: a client pushing and a server serving) takes all of them.
 */
export type FlagRole = 'client' | 'server' | 'both';

/** The flags, checked and with their files read. */
export interface ParsedSecurityFlags {
  /** Every `--psk`, in order; a client uses the first. */
  psks: PskCredential[];
  /** What the public-key flags gave (`{}` when none was given). */
  publicKey: PublicKeyCredentials;
  mtu?: number;
  pskIdentityHint?: string;
}

/** A client's credentials, as `connect()` takes them; also `coaps://`'s `CoapsSecurity`. */
export type DtlsClientSecurity = Omit<DtlsClientOptions, 'host' | 'port' | 'endpoint' | 'session' | 'serverName'>;

/** A server's credentials and settings, as `DtlsServer.listen()` takes them. */
export type DtlsServerSecurity = Pick<
  DtlsServerOptions,
  'psk' | 'pskIdentityHint' | 'certificate' | 'rpk' | 'trust' | 'clientAuth' | 'mtu'
>;

/** MTU bounds: a DTLS record header plus a little must fit (64), and a UDP payload cannot exceed 65507 bytes. */
const MTU_MIN = 64;
const MTU_MAX = 65_507;

/**
 * Parses `ID:HEX`. The identity may itself contain ':' (the key is after the last one). RFC 4279
 * §5.3 asks implementations to support identities of up to 128 bytes of UTF-8 and §5.4 keys of
 * up to 64 bytes; longer ones are refused here (RFC 4279 §2 allows up to 2^16−1, but a hex typo
 * that long is more likely than such a key, and peers need not accept it).
 */
export function parsePskFlag(s: string): PskCredential {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`--psk wants ID:HEX, got '${s}'`);
  const identity = s.slice(0, i);
  const hex = s.slice(i + 1);
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error(`--psk key must be an even number of hex digits, got '${hex}'`);
  if (Buffer.byteLength(identity, 'utf8') > 128)
    throw new Error('--psk identity longer than 128 bytes (RFC 4279 §5.3)');
  const key = Buffer.from(hex, 'hex');
  if (key.length > 64) throw new Error('--psk key longer than 64 bytes (RFC 4279 §5.4)');
  return { identity, key };
}

/** `--mtu N`: an integer in 64..65507, or undefined when absent. */
export function parseMtuFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < MTU_MIN || n > MTU_MAX)
    throw new Error(`--mtu must be an integer in ${MTU_MIN}..${MTU_MAX}, got '${v}'`);
  return n;
}

function parseClientAuth(v: string | undefined): ClientAuth | undefined {
  if (v === undefined || v === 'none' || v === 'want' || v === 'need') return v;
  throw new Error(`--client-auth must be none, want or need, got '${v}'`);
}

/**
 * Checks the flags for one role and reads their files. Throws an `Error` whose message names the
 * flag (and the file) at fault; a tool prints it as a usage error.
 */
export function readSecurityFlags(f: SecurityFlags, role: FlagRole = 'both'): ParsedSecurityFlags {
  if (role === 'client') {
    if (f['client-auth'] !== undefined) throw new Error('--client-auth is a server flag');
    if (f.hint !== undefined) throw new Error('--hint is a server flag');
    if ((f.psk?.length ?? 0) > 1) throw new Error('--psk given twice (a client uses one identity)');
  }
  if (role === 'server' && f['no-verify-name']) throw new Error('--no-verify-name is a client flag');

  const psks = (f.psk ?? []).map(parsePskFlag);
  const seen = new Set<string>();
  for (const p of psks) {
    if (seen.has(p.identity)) throw new Error(`--psk identity '${p.identity}' given twice`);
    seen.add(p.identity);
  }
  const clientAuth = parseClientAuth(f['client-auth']);
  const mtu = parseMtuFlag(f.mtu);

  const hasFiles = Boolean(f.cert || f.key || f.ca?.length || f['rpk-key'] || f['trust-rpk']?.length);
  // Both flags only change how certificates and raw public keys are handled; alone they would
  // silently do nothing (a PSK handshake has no certificate to ask for or to check).
  if (!hasFiles) {
    if (clientAuth) throw new Error('--client-auth goes with --cert/--key or --rpk-key, and --ca or --trust-rpk');
    if (f['no-verify-name']) throw new Error('--no-verify-name goes with --ca');
  }
  const publicKey = hasFiles ? readCredentialFiles(f, clientAuth) : {};
  const out: ParsedSecurityFlags = { psks, publicKey };
  if (mtu !== undefined) out.mtu = mtu;
  if (f.hint !== undefined) out.pskIdentityHint = f.hint;
  return out;
}

/**
 * Reads each flag's files through {@link loadCredentialFiles} on its own, so that an error says
 * which flag pointed at the bad file (the loader's message names the file), then joins the parts.
 */
function readCredentialFiles(f: SecurityFlags, clientAuth: ClientAuth | undefined): PublicKeyCredentials {
  const load = (flag: string, files: CredentialFiles): PublicKeyCredentials => {
    try {
      return loadCredentialFiles(files);
    } catch (err) {
      throw new Error(`${flag}: ${(err as Error).message}`);
    }
  };
  const out: PublicKeyCredentials = {};
  if (f.cert || f.key) {
    if (!f.cert || !f.key) throw new Error('--cert and --key go together');
    out.certificate = load('--cert/--key', { cert: f.cert, key: f.key }).certificate;
  }
  if (f['rpk-key']) out.rpk = load('--rpk-key', { rpkKey: f['rpk-key'] }).rpk;
  const trust: PeerTrust = {};
  if (f.ca?.length) trust.anchors = load('--ca', { ca: f.ca }).trust?.anchors;
  if (f['trust-rpk']?.length) trust.pinnedKeys = load('--trust-rpk', { trustRpk: f['trust-rpk'] }).trust?.pinnedKeys;
  if (f['no-verify-name']) trust.verifyName = false;
  if (Object.keys(trust).length > 0) out.trust = trust;
  if (clientAuth) out.clientAuth = clientAuth;
  return out;
}

/** True when a server has something to authenticate itself with: a PSK, a certificate or a raw public key. */
export function hasServerCredentials(s: ParsedSecurityFlags): boolean {
  return s.psks.length > 0 || Boolean(s.publicKey.certificate || s.publicKey.rpk);
}

/**
 * The server's options: a constant-time PSK lookup over every `--psk`, its public-key credentials
 * and policy, hint and MTU. Undefined when {@link hasServerCredentials} is false, so that each tool
 * can say which of its features needs them.
 */
export function dtlsServerSecurity(s: ParsedSecurityFlags): DtlsServerSecurity | undefined {
  if (!hasServerCredentials(s)) return undefined;
  const { certificate, rpk, trust, clientAuth } = s.publicKey;
  return dropUndefined({
    psk: s.psks.length > 0 ? pskLookup(s.psks) : undefined,
    pskIdentityHint: s.pskIdentityHint,
    certificate,
    rpk,
    trust,
    clientAuth,
    mtu: s.mtu,
  });
}

/**
 * The client's options (also `coaps://`'s `CoapsSecurity`): the first `--psk`, our certificate or
 * raw public key, what we trust, the MTU. Undefined when no credential flag was given. Throws when
 * the client could authenticate no server: no PSK and nothing to verify a certificate or raw
 * public key with (RFC 7250 §3 / RFC 5246 §7.4.2: the server always authenticates).
 */
export function dtlsClientSecurity(s: ParsedSecurityFlags): DtlsClientSecurity | undefined {
  const { certificate, rpk, trust } = s.publicKey;
  const psk = s.psks[0];
  if (!psk && !certificate && !rpk && !trust) return undefined;
  if (!psk && !trust) {
    throw new Error(
      'give --psk, or --ca / --trust-rpk to verify the server (with --cert/--key or --rpk-key to authenticate)',
    );
  }
  return dropUndefined({ psk, certificate, rpk, trust, mtu: s.mtu });
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
