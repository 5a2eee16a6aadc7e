/**
 * Raw DTLS attackers for the admission tests and the sessions benchmark: ClientHellos built with
 * our own wire codecs and sent from plain UDP sockets, so that a test can open many half-open
 * handshakes (pass the cookie exchange, then go silent) or flood cookieless ClientHellos without
 * running a client state machine.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { encodeClientHello } from '../../src/dtls/wire/client-hello.ts';
import { extendedMasterSecret, renegotiationInfo } from '../../src/dtls/wire/extensions.ts';
import { encodeHandshakeMessage, parseHandshakeFragments } from '../../src/dtls/wire/handshake.ts';
import { parseHelloVerifyRequest } from '../../src/dtls/wire/hello-verify-request.ts';
import { DTLS1_2, encodeRecord, parseRecords } from '../../src/dtls/wire/record.ts';

const TLS_PSK_WITH_AES_128_CCM_8 = 0xc0a8;

/** A DTLS 1.2 PSK ClientHello datagram (record sequence `seq`, message_seq `messageSeq`). */
export function clientHelloDatagram(opts: { random: Buffer; cookie?: Buffer; seq?: number; messageSeq?: number }) {
  const body = encodeClientHello({
    clientVersion: DTLS1_2,
    random: opts.random,
    sessionId: Buffer.alloc(0),
    cookie: opts.cookie ?? Buffer.alloc(0),
    cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: [0],
    extensions: [renegotiationInfo(), extendedMasterSecret()],
  });
  return encodeRecord({
    type: 22,
    version: DTLS1_2,
    epoch: 0,
    seq: opts.seq ?? 0,
    fragment: encodeHandshakeMessage(1, opts.messageSeq ?? 0, body),
  });
}

/** The cookie of a HelloVerifyRequest datagram, or undefined when it is something else. */
export function cookieOf(d: Buffer): Buffer | undefined {
  const rec = parseRecords(d)[0];
  if (rec?.type !== 22 || rec.epoch !== 0) return undefined;
  const f = parseHandshakeFragments(rec.fragment)[0];
  if (f?.msgType !== 3) return undefined;
  return parseHelloVerifyRequest(f.fragment).cookie;
}

export async function bindSocket(address: string, port = 0): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

/**
 * Opens one half-open handshake from socket `s`: ClientHello, HelloVerifyRequest, ClientHello with
 * the cookie; resolves once the server answered that with its flight (ServerHello …), then stays
 * silent. Rejects after `ms` without an answer.
 */
export function halfOpen(s: Socket, port: number, host = '127.0.0.1', ms = 5000): Promise<void> {
  const random = randomBytes(32);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      s.removeAllListeners('message');
      reject(new Error(`half-open handshake from ${s.address().address}:${s.address().port} got no answer`));
    }, ms);
    s.on('message', (d) => {
      const cookie = cookieOf(d);
      if (cookie) {
        s.send(clientHelloDatagram({ random, cookie, seq: 1, messageSeq: 1 }), port, host);
        return;
      }
      // Anything else at epoch 0 after our cookie is the server's flight: the handshake is half-open.
      clearTimeout(timer);
      s.removeAllListeners('message');
      resolve();
    });
    s.send(clientHelloDatagram({ random }), port, host);
  });
}
