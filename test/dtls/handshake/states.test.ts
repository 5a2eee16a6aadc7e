/**
 * Each role's states accept each message of the peer's flight once and in its place
 * (RFC 5246 §7.3, §7.4): a second ServerKeyExchange or CertificateRequest, or a CertificateRequest
 * in a PSK handshake, is unexpected_message — the old single-class client let the first two
 * through — and so are a server's unrequested client Certificate and second ClientKeyExchange.
 * Driven directly through a stand-in for the association.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PinnedKeys } from '../../../src/dtls/credentials/rpk.ts';
import { makeServerKeyExchange } from '../../../src/dtls/crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { type ClientConfig, ClientHandshake } from '../../../src/dtls/handshake/client.ts';
import type { FlightItem } from '../../../src/dtls/handshake/flight.ts';
import { ServerHandshake } from '../../../src/dtls/handshake/server.ts';
import { Transcript } from '../../../src/dtls/handshake/transcript.ts';
import type { HandshakeHost } from '../../../src/dtls/handshake/types.ts';
import { RecordLayer } from '../../../src/dtls/session.ts';
import { encodeCertificate } from '../../../src/dtls/wire/certificate.ts';
import { ecdsaCertificateRequest, encodeCertificateRequest } from '../../../src/dtls/wire/certificate-request.ts';
import { encodeClientHello, parseClientHello } from '../../../src/dtls/wire/client-hello.ts';
import { encodeClientKeyExchangePsk } from '../../../src/dtls/wire/client-key-exchange.ts';
import type { Extension } from '../../../src/dtls/wire/extensions.ts';
import { CertificateType, serverCertificateTypeExtension } from '../../../src/dtls/wire/extensions-ecc.ts';
import { HandshakeType } from '../../../src/dtls/wire/handshake.ts';
import { DTLS1_2 } from '../../../src/dtls/wire/record.ts';
import { encodeServerHello } from '../../../src/dtls/wire/server-hello.ts';
import { encodeServerHelloDone } from '../../../src/dtls/wire/server-hello-done.ts';
import { encodeServerKeyExchangePsk } from '../../../src/dtls/wire/server-key-exchange.ts';

function client(cfg: ClientConfig) {
  const flights: FlightItem[][] = [];
  const host: HandshakeHost = {
    records: new RecordLayer(),
    transcript: new Transcript(),
    remote: { address: '127.0.0.1', port: 5684, family: 'IPv4' },
    sendFlight: (items) => flights.push(items),
    setNextRecvSeq: () => {},
    complete: () => {},
  };
  const hs = new ClientHandshake(host, cfg);
  hs.start();
  const hello = flights[0][0];
  assert.ok(hello.kind === 'handshake');
  const clientRandom = parseClientHello(hello.body).random;
  let seq = 1;
  /** Hands the next server message to the client; resolves or rejects with what the client did. */
  const deliver = async (msgType: number, body: Buffer) => {
    await hs.onMessage({ msgType, messageSeq: seq++, body, epoch: 0 });
  };
  const serverRandom = randomBytes(32);
  const serverHello = (cipherSuite: number, extensions: Extension[] = []) =>
    encodeServerHello({
      serverVersion: DTLS1_2,
      random: serverRandom,
      sessionId: Buffer.alloc(0),
      cipherSuite,
      compressionMethod: 0,
      extensions,
    });
  return { hs, flights, deliver, clientRandom, serverRandom, serverHello };
}

const unexpectedMessage = (e: unknown) =>
  e instanceof DtlsAlertError && e.description === AlertDescription.unexpected_message;

const PSK = { identity: 'device-1', key: randomBytes(16) };
const hint = () => encodeServerKeyExchangePsk({ identityHint: Buffer.from('hint', 'utf8') });

test('PSK: ServerKeyExchange (identity hint) once, then ServerHelloDone sends flight 5', async () => {
  const c = client({ psk: PSK });
  await c.deliver(HandshakeType.server_hello, c.serverHello(0xc0a8));
  await c.deliver(HandshakeType.server_key_exchange, hint());
  await c.deliver(HandshakeType.server_hello_done, encodeServerHelloDone());
  assert.equal(c.hs.hint, 'hint');
  assert.equal(c.flights.length, 2);
  assert.ok(c.hs.awaitingFinished);
});

