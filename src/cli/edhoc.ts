/**
 * `securesense edhoc server|client`: an EDHOC (RFC 9528) key exchange over CoAP
 * (`/.well-known/edhoc`), printing the derived OSCORE Security Context input as JSON lines.
 *
 *   securesense edhoc server --port 5683 --key r.pem --kid 02 --peer 01:i.pub.pem
 *   securesense edhoc client coap://127.0.0.1:5683 --key i.pem --kid 01 --peer 02:r.pub.pem
 *
 * Credentials: our key (PEM: P-256, Ed25519 or X25519 private key) referenced by `--kid` as a CCS,
 * or by our X.509 certificate (`--cert`, referenced by x5t); peers as `KID:PUBLIC-KEY-PEM` or
 * `--peer-cert FILE`. `--auth static-dh` authenticates with the key's static DH half (methods 1–3).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createDemoServer } from '../coap/demo.ts';
import { CoapClient, UdpTransport } from '../coap/index.ts';
import { certificatesFromPem, loadTrustAnchors } from '../dtls/credentials/x509.ts';
import type { OwnAuthKey } from '../edhoc/auth.ts';
import { EDHOC_PATH, EdhocResource, edhocOverCoap } from '../edhoc/coap.ts';
import {
  authKeyOf,
  type CredentialResolver,
  ccsCredential,
  type EdhocCredential,
  knownCredentials,
  rpkByValue,
  rpkCredential,
  spkiOf,
  x509Credential,
} from '../edhoc/credentials.ts';
import { dhKeyPairFromPrivate } from '../edhoc/crypto.ts';
import { edhocOscoreParams } from '../edhoc/oscore-binding.ts';
import { oscoreContextJson } from '../edhoc/oscore-context.ts';
import type { EdhocSession } from '../edhoc/session.ts';
import { suiteById } from '../edhoc/suites.ts';
import { anyCredential, x509ChainResolver } from '../edhoc/x509-trust.ts';
import { OscoreContext } from '../oscore/context.ts';
import { OscoreServerContexts } from '../oscore/server.ts';
import { command, dispatch, intOption, type OptionTable, type SubCommand, UsageError } from './args.ts';
import { LineBatch } from './line-batch.ts';

const COMMON = {
  key: { type: 'string', arg: 'FILE', help: 'our private key (PEM: P-256, Ed25519 or X25519)' },
  kid: { type: 'string', arg: 'HEX', help: 'our kid: credential is a CCS with our public key' },
  cert: { type: 'string', arg: 'FILE', help: 'our X.509 certificate (PEM or DER), referenced by x5t' },
  peer: { type: 'string', arg: 'KID:FILE', multiple: true, help: "a peer's kid and public key (PEM)" },
  'peer-cert': { type: 'string', arg: 'FILE', multiple: true, help: "a peer's X.509 certificate" },
  trust: { type: 'string', arg: 'FILE', help: 'CA certificates (PEM): accept peers that send a chain to them' },
  'trust-rpk': {
    type: 'string',
    arg: 'FILE',
    multiple: true,
    help: "a peer's raw public key (PEM), sent by value or referenced by its fingerprint kid",
  },
  'send-cert': { type: 'boolean', help: 'send our certificate by value (x5chain) instead of its x5t hash' },
  auth: { type: 'string', arg: 'signature|static-dh', help: 'how we authenticate (default signature)' },
  suites: { type: 'string', arg: 'LIST', help: 'cipher suites, comma-separated (default 2; 0 = X25519/EdDSA)' },
} as const satisfies OptionTable;

interface Identity {
  credential: EdhocCredential;
  authKey: OwnAuthKey;
  peers: CredentialResolver;
  suites: number[];
}

function identity(v: {
  key?: string;
  kid?: string;
  cert?: string;
  peer?: string[];
  'peer-cert'?: string[];
  trust?: string;
  'trust-rpk'?: string[];
  'send-cert'?: boolean;
  auth?: string;
  suites?: string;
}): Identity {
  if (!v.key) throw new UsageError('--key is required');
  if (v.kid && v.cert) throw new UsageError('give one of --kid and --cert, not both');
  const auth = v.auth ?? 'signature';
  if (auth !== 'signature' && auth !== 'static-dh') throw new UsageError(`--auth must be signature or static-dh`);
  const priv = createPrivateKey(readFileSync(v.key));
  const suites = (v.suites ?? '2').split(',').map((s) => intOption(s, '--suites', 0, 255)!);
  for (const s of suites) if (!suiteById(s)) throw new UsageError(`cipher suite ${s} is not supported (0, 2)`);
  const authKey: OwnAuthKey =
    auth === 'signature' ? { kind: 'signature', key: priv } : { kind: 'static-dh', pair: dhPair(priv) };
  // Neither --kid nor --cert: our raw public key as a CCS whose kid is the first 4 bytes of its SHA-256
  // fingerprint, as the platform's; `coap … --edhoc --trust-rpk OUR.pub` then finds it.
  const credential = v.cert
    ? x509Credential(
        certificatesFromPem(readFileSync(v.cert))[0] ?? readFileSync(v.cert),
        v['send-cert'] ? 'x5chain' : 'x5t',
      )
    : v.kid
      ? ccsCredential({ kid: hexArg(v.kid, '--kid'), publicKey: authKeyOf(createPublicKey(priv)) })
      : rpkCredential(createPublicKey(priv).export({ format: 'der', type: 'spki' }));
  const peers = [
    ...(v.peer ?? []).map((p) => {
      const at = p.indexOf(':');
      if (at < 1) throw new UsageError(`--peer must be KID:FILE, got '${p}'`);
      return ccsCredential({
        kid: hexArg(p.slice(0, at), '--peer'),
        publicKey: authKeyOf(createPublicKey(readFileSync(p.slice(at + 1)))),
      });
    }),
    ...(v['peer-cert'] ?? []).map((f) =>
      x509Credential(certificatesFromPem(readFileSync(f))[0] ?? readFileSync(f), 'x5t'),
    ),
  ];
  // --trust-rpk: raw public keys a peer may send by value (kccs, as `coap … --edhoc --rpk-key` does).
  const byValueKeys = new Set(
    (v['trust-rpk'] ?? []).map((f) => spkiOf(authKeyOf(createPublicKey(readFileSync(f)))).toString('hex')),
  );
  if (peers.length === 0 && !v.trust && byValueKeys.size === 0)
    throw new UsageError('give at least one --peer, --peer-cert, --trust-rpk or --trust');
  peers.push(...[...byValueKeys].map((hex) => rpkCredential(Buffer.from(hex, 'hex'))));
  // By value first: the credential must keep the ID_CRED_x the peer sent, which its signature covers.
  const known = anyCredential(
    rpkByValue((spki) => byValueKeys.has(spki.toString('hex'))),
    knownCredentials(peers),
  );
  const resolver = v.trust
    ? anyCredential(known, x509ChainResolver({ anchors: loadTrustAnchors(readFileSync(v.trust)) }))
    : known;
  return { credential, authKey, peers: resolver, suites };
}

function dhPair(key: KeyObject) {
  const j = key.export({ format: 'jwk' });
  if (typeof j.d !== 'string') throw new UsageError('--key is not a private key');
  const d = Buffer.from(j.d, 'base64url');
  if (j.crv === 'P-256') return dhKeyPairFromPrivate('P-256', d);
  if (j.crv === 'X25519') return dhKeyPairFromPrivate('X25519', d);
  throw new UsageError(`a ${String(j.crv)} key cannot do static DH (use P-256 or X25519)`);
}

function hexArg(v: string, flag: string): Buffer {
  if (!/^([0-9a-f]{2})+$/i.test(v)) throw new UsageError(`${flag}: '${v}' is not hex bytes`);
  return Buffer.from(v, 'hex');
}

function line(event: string, s: EdhocSession, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ event, method: s.method, suite: s.suite.id, ...extra, oscore: oscoreContextJson(s.oscore()) })}\n`;
}

const server = command(
  {
    name: 'edhoc server',
    usage:
      '--port N --key FILE [--kid HEX | --cert FILE] (--peer KID:FILE | --peer-cert FILE | --trust-rpk FILE)… [options]',
    about: `An EDHOC Responder at /.well-known/edhoc, and the demo resources of \`coap serve\` (/time, /sensors, …)
under the OSCORE contexts it derives (RFC 9528 Appendix A.1; the EDHOC + OSCORE request of RFC 9668
too). Prints one JSON line per completed exchange and per request. The contexts live in memory
only: after a restart clients get 4.01 "Security context not found" and run EDHOC again.`,
    options: {
      port: { type: 'string', arg: 'N', help: 'UDP port (default 5683, 0 = any)' },
      host: { type: 'string', arg: 'ADDR', help: 'address to bind (default 127.0.0.1)' },
      ...COMMON,
      'no-message-4': { type: 'boolean', help: 'do not send message_4' },
      count: { type: 'string', arg: 'N', help: 'exit after N exchanges' },
      'max-contexts': {
        type: 'string',
        arg: 'N',
        help: 'OSCORE contexts kept at once (default 1024); the oldest is dropped and counted beyond',
      },
    },
  },
  async ({ values: v }) => {
    const id = identity(v);
    const count = intOption(v.count, '--count', 1, 1_000_000);
    const maxContexts = intOption(v['max-contexts'], '--max-contexts', 1, 1_000_000) ?? 1024;
    let done = 0;
    let finish: () => void = () => {};
    const stop = new Promise<void>((resolve) => {
      finish = resolve;
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const lines = new LineBatch();
    const contexts = new OscoreServerContexts();
    // By Recipient ID (C_R), oldest first: a Map keeps insertion order, so eviction is FIFO.
    const keyed = new Map<string, OscoreContext>();
    let evicted = 0;
    const resource = new EdhocResource({
      suites: id.suites,
      credential: id.credential,
      authKey: id.authKey,
      peers: id.peers,
      sendMessage4: !v['no-message-4'],
      // C_R is our Recipient ID: never one a live context answers to.
      connectionIdInUse: (cR) => keyed.has(cR.toString('hex')),
      accept: async (s, req) => {
        const ctx = await OscoreContext.create(edhocOscoreParams(s));
        const kid = ctx.params.recipientId.toString('hex');
        const previous = keyed.get(kid);
        if (previous) contexts.remove(previous);
        keyed.delete(kid);
        keyed.set(kid, ctx);
        contexts.add(ctx);
        while (keyed.size > maxContexts) {
          const [oldest, old] = keyed.entries().next().value as [string, OscoreContext];
          keyed.delete(oldest);
          contexts.remove(old);
          evicted++;
        }
        const peer = req ? { peer: `${req.peer.address}:${req.peer.port}` } : { combined: true };
        lines.push(line('edhoc', s, peer).trimEnd());
        if (count !== undefined && ++done >= count) setImmediate(finish);
      },
    });
    // RFC 9668: message_3 inside the first OSCORE request completes the exchange through `accept`.
    contexts.edhocCombined = async (cR, message3) => {
      await resource.completeCombined(cR, message3);
    };
    const demo = createDemoServer({
      oscore: contexts,
      onRequest: (req) =>
        lines.push(
          JSON.stringify({
            event: 'request',
            method: req.method,
            path: req.path,
            peer: `${req.peer.address}:${req.peer.port}`,
            ...(req.peer.oscore ? { oscore: req.peer.oscore } : {}),
          }),
        ),
    });
    resource.register(demo.server);
    const tr = await UdpTransport.bind({
      host: v.host ?? '127.0.0.1',
      port: intOption(v.port, '--port', 0, 65535) ?? 5683,
    });
    demo.server.listen(tr);
    const a = tr.address();
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', address: a.address, port: a.port, path: EDHOC_PATH })}\n`,
    );
    await stop;
    lines.flush();
    await demo.close();
    const stats = { ...resource.stats, contexts: keyed.size, maxContexts, contextsEvicted: evicted };
    process.stderr.write(`${JSON.stringify({ event: 'stats', ...stats })}\n`);
    return 0;
  },
);

const client = command(
  {
    name: 'edhoc client',
    usage: 'coap://HOST[:PORT] --key FILE (--kid HEX | --cert FILE) (--peer KID:FILE | --peer-cert FILE)… [options]',
    about: 'An EDHOC Initiator; prints the OSCORE context it derived as one JSON line.',
    positionals: { min: 1, max: 1 },
    options: {
      ...COMMON,
      method: { type: 'string', arg: 'N', help: 'EDHOC method 0..3 (default 0 with signature, 3 with static-dh)' },
      'connection-id': { type: 'string', arg: 'HEX', help: 'C_I, our OSCORE Recipient ID (default random)' },
    },
  },
  async ({ values: v, positionals: [target] }) => {
    const id = identity(v);
    const method = intOption(v.method, '--method', 0, 3) ?? (id.authKey.kind === 'signature' ? 0 : 3);
    const url = new URL(target);
    if (url.protocol !== 'coap:') throw new UsageError(`'${target}' is not a coap:// URI`);
    const uri = `coap://${url.host}${url.pathname === '/' || url.pathname === '' ? EDHOC_PATH : url.pathname}`;
    const c = new CoapClient();
    try {
      const s = await edhocOverCoap(c, uri, {
        method,
        suites: id.suites,
        credential: id.credential,
        authKey: id.authKey,
        peers: id.peers,
        connectionId: v['connection-id'] ? hexArg(v['connection-id'], '--connection-id') : undefined,
      });
      process.stdout.write(line('edhoc', s));
      return 0;
    } finally {
      await c.close();
    }
  },
);

const SUBS: Record<string, SubCommand> = {
  server: { summary: 'an EDHOC Responder at /.well-known/edhoc', run: server },
  client: { summary: 'run an EDHOC Initiator against a server and print the OSCORE context', run: client },
};

export async function run(args: string[]): Promise<number> {
  return dispatch('edhoc', SUBS, args, 'EDHOC (RFC 9528) key exchange over CoAP, keying OSCORE.');
}
