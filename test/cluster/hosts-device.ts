/**
 * The device side of test/cluster/hosts.test.ts, run inside the client's network namespace
 * (`ip netns exec NS node --import tsx test/cluster/hosts-device.ts`): the test process cannot open
 * sockets in another namespace, so it drives this one over stdin/stdout, one JSON object a line:
 * `{"id":1,"op":"connect"}` → `{"id":1,"result":…}` or `{"id":1,"error":"…"}`.
 *
 * The DTLS client talks through a small "NAT" in front of it (the mover): `move` sends its
 * datagrams on from a new source address and port, as after a NAT rebinding or a change of
 * network, so the balancer's hash may send them to the other host.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { decodeMessage, encodeMessage, OptionNumber } from '../../src/coap/index.ts';
import {
  connect,
  type DtlsClientOptions,
  type DtlsConnection,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { nextData } from '../dtls/helpers.ts';
import { CLIENT_ADDRESSES, COAPS_PORT, VIP } from './netns.ts';

async function bound(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => {});
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

/** The client's NAT: the client sends to `front`, which sends on from `back` (moved by `move`). */
async function startMover() {
  let client: RemoteInfo | undefined;
  let moves = 0;
  const openBack = async () => {
    const s = await bound(CLIENT_ADDRESSES[moves % CLIENT_ADDRESSES.length]);
    s.on('message', (msg) => {
      if (s === back && client) front.send(msg, client.port, client.address);
    });
    return s;
  };
  let back = await openBack();
  const front = await bound('127.0.0.1');
  front.on('message', (msg, rinfo) => {
    client = rinfo;
    back.send(msg, COAPS_PORT, VIP);
  });
  return {
    port: front.address().port,
    outside: () => back.address(),
    async move() {
      moves++;
      const old = back;
      back = await openBack();
      old.close();
      return back.address();
    },
    close() {
      front.close();
      back.close();
    },
  };
}

let mid = 1;
/**
 * A CoAP CON GET of /.well-known/core, retransmitted every 250 ms (`attempts` times) as a CoAP
 * client does: right after a move, the owner may hold a reply larger than the request until the
 * next record verifies the new address (RFC 9146 §6). The response code, or null without one.
 */
async function ping(c: DtlsConnection, attempts = 8): Promise<number | null> {
  const messageId = mid++;
  const request = encodeMessage({
    type: 'CON',
    code: 1,
    messageId,
    token: Buffer.of(messageId & 0xff),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('.well-known') },
      { number: OptionNumber.UriPath, value: Buffer.from('core') },
    ],
    payload: Buffer.alloc(0),
  });
  for (let i = 0; i < attempts; i++) {
    c.send(request);
    const deadline = Date.now() + 250;
    while (Date.now() < deadline) {
      let reply: Buffer;
      try {
        reply = await nextData(c, Math.max(1, deadline - Date.now()));
      } catch {
        break;
      }
      const d = decodeMessage(reply);
      if (d.ok && d.message.messageId === messageId) return d.message.code;
    }
  }
  return null;
}

async function http(base: string, method: string, path: string, body?: unknown, token?: string) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

type Credentials = Omit<DtlsClientOptions, 'host' | 'port'>;
/** The device's credentials in each DTLS mode, once `setup` has bound them. */
const modes = new Map<string, Credentials>();
let creds: Credentials | undefined;
let mover: Awaited<ReturnType<typeof startMover>> | undefined;
let conn: DtlsConnection | undefined;

const ops: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {
  /**
   * A user and one resource per DTLS mode, each with this device bound (PSK; RPK and X.509 from the
   * files named in `pki`: test/support/pki.ts's rpkClient, rpkServer, device and root), through one
   * host's HTTP API.
   */
  async setup(a) {
    const base = String(a.base);
    const pki = a.pki as Record<string, string>;
    const read = (k: string) => readFileSync(pki[k], 'utf8');
    const name = `hosts${process.pid}`;
    const u = await http(base, 'POST', '/users', { username: name, password: 'a good password' });
    const token = String(u.token);
    const bind = async (mode: string, body: Record<string, unknown>) => {
      const r = await http(base, 'POST', `/users/${u.id}/resources`, { label: mode }, token);
      return http(base, 'POST', `/users/${u.id}/resources/${r.id}/devices`, { mode, ...body }, token);
    };
    const d = await bind('psk', { psk_identity: name });
    modes.set('psk', { psk: { identity: name, key: Buffer.from(String(d.psk_key), 'hex') } });
    await bind('rpk', { rpk: read('rpkClientSpki') });
    modes.set('rpk', {
      rpk: ownRawPublicKey(read('rpkClientKey')),
      trust: { pinnedKeys: new PinnedKeys([read('rpkServerSpki')]) },
    });
    await bind('x509', { x509_name: 'CN=device-1', x509_ca: read('rootCert') });
    modes.set('x509', {
      certificate: ownCertificate(read('deviceKey'), read('deviceChain')),
      // The server's certificate names 127.0.0.1 and localhost, not the VIP: the chain is what is checked.
      trust: { anchors: loadTrustAnchors(read('rootCert')), verifyName: false },
    });
    return [...modes.keys()];
  },
  /** A session with a CID in `mode` (default psk), through the mover: the node named by the server's CID. */
  async connect(a) {
    creds = modes.get(typeof a.mode === 'string' ? a.mode : 'psk');
    if (!creds) throw new Error('setup first');
    mover?.close();
    await conn?.close();
    mover = await startMover();
    conn = await connect({
      host: '127.0.0.1',
      port: mover.port,
      ...creds,
      connectionId: { length: 4 },
      handshakeTimeoutMs: 5000,
    });
    return { node: conn.connectionIds.peer?.[0], outside: mover.outside() };
  },
  async move() {
    if (!mover) throw new Error('connect first');
    return mover.move();
  },
  async ping(a) {
    if (!conn) throw new Error('connect first');
    return ping(conn, typeof a.attempts === 'number' ? a.attempts : 8);
  },
  /** A new flow (a new port) resuming the session: who took it, whether abbreviated, and a CoAP answer. */
  async resume() {
    if (!conn || !creds) throw new Error('connect first');
    const r = await connect({
      host: VIP,
      port: COAPS_PORT,
      ...creds,
      session: conn.session,
      connectionId: { length: 4 },
      handshakeTimeoutMs: 5000,
    });
    try {
      return { resumed: r.resumed, node: r.connectionIds.peer?.[0], code: await ping(r) };
    } finally {
      await r.close();
    }
  },
  async metrics(a) {
    const r = await fetch(`${String(a.base)}/metrics`);
    return r.text();
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line) as { id: number; op: string } & Record<string, unknown>;
  const op = ops[req.op];
  (op ? op(req) : Promise.reject(new Error(`unknown op ${req.op}`))).then(
    (result) => process.stdout.write(`${JSON.stringify({ id: req.id, result })}\n`),
    (err: unknown) => process.stdout.write(`${JSON.stringify({ id: req.id, error: String(err) })}\n`),
  );
});
rl.on('close', () => {
  mover?.close();
  void conn?.close().finally(() => process.exit(0));
  if (!conn) process.exit(0);
});
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
