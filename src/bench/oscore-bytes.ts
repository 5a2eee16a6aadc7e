/**
 * `securesense bench oscore-bytes`: bytes on the wire per request and response for the same
 * confirmable POST of a device reading, over plain coap://, coap:// with OSCORE (RFC 8613) and
 * coaps:// with DTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8), and the DTLS handshake's bytes. A UDP
 * relay on loopback between client and server counts the UDP payload of every datagram each way;
 * figures are exact byte counts, not timings, so the machine's load does not affect them.
 *
 * A second table puts the key exchanges side by side (keyExchangeRows): EDHOC (RFC 9528, method 0,
 * suite 2) with the device's credential as the platform takes it — a raw public key by value
 * (kccs), a pinned certificate by hash (x5t), a certificate by value (x5chain) — separately and as
 * the EDHOC + OSCORE request (RFC 9668), against the platform's own EDHOC binding; and the DTLS 1.2
 * handshakes with PSK, raw public keys and X.509 certificates. Each counts everything on the wire
 * up to the answer to the device's first 20-byte push.
 */
import { CoapClient } from '../coap/client.ts';
import { CoapServer } from '../coap/server.ts';
import type { CoapsSecurity } from '../coap/transport-dtls.ts';
import { DtlsServerTransport } from '../coap/transport-dtls.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import {
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
  verifyCertificateChain,
} from '../dtls/credentials/index.ts';
import type { DtlsServerOptions } from '../dtls/index.ts';
import {
  byValue,
  type EdhocCredential,
  knownCredentials,
  rpkCredential,
  x5chainCredential,
  x509Credential,
} from '../edhoc/credentials.ts';
import { EdhocInitiator } from '../edhoc/initiator.ts';
import { EdhocOscoreBinding, edhocClientContext } from '../edhoc/oscore-binding.ts';
import { EdhocResponder } from '../edhoc/responder.ts';
import { type Relay, relay } from '../eval/oscore-wire.ts';
import { OscoreContext } from '../oscore/context.ts';
import { OscoreServerContexts } from '../oscore/server.ts';
import { createCa, generateKeyPem, issueCertificate } from '../pki/index.ts';

const PATH = '/users/1/resources/7/data';

interface Row {
  transport: string;
  request: number;
  response: number;
  setup: number;
}

interface Setup {
  uri: string;
  client: CoapClient;
  relay: Relay;
  close(): Promise<void>;
}

async function measure(name: string, payload: Buffer, setup: () => Promise<Setup>): Promise<Row> {
  const s = await setup();
  try {
    // The first request pays for the handshake (DTLS) or the context's first use; the second is steady state.
    await s.client.post(s.uri, payload);
    const before = s.relay.log.length;
    const first = s.relay.log.slice(0, before);
    await s.client.post(s.uri, payload);
    const steady = s.relay.log.slice(before);
    const up = steady.filter((d) => d.dir === 'up').reduce((a, d) => a + d.bytes, 0);
    const down = steady.filter((d) => d.dir === 'down').reduce((a, d) => a + d.bytes, 0);
    const firstTotal = first.reduce((a, d) => a + d.bytes, 0);
    return { transport: name, request: up, response: down, setup: firstTotal - up - down };
  } finally {
    await s.close();
  }
}

/** A set-up whose client reaches `server` (listening on `port`) through a byte-counting relay. */
async function viaRelay(
  scheme: 'coap' | 'coaps',
  server: CoapServer,
  port: number,
  client: CoapClient,
): Promise<Setup> {
  const r = await relay(port);
  return {
    uri: `${scheme}://127.0.0.1:${r.port}${PATH}`,
    client,
    relay: r,
    close: async () => {
      await client.close();
      r.close();
      await server.close();
    },
  };
}

interface KexRow {
  exchange: string;
  /** EDHOC message_1, _2, _3 (bytes of the EDHOC messages themselves); none for DTLS. */
  messages?: readonly number[];
  datagrams: number;
  bytes: number;
  /** Each datagram's UDP payload in order, ↑ device to platform, ↓ back. */
  sizes: string;
}

const READING = Buffer.from('{"temperature":21.5}');

/** The device's and the platform's keys and certificates, made once per run (P-256 throughout). */
async function keyMaterial() {
  const ca = await createCa({ cn: 'Bench CA' });
  const device = await issueCertificate({ ca, cn: 'bench-device', usage: 'client' });
  const server = await issueCertificate({ ca, cn: 'bench-platform', usage: 'server', ip: ['127.0.0.1'] });
  return {
    caPem: ca.certPem,
    device: ownCertificate(device.keyPem as string, device.certPem),
    server: ownCertificate(server.keyPem as string, server.certPem),
    deviceRpk: ownRawPublicKey(await generateKeyPem()),
    platformRpk: ownRawPublicKey(await generateKeyPem()),
  };
}

