/**
 * The third-party DTLS 1.2 peers the interop tests run, launched one way: OpenSSL 3
 * (`openssl s_server` / `s_client -dtls1_2`) and GnuTLS (`gnutls-serv` / `gnutls-cli --udp`), with
 * the cipher suites and curves our engine speaks (AES-128-CCM-8; PSK, or ECDHE-ECDSA on P-256 with
 * X.509 or RFC 7250 raw public keys). Every peer is killed when the test ends (test/support/peers.ts);
 * servers listen on a free port and are ready when these resolve.
 *
 *   if (!requireBinary(t, 'openssl')) return;
 *   const { port, peer } = await startOpensslDtlsServer(t, { psk: { identity: 'dev1', keyHex } });
 *   const cli = gnutlsCli(t, port, gnutlsPskArgs('dev1', keyHex));
 */
import { type EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  connect,
  type DtlsClientOptions,
  type DtlsConnection,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { type LaunchOptions, launchFor, type Peer } from './peers.ts';
import type { TempPki } from './pki.ts';
import { freeUdpPort, sleep } from './ports.ts';

/** GnuTLS priority strings: DTLS 1.2 and AES-128-CCM-8 only, with each key exchange. */
export const GNUTLS_PRIORITY = {
  psk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8',
  x509: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1',
  rpk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1:-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK',
} as const;

/** OpenSSL's names of the two suites (RFC 6655 / RFC 7251). */
export const OPENSSL_CIPHER = { psk: 'PSK-AES128-CCM8', ecdsa: 'ECDHE-ECDSA-AES128-CCM8' } as const;

export interface PskArgs {
  identity: string;
  /** The key in hex. */
  keyHex: string;
}

/** Our certificate for an OpenSSL peer: leaf, key, and the intermediates sent after the leaf. */
export interface OpensslCertArgs {
  cert: string;
  key: string;
  /** -cert_chain: a PEM file of the intermediates. */
  chain?: string;
}

/** `-psk HEX -psk_identity ID -cipher PSK-AES128-CCM8`. */
export function opensslPskArgs(p: PskArgs): string[] {
  return ['-psk', p.keyHex, '-psk_identity', p.identity, '-cipher', OPENSSL_CIPHER.psk];
}

function opensslCertArgs(c: OpensslCertArgs | undefined): string[] {
  if (!c) return [];
  return ['-cert', c.cert, '-key', c.key, ...(c.chain ? ['-cert_chain', c.chain] : [])];
}

export interface OpensslServerOptions {
  /** PSK mode (-nocert). */
  psk?: PskArgs;
  /** X.509 mode (ECDHE-ECDSA-AES128-CCM8): the server's certificate. */
  cert?: OpensslCertArgs;
  /** -CAfile: anchors for client certificates. */
  caFile?: string;
  /** -Verify N -verify_return_error: require a client certificate and refuse a bad one. */
  requireClientCert?: boolean;
  /** Further s_server arguments. */
  args?: string[];
  launch?: LaunchOptions;
}

/** `openssl s_server -dtls1_2` on a free port of 127.0.0.1, ready (it printed ACCEPT). */
export async function startOpensslDtlsServer(
  t: TestContext,
  o: OpensslServerOptions,
): Promise<{ peer: Peer; port: number }> {
  const port = await freeUdpPort();
  const args = ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`];
  if (o.psk) args.push('-nocert', ...opensslPskArgs(o.psk));
  if (o.cert) args.push('-cipher', OPENSSL_CIPHER.ecdsa, ...opensslCertArgs(o.cert));
  if (o.caFile) args.push('-CAfile', o.caFile);
  if (o.requireClientCert) args.push('-Verify', '3', '-verify_return_error');
  const peer = launchFor(t, 'openssl', [...args, ...(o.args ?? [])], o.launch);
  await peer.waitFor('ACCEPT');
  return { peer, port };
}

export interface OpensslClientOptions {
  psk?: PskArgs;
  /** X.509 mode (ECDHE-ECDSA-AES128-CCM8 on P-256). Our certificate, when the server asks for one. */
  cert?: OpensslCertArgs;
  /** X.509 mode without a client certificate. */
  x509?: boolean;
  /** -CAfile: anchors for the server's certificate. */
  caFile?: string;
  /** -verify_return_error: abort on a bad server certificate. */
  verifyReturnError?: boolean;
  /** Further s_client arguments (-quiet, -servername, -sess_out …). */
  args?: string[];
  host?: string;
  launch?: LaunchOptions;
}

/** `openssl s_client -dtls1_2 -connect 127.0.0.1:PORT …`. */
export function opensslDtlsClient(t: TestContext, port: number, o: OpensslClientOptions): Peer {
  const args = ['s_client', '-dtls1_2', '-connect', `${o.host ?? '127.0.0.1'}:${port}`];
  if (o.psk) args.push(...opensslPskArgs(o.psk));
  if (o.cert || o.x509) args.push('-cipher', OPENSSL_CIPHER.ecdsa, '-groups', 'P-256');
  if (o.caFile) args.push('-CAfile', o.caFile);
  if (o.verifyReturnError) args.push('-verify_return_error');
  args.push(...opensslCertArgs(o.cert), ...(o.args ?? []));
  return launchFor(t, 'openssl', args, o.launch);
}

/**
 * Two `openssl s_client` PSK sessions to PORT, the second resuming the first (`-sess_out`, then
 * `-sess_in` of a session file under a temporary directory named after `tmpPrefix`): each waits for
 * its handshake line (New, then Reused) and for the echo of one line it sends.
 */
export async function opensslPskResumption(
  t: TestContext,
  port: number,
  psk: PskArgs,
  tmpPrefix: string,
): Promise<void> {
  const sess = join(mkdtempSync(join(tmpdir(), tmpPrefix)), 'sess.pem');
  const first = opensslDtlsClient(t, port, { psk, args: ['-sess_out', sess] });
  await first.waitFor(/New, TLSv1.2, Cipher is PSK-AES128-CCM8/);
  first.write('one\n');
  await first.waitFor(/\none\n/);
  first.proc.stdin?.end();
  await first.exited;
  const second = opensslDtlsClient(t, port, { psk, args: ['-sess_in', sess] });
  await second.waitFor(/Reused, TLSv1.2, Cipher is PSK-AES128-CCM8/);
  second.write('two\n');
  await second.waitFor(/\ntwo\n/);
}

/** `--pskusername ID --pskkey HEX --priority <PSK with AES-128-CCM-8>`. */
export function gnutlsPskArgs(p: PskArgs): string[] {
  return ['--pskusername', p.identity, '--pskkey', p.keyHex, '--priority', GNUTLS_PRIORITY.psk];
}

/** A raw public key for gnutls-cli/serv: `--rawpkkeyfile KEY --rawpkfile SPKI` with the RPK priority. */
export function gnutlsRpkArgs(files: { key: string; spki: string }): string[] {
  return ['--priority', GNUTLS_PRIORITY.rpk, '--rawpkkeyfile', files.key, '--rawpkfile', files.spki];
}

/** `gnutls-cli --udp -p PORT HOST ARGS…` (HOST default 127.0.0.1; `localhost` for a name check). */
export function gnutlsCli(
  t: TestContext,
  port: number,
  args: string[],
  o: { host?: string } & LaunchOptions = {},
): Peer {
  const { host = '127.0.0.1', ...launch } = o;
  return launchFor(t, 'gnutls-cli', ['--udp', '-p', String(port), host, ...args], launch);
}

/**
 * `gnutls-cli --udp` with a PSK against our server listening on PORT: resolves with our side's
 * connection, the peer, and the peer's output once it reports the handshake completed.
 */
export async function gnutlsCliPskHandshake(
  t: TestContext,
  server: EventEmitter,
  port: number,
  psk: PskArgs,
): Promise<{ c: DtlsConnection; peer: Peer; out: string }> {
  const conn = once(server, 'connection');
  const peer = gnutlsCli(t, port, gnutlsPskArgs(psk));
  const [c] = (await conn) as [DtlsConnection];
  await peer.waitFor('Handshake was completed');
  return { c, peer, out: peer.stdout() + peer.stderr() };
}

/** `gnutls-serv --udp --echo` on a free port with ARGS…, ready for a handshake. */
export async function startGnutlsServ(
  t: TestContext,
  args: string[],
  launch?: LaunchOptions,
): Promise<{ peer: Peer; port: number }> {
  const port = await freeUdpPort();
  const peer = launchFor(t, 'gnutls-serv', ['--udp', '--echo', '-p', String(port), ...args], launch);
  await peer.waitFor('listening on IPv4');
  // gnutls-serv prints before its socket loop runs; a ClientHello sent at once can be lost.
  await sleep(50);
  return { peer, port };
}

/** A gnutls-serv `--pskpasswd` file (`identity:hexkey` lines) in a temp directory removed after the test. */
export function gnutlsPskFile(t: TestContext, psks: PskArgs[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-psk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'psk.txt');
  writeFileSync(file, psks.map((p) => `${p.identity}:${p.keyHex}\n`).join(''), { mode: 0o600 });
  return file;
}

/**
 * `gnutls-serv` with the temporary PKI's server raw public key, and our client connected to it with
 * its own raw public key and the server's pinned (plus any `extra` client options).
 */
export async function connectRpkToGnutlsServ(
  t: TestContext,
  pki: TempPki,
  extra: Partial<DtlsClientOptions> = {},
): Promise<DtlsConnection> {
  const { port } = await startGnutlsServ(t, gnutlsRpkArgs(pki.rpkServer));
  return connect({
    host: '127.0.0.1',
    port,
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
    ...extra,
    retransmitInitialMs: 300,
  });
}
