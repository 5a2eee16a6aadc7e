import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  ClientHelloScan,
  COOKIE_LENGTH,
  CookieJar,
  HELLO_VERIFY_DATAGRAM_LENGTH,
  LEAN_COOKIE_LENGTH,
  scanClientHello,
} from '../../src/dtls/cookie.ts';

/** A ClientHello datagram (one record, one unfragmented message) with `cookie`, no extensions. */
function clientHello(random: Buffer, cookie: Buffer, suites: number[] = [0xc0a8]): Buffer {
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    random,
    Buffer.from([0]), // session_id
    Buffer.from([cookie.length]),
    cookie,
    Buffer.from([(suites.length * 2) >> 8, (suites.length * 2) & 0xff]),
    Buffer.from(suites.flatMap((s) => [s >> 8, s & 0xff])),
    Buffer.from([1, 0]), // compression: null
  ]);
  const hs = Buffer.alloc(12);
  hs[0] = 1;
  hs.writeUIntBE(body.length, 1, 3);
  hs.writeUIntBE(body.length, 9, 3);
  const rec = Buffer.alloc(13);
  rec[0] = 22;
  rec.writeUInt16BE(0xfefd, 1);
  rec.writeUInt16BE(12 + body.length, 11);
  return Buffer.concat([rec, hs, body]);
}

function scan(d: Buffer): ClientHelloScan {
  const s = new ClientHelloScan();
  assert.equal(scanClientHello(d, s), 'client_hello');
  return s;
}

/** The cookie a HelloVerifyRequest carries (its last 32 bytes). */
function cookieOf(jar: CookieJar, address: string, port: number, d: Buffer): Buffer {
  const hvr = jar.helloVerifyRequest(address, port, d, scan(d), undefined);
  assert.equal(hvr[27], COOKIE_LENGTH);
  return hvr.subarray(28);
}

test('a cookie is accepted from the peer and ClientHello it was made for, refused otherwise', () => {
  const jar = new CookieJar(60_000);
  const random = randomBytes(32);
  const cookie = cookieOf(jar, '127.0.0.1', 5684, clientHello(random, Buffer.alloc(0)));
  const second = clientHello(random, cookie);
  assert.equal(jar.verify('127.0.0.1', 5684, second, scan(second), undefined), true);
  // Another port, another address, another random, other cipher suites: the HMAC input differs.
  assert.equal(jar.verify('127.0.0.1', 5685, second, scan(second), undefined), false);
  assert.equal(jar.verify('127.0.0.2', 5684, second, scan(second), undefined), false);
  const otherRandom = clientHello(randomBytes(32), cookie);
  assert.equal(jar.verify('127.0.0.1', 5684, otherRandom, scan(otherRandom), undefined), false);
  const otherSuites = clientHello(random, cookie, [0xc0a8, 0xc0ae]);
  assert.equal(jar.verify('127.0.0.1', 5684, otherSuites, scan(otherSuites), undefined), false);
  // One flipped bit of the cookie.
  const flipped = Buffer.from(cookie);
  flipped[31] ^= 1;
  const bad = clientHello(random, flipped);
  assert.equal(jar.verify('127.0.0.1', 5684, bad, scan(bad), undefined), false);
});

test('cookies differ between jars and between peers; a long IPv6 address and suite list fit', () => {
  const random = randomBytes(32);
  const first = clientHello(random, Buffer.alloc(0));
  const a = new CookieJar(60_000);
  const b = new CookieJar(60_000);
  assert.notDeepEqual(cookieOf(a, '::1', 1, first), cookieOf(b, '::1', 1, first));
  assert.notDeepEqual(cookieOf(a, '::1', 1, first), cookieOf(a, '::1', 2, first));
  // Longer than the jar's first input buffer: 300 suites.
  const suites = Array.from({ length: 300 }, (_, i) => 0x0100 + i);
  const address = 'fe80:0000:0000:0000:0202:b3ff:fe1e:8329';
  const big = clientHello(random, Buffer.alloc(0), suites);
  const cookie = cookieOf(a, address, 65535, big);
  const back = clientHello(random, cookie, suites);
  assert.equal(a.verify(address, 65535, back, scan(back), undefined), true);
});

test('after one rotation the previous secret is still accepted, after two it is not', () => {
  const jar = new CookieJar(0); // rotates at every use
  const random = randomBytes(32);
  const cookie = cookieOf(jar, '127.0.0.1', 5684, clientHello(random, Buffer.alloc(0)));
  const second = clientHello(random, cookie);
  assert.equal(jar.verify('127.0.0.1', 5684, second, scan(second), undefined), true);
  assert.equal(jar.verify('127.0.0.1', 5684, second, scan(second), undefined), false);
});

test('a lean jar sends 16-byte cookies, accepts only its own and refuses a 32-byte one', () => {
  const lean = new CookieJar(60_000, LEAN_COOKIE_LENGTH);
  const full = new CookieJar(60_000);
  const random = randomBytes(32);
  const first = clientHello(random, Buffer.alloc(0));
  const hvr = lean.helloVerifyRequest('127.0.0.1', 5684, first, scan(first), undefined);
  assert.equal(hvr.length, lean.helloVerifyLength);
  assert.equal(hvr.length, HELLO_VERIFY_DATAGRAM_LENGTH - 16);
  assert.equal(hvr[27], 16);
  assert.equal(hvr.readUInt16BE(11), hvr.length - 13);
  const cookie = hvr.subarray(28);
  assert.equal(cookie.length, 16);
  const second = clientHello(random, cookie);
  assert.equal(lean.verify('127.0.0.1', 5684, second, scan(second), undefined), true);
  assert.equal(lean.verify('127.0.0.1', 5685, second, scan(second), undefined), false);
  const flipped = Buffer.from(cookie);
  flipped[15] ^= 1;
  const bad = clientHello(random, flipped);
  assert.equal(lean.verify('127.0.0.1', 5684, bad, scan(bad), undefined), false);
  // A full-length cookie (even a correct one from a 32-byte jar) is not a lean cookie.
  const fullCookie = cookieOf(full, '127.0.0.1', 5684, first);
  const long = clientHello(random, fullCookie);
  assert.equal(lean.verify('127.0.0.1', 5684, long, scan(long), undefined), false);
  assert.throws(() => new CookieJar(60_000, 8), RangeError);
});