type Keys = Awaited<ReturnType<typeof keyMaterial>>;

/** EDHOC method 0 in memory: the exact sizes of message_1, _2 and _3 for this device credential. */
function edhocMessageSizes(keys: Keys, credential: EdhocCredential): number[] {
  const platformCred = rpkCredential(keys.platformRpk.spki);
  const initiator = new EdhocInitiator({
    method: 0,
    suites: [2],
    connectionId: Buffer.of(0x0c),
    credential,
    authKey: { kind: 'signature', key: keyOf(keys, credential) },
    peers: knownCredentials([platformCred]),
  });
  const responder = new EdhocResponder({
    suites: [2],
    connectionId: Buffer.of(0x00),
    credential: platformCred,
    authKey: { kind: 'signature', key: keys.platformRpk.key },
    // Sizes only: the credential the Initiator sent, as the platform's resolver would return it.
    peers: (id) => ({ ...credential, idCred: id }),
  });
  const m1 = initiator.message1();
  const m2 = responder.handleMessage1(m1);
  const m3 = initiator.handleMessage2(m2);
  responder.handleMessage3(m3);
  return [m1.length, m2.length, m3.length];
}

function keyOf(keys: Keys, credential: EdhocCredential) {
  return credential.idCred.kind === 'kccs' ? keys.deviceRpk.key : keys.device.key;
}

/**
 * EDHOC with the platform's binding (`/.well-known/edhoc`, device lookup answering "bound") and
 * the first push under the context, through the counting relay; with `combined` message_3 rides
 * in that push.
 */
async function edhocOnTheWire(
  keys: Keys,
  name: string,
  credential: EdhocCredential,
  combined: boolean,
): Promise<KexRow> {
  const contexts = new OscoreServerContexts();
  const anchors = loadTrustAnchors([keys.caPem, ...(credential.idCred.kind === 'x5t' ? [keys.device.chain[0]] : [])]);
  const binding = new EdhocOscoreBinding(
    contexts,
    { resourceFor: async () => 1, trust: { anchors } },
    { rpk: keys.platformRpk },
  );
  const server = new CoapServer({ oscore: contexts });
  binding.register(server, (fn) => fn);
  server.post('/users/:uid/resources/:rid/data', () => ({ code: 68 }));
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  const r = await relay(udp.socket.address().port);
  const client = new CoapClient();
  try {
    const uri = `coap://127.0.0.1:${r.port}${PATH}`;
    const oscore = await edhocClientContext({
      uri,
      combined,
      edhoc: {
        method: 0,
        suites: [2],
        credential,
        authKey: { kind: 'signature', key: keyOf(keys, credential) },
        peers: knownCredentials([rpkCredential(keys.platformRpk.spki)]),
      },
    });
    const res = await client.post(uri, READING, { oscore, contentFormat: 50 });
    if (!res.ok) throw new Error(`${name}: the first push got ${res.status}`);
    return {
      exchange: `EDHOC, device ${name}, ${combined ? 'combined (RFC 9668)' : 'separate'}`,
      messages: edhocMessageSizes(keys, credential),
      datagrams: r.log.length,
      bytes: r.log.reduce((a, d) => a + d.bytes, 0),
      sizes: sizesOf(r),
    };
  } finally {
    await client.close();
    r.close();
    await server.close();
  }
}

const sizesOf = (r: Relay): string => r.log.map((d) => `${d.bytes}${d.dir === 'up' ? '↑' : '↓'}`).join(' ');

/** A DTLS 1.2 handshake (CCM_8 suites) and the first push, through the counting relay. */
async function dtlsOnTheWire(
  name: string,
  server: Omit<DtlsServerOptions, 'host' | 'port'>,
  security: CoapsSecurity,
): Promise<KexRow> {
  const coap = new CoapServer();
  coap.post('/users/:uid/resources/:rid/data', () => ({ code: 68 }));
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, ...server });
  coap.listen(dtls);
  const r = await relay(dtls.address().port);
  const client = new CoapClient({ security });
  try {
    const res = await client.post(`coaps://127.0.0.1:${r.port}${PATH}`, READING, { contentFormat: 50 });
    if (!res.ok) throw new Error(`${name}: the first push got ${res.status}`);
    return {
      exchange: `DTLS 1.2 ${name}`,
      datagrams: r.log.length,
      bytes: r.log.reduce((a, d) => a + d.bytes, 0),
      sizes: sizesOf(r),
    };
  } finally {
    await client.close();
    r.close();
    await coap.close();
  }
}

