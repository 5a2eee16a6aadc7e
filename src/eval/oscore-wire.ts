/**
 * What EDHOC over CoAP and OSCORE put on the wire, recorded from our own stacks on loopback: a UDP
 * relay between our CoAP client (the device, EDHOC Initiator) and our CoAP server (the platform,
 * EDHOC Responder at /.well-known/edhoc) logs the UDP payload of every datagram each way — the same
 * unit as the DTLS transcripts' record bytes. Exact byte counts, not timings.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { CoapClient } from '../coap/client.ts';
import { CoapServer } from '../coap/server.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import type { OwnAuthKey } from '../edhoc/auth.ts';
import { CF_CID_EDHOC, EDHOC_PATH, EdhocResource } from '../edhoc/coap.ts';
import { authKeyOf, ccsCredential, type EdhocCredential, knownCredentials } from '../edhoc/credentials.ts';
import { generateDhKeyPair } from '../edhoc/crypto.ts';
import { EdhocInitiator } from '../edhoc/initiator.ts';
import { encodeConnectionId } from '../edhoc/messages.ts';
import type { OscoreContextInput } from '../edhoc/oscore-context.ts';
import { OscoreContext } from '../oscore/context.ts';
import { OscoreServerContexts } from '../oscore/server.ts';

export interface Datagram {
  dir: 'up' | 'down';
  bytes: number;
}

export interface Relay {
  port: number;
  /** Datagram sizes, client→server ('up') and server→client ('down'), in order. */
  log: Datagram[];
  close(): void;
}

/** A loopback relay: the client talks to it, it talks to the server from one socket. */
export async function relay(serverPort: number): Promise<Relay> {
  const front: Socket = createSocket('udp4');
  const back: Socket = createSocket('udp4');
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r));
  const log: Datagram[] = [];
  let client: { address: string; port: number } | undefined;
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    log.push({ dir: 'up', bytes: msg.length });
    back.send(msg, serverPort, '127.0.0.1');
  });
  back.on('message', (msg) => {
    log.push({ dir: 'down', bytes: msg.length });
    if (client) front.send(msg, client.port, client.address);
  });
  return {
    port: front.address().port,
    log,
    close: () => {
      front.close();
      back.close();
    },
  };
}

/** The resource a device reports to, as the platform routes it. */
export const REPORT_PATH = '/users/1/resources/7/data';
const CHANGED = 68;
const CBOR_TRUE = 0xf5;

/** One confirmable POST and its piggybacked 2.04, as datagram sizes. */
export interface ExchangeBytes {
  request: number;
  response: number;
}

/** The EDHOC exchange's datagrams, in order (message_1, message_2, message_3, the 2.04 to it). */
export interface KeyExchangeBytes {
  /** EDHOC method (RFC 9528 §3.2). */
  method: 0 | 3;
  datagrams: Datagram[];
  /** The EDHOC messages themselves (message_1, message_2, message_3), without CoAP framing. */
  messageBytes: number[];
}

export interface WireRecording {
  plain: ExchangeBytes;
  oscore: ExchangeBytes;
  edhoc: KeyExchangeBytes;
}

function sum(log: Datagram[], dir: Datagram['dir']): number {
  return log.filter((d) => d.dir === dir).reduce((a, d) => a + d.bytes, 0);
}

function party(method: 0 | 3, kid: number): { cred: EdhocCredential; key: OwnAuthKey } {
  if (method === 0) {
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return {
      cred: ccsCredential({ kid: Buffer.from([kid]), publicKey: authKeyOf(kp.publicKey) }),
      key: { kind: 'signature', key: kp.privateKey },
    };
  }
  const pair = generateDhKeyPair('P-256');
  return {
    cred: ccsCredential({ kid: Buffer.from([kid]), publicKey: { kind: 'P-256', x: pair.publicKey } }),
    key: { kind: 'static-dh', pair },
  };
}

const toParams = (c: OscoreContextInput) => ({
  masterSecret: c.masterSecret,
  masterSalt: c.masterSalt,
  senderId: c.senderId,
  recipientId: c.recipientId,
  aead: c.aeadAlgorithm,
  hkdf: c.hkdfAlgorithm,
});

/**
 * Records, for one payload and one EDHOC method with cipher suite 2: the key exchange over CoAP
 * (credentials by reference: a one-byte kid), then one report over OSCORE with the context it gave
 * both ends, then the same report over plain coap:// (what DTLS wraps in one record each way).
 */
export async function recordWire(payload: Buffer, method: 0 | 3): Promise<WireRecording> {
  const i = party(method, 0x01);
  const r = party(method, 0x02);
  const contexts = new OscoreServerContexts([]);
  const pending: Promise<void>[] = [];
  const resource = new EdhocResource({
    suites: [2],
    credential: r.cred,
    authKey: r.key,
    peers: knownCredentials([i.cred]),
    onSession: (s) => {
      pending.push(OscoreContext.create(toParams(s.oscore())).then((c) => contexts.add(c)));
    },
  });
  const server = new CoapServer({ oscore: contexts });
  resource.register(server);
  server.post('/users/:uid/resources/:rid/data', () => ({ code: CHANGED }));
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  const rl = await relay(udp.address().port);
  const client = new CoapClient();
  const base = `coap://127.0.0.1:${rl.port}`;
  try {
    // The Initiator driven as edhocOverCoap drives it, so that each EDHOC message's size is known.
    const initiator = new EdhocInitiator({
      method,
      suites: [2],
      connectionId: Buffer.from([0x0a]),
      credential: i.cred,
      authKey: i.key,
      peers: knownCredentials([r.cred]),
    });
    const uri = `${base}${EDHOC_PATH}`;
    const m1 = initiator.message1();
    const r2 = await client.post(uri, Buffer.concat([Buffer.of(CBOR_TRUE), m1]), { contentFormat: CF_CID_EDHOC });
    if (!r2.ok) throw new Error(`EDHOC message_1 answered ${r2.status}`);
    const m3 = initiator.handleMessage2(r2.payload);
    const r4 = await client.post(uri, Buffer.concat([encodeConnectionId(initiator.session.cR), m3]), {
      contentFormat: CF_CID_EDHOC,
    });
    if (!r4.ok || r4.payload.length > 0) throw new Error(`EDHOC message_3 answered ${r4.status}`);
    const session = initiator.complete();
    await Promise.all(pending);
    const edhocLog = rl.log.splice(0);
    const cctx = await OscoreContext.create(toParams(session.oscore()));
    const res = await client.post(`${base}${REPORT_PATH}`, payload, { oscore: cctx });
    if (res.status !== '2.04') throw new Error(`OSCORE report answered ${res.status}`);
    const oscoreLog = rl.log.splice(0);
    const plainRes = await client.post(`${base}${REPORT_PATH}`, payload);
    if (plainRes.status !== '2.04') throw new Error(`plain report answered ${plainRes.status}`);
    const plainLog = rl.log.splice(0);
    return {
      plain: { request: sum(plainLog, 'up'), response: sum(plainLog, 'down') },
      oscore: { request: sum(oscoreLog, 'up'), response: sum(oscoreLog, 'down') },
      edhoc: { method, datagrams: edhocLog, messageBytes: [m1.length, r2.payload.length, m3.length] },
    };
  } finally {
    await client.close();
    rl.close();
    await server.close();
  }
}
