/**
 * Bad input (RFC 6347 §4.1.2.7): truncated, oversized, forged records and fragments never throw out
 * of the endpoint, and the other peers' sessions go on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { DtlsEndpoint } from '../../src/dtls/endpoint.ts';
import { AlertDescription } from '../../src/dtls/errors.ts';
import { parseAlert } from '../../src/dtls/wire/alert.ts';
import { encodeClientHello } from '../../src/dtls/wire/client-hello.ts';
import { encodeHandshakeFragment, parseHandshakeFragments } from '../../src/dtls/wire/handshake.ts';
import { parseHelloVerifyRequest } from '../../src/dtls/wire/hello-verify-request.ts';
import { encodeRecord, parseRecords } from '../../src/dtls/wire/record.ts';
import { sleep } from '../support/ports.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';

const record = (type: number, epoch: number, seq: number, fragment: Buffer) =>
  encodeRecord({ type, version: 0xfefd, epoch, seq, fragment });

const clientHello = (cookie = Buffer.alloc(0)) =>
  encodeClientHello({
    clientVersion: 0xfefd,
    random: randomBytes(32),
    sessionId: Buffer.alloc(0),
    cookie,
    cipherSuites: [0xc0a8],
    compressionMethods: [0],
    extensions: [],
  });

test('garbage, truncated, oversized and forged input: nothing throws, the established session goes on', async (t) => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));

  const srv = await echoServer();
  t.after(() => srv.server.close());
  const ep = await DtlsEndpoint.open({});
  t.after(() => ep.close());
  const a = await ep.connect(
    { address: '127.0.0.1', port: srv.port, family: 'IPv4' },
    { psk: { identity: IDENTITY, key: KEY } },
  );

  const ch = clientHello();
  const attacks: Buffer[] = [
    randomBytes(1),
    randomBytes(12),
    randomBytes(200),
    Buffer.alloc(1500),
    // A header claiming more bytes than the datagram holds.
    Buffer.concat([record(22, 0, 1, Buffer.alloc(10)).subarray(0, 13), Buffer.alloc(3)]),
    // Handshake fragments: past the message length, absurd total length, truncated header.
    record(
      22,
      0,
      2,
      encodeHandshakeFragment({
        msgType: 1,
        length: 5,
        messageSeq: 0,
        fragmentOffset: 4,
        fragment: Buffer.alloc(4),
      }).subarray(0, 12),
    ),
    record(
      22,
      0,
      3,
      encodeHandshakeFragment({
        msgType: 16,
        length: 0xffffff,
        messageSeq: 9,
        fragmentOffset: 0,
        fragment: Buffer.alloc(8),
      }),
    ),
    record(22, 0, 4, Buffer.alloc(5)),
    // A ClientHello fragment (cannot be answered statelessly), a truncated ClientHello, one with a forged cookie.
    record(
      22,
      0,
      5,
      encodeHandshakeFragment({
        msgType: 1,
        length: ch.length,
        messageSeq: 0,
        fragmentOffset: 0,
        fragment: ch.subarray(0, 20),
      }),
    ),
    record(
      22,
      0,
      6,
      encodeHandshakeFragment({
        msgType: 1,
        length: 20,
        messageSeq: 0,
        fragmentOffset: 0,
        fragment: ch.subarray(0, 20),
      }),
    ),
    record(
      22,
      0,
      7,
      encodeHandshakeFragment({ msgType: 1, length: 0, messageSeq: 0, fragmentOffset: 0, fragment: Buffer.alloc(0) }),
    ),
    // Forged epoch-1 records: application data, alert, handshake, a close_notify in clear.
    record(23, 1, 1000, randomBytes(40)),
    record(21, 1, 1001, randomBytes(18)),
    record(22, 1, 1002, randomBytes(40)),
    record(21, 0, 1003, Buffer.of(1, 0)),
    record(21, 0, 1004, Buffer.of(2, 40)),
    record(20, 0, 1005, Buffer.of(7, 7)),
    // Unknown epoch, unknown content type, wrong version major.
    record(23, 9, 1, randomBytes(40)),
    Buffer.concat([Buffer.of(99), record(23, 1, 1, Buffer.alloc(20)).subarray(1)]),
    encodeRecord({ type: 23, version: 0x0303, epoch: 1, seq: 2, fragment: Buffer.alloc(20) }),
  ];
  // From the established peer's own address and port …
  for (const d of attacks) ep.socket.send(d, srv.port, '127.0.0.1');
  // … and from strangers.
  const stranger = createSocket('udp4');
  t.after(() => stranger.close());
  await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
  for (const d of attacks) stranger.send(d, srv.port, '127.0.0.1');
  // Many records in one datagram, all garbage.
  stranger.send(
    Buffer.concat(Array.from({ length: 50 }, (_, i) => record(23, 1, i, randomBytes(30)))),
    srv.port,
    '127.0.0.1',
  );
  await sleep(200);

  const echo = nextData(a);
  a.send(Buffer.from('still here'));
  assert.equal((await echo).toString(), 'still here');
  assert.equal(a.state, 'established');
  assert.deepEqual(uncaught, []);
  assert.equal(srv.server.counts().sessions, 1, 'no state was created for the strangers');
  assert.equal(srv.errors.length, 0);
});

test('a flood of ClientHellos without cookies creates no state (HelloVerifyRequest only)', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const s = createSocket('udp4');
  t.after(() => s.close());
  let replies = 0;
  s.on('message', () => replies++);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < 200; i++) {
    const chb = clientHello();
    s.send(
      record(
        22,
        0,
        i,
        encodeHandshakeFragment({ msgType: 1, length: chb.length, messageSeq: 0, fragmentOffset: 0, fragment: chb }),
      ),
      srv.port,
      '127.0.0.1',
    );
  }
  await sleep(300);
  assert.ok(replies >= 150, `HelloVerifyRequests received: ${replies}`);
  assert.deepEqual(srv.server.counts(), { handshakes: 0, sessions: 0 });
  // A forged cookie is answered with a fresh HelloVerifyRequest, not with a ServerHello.
  const before = replies;
  const forged = clientHello(randomBytes(32));
  s.send(
    record(
      22,
      0,
      999,
      encodeHandshakeFragment({
        msgType: 1,
        length: forged.length,
        messageSeq: 1,
        fragmentOffset: 0,
        fragment: forged,
      }),
    ),
    srv.port,
    '127.0.0.1',
  );
  await sleep(100);
  assert.equal(replies, before + 1);
  assert.deepEqual(srv.server.counts(), { handshakes: 0, sessions: 0 });
});

test('renegotiation is refused with a no_renegotiation warning and the session goes on (RFC 5746)', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const alertsIn: number[] = [];
  const ep = await DtlsEndpoint.open({
    meter: {
      handshakeMessage: () => {},
      crypto: () => {},
      record: (dir, type, epoch, bytes) => {
        if (dir === 'in' && type === 'alert') alertsIn.push(epoch, bytes);
      },
    },
  });
  t.after(() => ep.close());
  const a = await ep.connect(
    { address: '127.0.0.1', port: srv.port, family: 'IPv4' },
    { psk: { identity: IDENTITY, key: KEY } },
  );
  const chb = clientHello();
  const frag = encodeHandshakeFragment({
    msgType: 1,
    length: chb.length,
    messageSeq: 0,
    fragmentOffset: 0,
    fragment: chb,
  });
  ep.socket.send(a.records.protect(22, frag), srv.port, '127.0.0.1');
  await sleep(100);
  // One protected alert came back: epoch 1, 13 header + 8 nonce + 2 alert + 8 tag bytes.
  assert.deepEqual(alertsIn, [1, 31]);
  assert.equal(a.state, 'established');
  const echo = nextData(a);
  a.send(Buffer.from('after renegotiation attempt'));
  assert.equal((await echo).toString(), 'after renegotiation attempt');
});

test('a ClientHello that is not DTLS (TLS 1.2 version 0x0303) gets a protocol_version alert after the cookie', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const s = createSocket('udp4');
  t.after(() => s.close());
  const replies: Buffer[] = [];
  s.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const random = randomBytes(32);
  const hello = (cookie: Buffer, seq: number) => {
    const body = encodeClientHello({
      clientVersion: 0x0303,
      random,
      sessionId: Buffer.alloc(0),
      cookie,
      cipherSuites: [0xc0a8],
      compressionMethods: [0],
      extensions: [],
    });
    const frag = encodeHandshakeFragment({
      msgType: 1,
      length: body.length,
      messageSeq: seq,
      fragmentOffset: 0,
      fragment: body,
    });
    s.send(record(22, 0, seq, frag), srv.port, '127.0.0.1');
  };
  hello(Buffer.alloc(0), 0);
  const deadline = Date.now() + 2000;
  while (replies.length === 0 && Date.now() < deadline) await sleep(10);
  const hvr = parseHandshakeFragments(parseRecords(replies[0])[0].fragment)[0];
  assert.equal(hvr.msgType, 3, 'HelloVerifyRequest');
  hello(parseHelloVerifyRequest(hvr.fragment).cookie, 1);
  while (replies.length < 2 && Date.now() < deadline + 2000) await sleep(10);
  const rec = parseRecords(replies[1])[0];
  assert.equal(rec.type, 21, 'an alert record');
  assert.equal(parseAlert(rec.fragment).description, AlertDescription.protocol_version);
  assert.deepEqual(srv.server.counts().sessions, 0);
});