/** The key exchanges, each up to the answer to the first 20-byte push (see the module comment). */
export async function keyExchangeRows(): Promise<KexRow[]> {
  const keys = await keyMaterial();
  const rows: KexRow[] = [];
  const creds: Array<[string, EdhocCredential]> = [
    ['RPK by value (kccs)', byValue(rpkCredential(keys.deviceRpk.spki))],
    ['certificate by hash (x5t)', x509Credential(keys.device.chain[0], 'x5t')],
    ['certificate by value (x5chain)', x5chainCredential(keys.device.chain)],
  ];
  for (const [name, cred] of creds) {
    for (const combined of [false, true]) rows.push(await edhocOnTheWire(keys, name, cred, combined));
  }
  const psk = { identity: 'bench-device', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') };
  rows.push(await dtlsOnTheWire('PSK', { psk: (id) => (id === psk.identity ? psk.key : undefined) }, { psk }));
  rows.push(
    await dtlsOnTheWire(
      'raw public keys',
      { rpk: keys.platformRpk, trust: { pinnedKeys: new PinnedKeys([keys.deviceRpk.spki]) }, clientAuth: 'need' },
      { rpk: keys.deviceRpk, trust: { pinnedKeys: new PinnedKeys([keys.platformRpk.spki]) } },
    ),
  );
  const anchors = loadTrustAnchors(keys.caPem);
  rows.push(
    await dtlsOnTheWire(
      'X.509 (both sides)',
      { certificate: keys.server, trust: { anchors }, clientAuth: 'need' },
      { certificate: keys.device, trust: { anchors, verifyName: false } },
    ),
  );
  // The device certificate validates against the CA as the platform would check it (a sanity check of the set-up).
  verifyCertificateChain(keys.device.chain, { anchors, peerRole: 'client', verifyName: false });
  return rows;
}

export async function run(_args: string[]): Promise<number> {
  const psk = { identity: 'bench-device', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') };
  const secret = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
  const rows: Row[] = [];
  for (const payload of [Buffer.from('{"temperature":21.5}'), Buffer.alloc(200, 'x')]) {
    const mkServer = (oscore?: OscoreServerContexts) => {
      const server = new CoapServer({ oscore });
      server.post('/users/:uid/resources/:rid/data', () => ({ code: 68 }));
      return server;
    };
    rows.push(
      await measure(`coap:// (no security), ${payload.length} B`, payload, async () => {
        const server = mkServer();
        const udp = await UdpTransport.bind({ host: '127.0.0.1' });
        server.listen(udp);
        return viaRelay('coap', server, udp.socket.address().port, new CoapClient());
      }),
    );
    rows.push(
      await measure(`coap:// + OSCORE, ${payload.length} B`, payload, async () => {
        const sctx = await OscoreContext.create({
          masterSecret: secret,
          senderId: Buffer.alloc(0),
          recipientId: Buffer.of(1),
        });
        const cctx = await OscoreContext.create({
          masterSecret: secret,
          senderId: Buffer.of(1),
          recipientId: Buffer.alloc(0),
        });
        const server = mkServer(new OscoreServerContexts([sctx]));
        const udp = await UdpTransport.bind({ host: '127.0.0.1' });
        server.listen(udp);
        return viaRelay('coap', server, udp.socket.address().port, new CoapClient({ oscore: cctx }));
      }),
    );
    rows.push(
      await measure(`coaps:// DTLS PSK (CCM_8), ${payload.length} B`, payload, async () => {
        const server = mkServer();
        const dtls = await DtlsServerTransport.listen({
          host: '127.0.0.1',
          port: 0,
          psk: (id) => (id === psk.identity ? psk.key : undefined),
        });
        server.listen(dtls);
        return viaRelay('coaps', server, dtls.address().port, new CoapClient({ security: { psk } }));
      }),
    );
  }
  process.stdout.write('| transport, payload | request B | response B | set-up B (handshake or first-use extra) |\n');
  process.stdout.write('|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.transport} | ${r.request} | ${r.response} | ${r.setup} |\n`);
  process.stdout.write(
    "\n| key exchange (device side) | EDHOC message_1 + _2 + _3 B | datagrams: UDP payload B (↑ device → platform) | B on the wire, through the first push's answer |\n",
  );
  process.stdout.write('|---|---|---|---|\n');
  for (const r of await keyExchangeRows()) {
    const m = r.messages ? r.messages.join(' + ') : '—';
    process.stdout.write(`| ${r.exchange} | ${m} | ${r.datagrams}: ${r.sizes} | ${r.bytes} |\n`);
  }
  return 0;
}