test('PSK: a second ServerKeyExchange is unexpected_message', async () => {
  const c = client({ psk: PSK });
  await c.deliver(HandshakeType.server_hello, c.serverHello(0xc0a8));
  await c.deliver(HandshakeType.server_key_exchange, hint());
  await assert.rejects(c.deliver(HandshakeType.server_key_exchange, hint()), unexpectedMessage);
});

test('PSK: a CertificateRequest (no certificate in this exchange) is unexpected_message', async () => {
  const c = client({ psk: PSK });
  await c.deliver(HandshakeType.server_hello, c.serverHello(0xc0a8));
  await assert.rejects(
    c.deliver(HandshakeType.certificate_request, encodeCertificateRequest(ecdsaCertificateRequest())),
    unexpectedMessage,
  );
});

test('ECDHE (raw public key): a second CertificateRequest, or ServerHelloDone before ServerKeyExchange, is unexpected_message', async () => {
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = server.publicKey.export({ type: 'spki', format: 'der' });
  const start = async () => {
    const c = client({ pki: { trust: { pinnedKeys: new PinnedKeys([spki]) } } });
    await c.deliver(
      HandshakeType.server_hello,
      c.serverHello(0xc0ae, [serverCertificateTypeExtension('server', CertificateType.RawPublicKey)]),
    );
    await c.deliver(HandshakeType.certificate, encodeCertificate({ type: 'rpk', spki }));
    return c;
  };
  const early = await start();
  await assert.rejects(early.deliver(HandshakeType.server_hello_done, encodeServerHelloDone()), unexpectedMessage);

  const c = await start();
  const ske = makeServerKeyExchange(server.privateKey, c.clientRandom, c.serverRandom);
  await c.deliver(HandshakeType.server_key_exchange, ske.body);
  const request = encodeCertificateRequest(ecdsaCertificateRequest());
  await c.deliver(HandshakeType.certificate_request, request);
  await assert.rejects(c.deliver(HandshakeType.certificate_request, request), unexpectedMessage);
  // And a second ServerKeyExchange after the first.
  const d = await start();
  const ske2 = makeServerKeyExchange(server.privateKey, d.clientRandom, d.serverRandom);
  await d.deliver(HandshakeType.server_key_exchange, ske2.body);
  await assert.rejects(d.deliver(HandshakeType.server_key_exchange, ske2.body), unexpectedMessage);
});

test('server (PSK): a client Certificate nobody asked for, or a second ClientKeyExchange, is unexpected_message', async () => {
  const flights: FlightItem[][] = [];
  const host: HandshakeHost = {
    records: new RecordLayer(),
    transcript: new Transcript(),
    remote: { address: '127.0.0.1', port: 40000, family: 'IPv4' },
    sendFlight: (items) => flights.push(items),
    setNextRecvSeq: () => {},
    complete: () => {},
  };
  const start = () => {
    const hs = new ServerHandshake(host, { psk: (id) => (id === PSK.identity ? PSK.key : undefined) });
    const body = encodeClientHello({
      clientVersion: DTLS1_2,
      random: randomBytes(32),
      sessionId: Buffer.alloc(0),
      cookie: randomBytes(32),
      cipherSuites: [0xc0a8],
      compressionMethods: [0],
      extensions: [],
    });
    hs.onClientHello(parseClientHello(body), { msgType: HandshakeType.client_hello, messageSeq: 1, body, epoch: 0 });
    let seq = 2;
    const deliver = async (msgType: number, b: Buffer) => {
      await hs.onMessage({ msgType, messageSeq: seq++, body: b, epoch: 0 });
    };
    return { hs, deliver };
  };
  const cke = encodeClientKeyExchangePsk({ identity: Buffer.from(PSK.identity, 'utf8') });
  const a = start();
  await assert.rejects(
    a.deliver(HandshakeType.certificate, encodeCertificate({ type: 'rpk', spki: Buffer.alloc(0) })),
    unexpectedMessage,
  );
  const b = start();
  await b.deliver(HandshakeType.client_key_exchange, cke);
  assert.ok(b.hs.awaitingFinished);
  await assert.rejects(b.deliver(HandshakeType.client_key_exchange, cke), unexpectedMessage);
});
