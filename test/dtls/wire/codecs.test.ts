import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import { Reader } from '../../../src/dtls/wire/buffer.ts';
import { encodeClientHello, parseClientHello } from '../../../src/dtls/wire/client-hello.ts';
import {
  extendedMasterSecret,
  isValidHostName,
  parseExtensions,
  parseServerName,
  renegotiationInfo,
  serverName,
} from '../../../src/dtls/wire/extensions.ts';
import { encodeHandshakeFragment, parseHandshakeFragments } from '../../../src/dtls/wire/handshake.ts';
import { encodeRecord, parseRecords } from '../../../src/dtls/wire/record.ts';
import { encodeServerHello, parseServerHello } from '../../../src/dtls/wire/server-hello.ts';

test('record codec: several records per datagram; a truncated tail is dropped', () => {
  const a = encodeRecord({ type: 22, version: 0xfefd, epoch: 0, seq: 2 ** 40 + 5, fragment: Buffer.from('abc') });
  const b = encodeRecord({ type: 23, version: 0xfefd, epoch: 1, seq: 7, fragment: Buffer.from('defg') });
  const recs = parseRecords(Buffer.concat([a, b, b.subarray(0, 15)]));
  assert.equal(recs.length, 2);
  assert.equal(recs[0].seq, 2 ** 40 + 5);
  assert.equal(recs[1].fragment.toString(), 'defg');
  assert.equal(parseRecords(Buffer.from('hello world, not dtls')).length, 0);
});

test('handshake header: fragments with offsets; a fragment past its message length is a decode error', () => {
  const f = { msgType: 1, length: 10, messageSeq: 1, fragmentOffset: 4, fragment: Buffer.from('xyz') };
  const enc = encodeHandshakeFragment(f);
  assert.equal(enc.length, 15);
  assert.deepEqual(parseHandshakeFragments(Buffer.concat([enc, enc])), [f, f]);
  const bad = encodeHandshakeFragment({ ...f, fragmentOffset: 9 });
  assert.throws(() => parseHandshakeFragments(bad), DtlsDecodeError);
});

test('ClientHello and ServerHello round trip with extensions', () => {
  const ch = {
    clientVersion: 0xfefd,
    random: Buffer.alloc(32, 1),
    sessionId: Buffer.alloc(32, 2),
    cookie: Buffer.alloc(20, 3),
    cipherSuites: [0xc0a8, 0x00ff],
    compressionMethods: [0],
    extensions: [renegotiationInfo(), extendedMasterSecret(), serverName('coap.example')],
  };
  assert.deepEqual(parseClientHello(encodeClientHello(ch)), ch);
  const sh = {
    serverVersion: 0xfefd,
    random: Buffer.alloc(32, 4),
    sessionId: Buffer.alloc(0),
    cipherSuite: 0xc0a8,
    compressionMethod: 0,
    extensions: [],
  };
  assert.deepEqual(parseServerHello(encodeServerHello(sh)), sh);
  const truncated = encodeClientHello(ch).subarray(0, 60);
  assert.throws(() => parseClientHello(truncated), DtlsDecodeError);
  assert.throws(() => parseClientHello(Buffer.concat([encodeClientHello(ch), Buffer.of(0)])), DtlsDecodeError);
});

test('extensions: duplicates refused; server_name IP literals and bad names ignored', () => {
  const dup = Buffer.from('0008' + 'ff01000100' + 'ff010001', 'hex');
  assert.throws(() => parseExtensions(new Reader(Buffer.concat([dup, Buffer.of(0)]))), DtlsDecodeError);
  assert.equal(parseServerName(serverName('device-1.example.org')), 'device-1.example.org');
  assert.equal(parseServerName(serverName('127.0.0.1')), undefined);
  assert.equal(parseServerName(serverName('::1')), undefined);
  assert.equal(parseServerName(serverName('bad_name!')), undefined);
  assert.equal(isValidHostName('localhost'), true);
  assert.equal(isValidHostName('-x.example'), false);
});
