/**
 * The stateless cookie exchange of a DTLS server (RFC 6347 §4.2.1), built to be cheap under a
 * flood: a cookieless ClientHello is scanned in place (only the fields the cookie covers are
 * located, nothing is copied), the cookie is one HMAC-SHA256 over the peer's address and port
 * and those bytes, and the HelloVerifyRequest is written straight into the one buffer that is
 * sent. The secret is rotated every few minutes; the previous one is still accepted.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type KeyedHmac, newHmacSha256 } from './crypto/hash.ts';
import { SHA256_LENGTH } from './crypto/sha256.ts';
import type { DtlsMeter } from './meter.ts';

export const COOKIE_LENGTH = 32;
/**
 * The lean profile's cookie: the HMAC-SHA256 truncated to 16 bytes. Forging one still means
 * guessing 128 bits per try against a secret rotated every few minutes, and the cookie only proves
 * that the client receives at its address (RFC 6347 §4.2.1 allows any length up to 255).
 */
export const LEAN_COOKIE_LENGTH = 16;
/** Record header (13) + handshake header (12) + server_version (2) + cookie<0..255> (1 + length). */
export const helloVerifyDatagramLength = (cookieLength: number) => 13 + 12 + 2 + 1 + cookieLength;
/** The HelloVerifyRequest datagram with the full 32-byte cookie. */
export const HELLO_VERIFY_DATAGRAM_LENGTH = helloVerifyDatagramLength(COOKIE_LENGTH);

const RECORD_HANDSHAKE = 22;
const HS_CLIENT_HELLO = 1;
const HS_HELLO_VERIFY_REQUEST = 3;
const DTLS1_0 = 0xfeff;

/**
 * Where the fields of a ClientHello sit in its datagram. Filled in place by {@link scanClientHello}
 * (one instance per endpoint, reused for every datagram).
 */
export class ClientHelloScan {
  /** client_version, random and session_id are [25, sessionEnd). */
  sessionEnd = 0;
  cookieStart = 0;
  cookieLength = 0;
  /** cipher_suites with its length: [suitesStart, suitesEnd). */
  suitesStart = 0;
  suitesEnd = 0;
  /** Offset of the 32-byte random. */
  readonly randomStart = 27;
}

export type ScanResult = 'client_hello' | 'not_client_hello' | 'fragmented' | 'malformed';

/**
 * Locates the cookie-relevant fields of a ClientHello carried whole in the datagram's first record
 * at epoch 0. Reads bounds only; the full parse happens once the cookie is valid.
 */
export function scanClientHello(d: Buffer, out: ClientHelloScan): ScanResult {
  if (d.length < 13 + 12 || d[0] !== RECORD_HANDSHAKE || d[1] !== 0xfe || d[3] !== 0 || d[4] !== 0) {
    return 'not_client_hello';
  }
  const recEnd = 13 + d.readUInt16BE(11);
  if (recEnd > d.length) return 'malformed';
  if (d[13] !== HS_CLIENT_HELLO) return 'not_client_hello';
  const length = d.readUIntBE(14, 3);
  const fragOffset = d.readUIntBE(19, 3);
  const fragLength = d.readUIntBE(22, 3);
  if (fragOffset !== 0 || fragLength !== length) return 'fragmented';
  const bodyEnd = 25 + length;
  if (bodyEnd > recEnd) return 'malformed';
  let p = 25 + 2 + 32;
  if (p + 1 > bodyEnd) return 'malformed';
  const sid = d[p];
  if (sid > 32) return 'malformed';
  p += 1 + sid;
  out.sessionEnd = p;
  if (p + 1 > bodyEnd) return 'malformed';
  out.cookieLength = d[p];
  out.cookieStart = p + 1;
  p += 1 + d[p];
  if (p + 2 > bodyEnd) return 'malformed';
  out.suitesStart = p;
  p += 2 + d.readUInt16BE(p);
  if (p > bodyEnd) return 'malformed';
  out.suitesEnd = p;
  return 'client_hello';
}

/**
 * A fresh cookie secret as an HMAC key whose pads are compressed once (crypto/hash.ts: OpenSSL's
 * SHA-256, else our TypeScript one). The cookie input is under two blocks, so a cookie is three
 * compressions, about 1 µs in TypeScript against 2.4–3 µs for `createHmac` with a KeyObject (and
 * 14 µs with a Buffer key, which node:crypto first tries as a KeyObject and a CryptoKey, each a
 * caught exception). The raw secret is overwritten once the pads are made.
 */
function newSecret(): KeyedHmac {
  const raw = randomBytes(32);
  const h = newHmacSha256(raw);
  raw.fill(0);
  return h;
}

/** The HMAC input, assembled: address, port, client_version…session_id, cipher_suites (grows on demand). */
let input = Buffer.alloc(512);
/** The cookie a ClientHello should carry, for the comparison. */
const EXPECTED = Buffer.alloc(SHA256_LENGTH);

/**
 * The cookie secrets: current and previous, rotated on use once `rotateMs` has passed. Cookies are
 * the first `cookieLength` bytes of the HMAC (32: all of it; the lean profile: 16).
 */
export class CookieJar {
  private current = newSecret();
  private previous = newSecret();
  private rotatedAt = Date.now();
  /** Bytes of the HelloVerifyRequest datagram this jar sends (the amplification check needs it). */
  readonly helloVerifyLength: number;

  constructor(
    private readonly rotateMs: number,
    private readonly cookieLength: number = COOKIE_LENGTH,
  ) {
    if (!Number.isInteger(cookieLength) || cookieLength < 16 || cookieLength > SHA256_LENGTH) {
      throw new RangeError(`cookie length must be 16..${SHA256_LENGTH} bytes, got ${cookieLength}`);
    }
    this.helloVerifyLength = helloVerifyDatagramLength(cookieLength);
  }

  private maybeRotate(): void {
    const now = Date.now();
    if (now - this.rotatedAt >= this.rotateMs) {
      this.previous = this.current;
      this.current = newSecret();
      this.rotatedAt = now;
    }
  }

  /** HMAC(secret, address ‖ port ‖ client_version…session_id ‖ cipher_suites), written into `out` at `off`. */
  private mac(secret: KeyedHmac, address: string, port: number, d: Buffer, s: ClientHelloScan, out: Buffer, off = 0) {
    const need = address.length + 2 + (s.sessionEnd - 25) + (s.suitesEnd - s.suitesStart);
    if (input.length < need) input = Buffer.alloc(need);
    let n = input.write(address, 0, 'latin1');
    n = input.writeUInt16BE(port, n);
    n += d.copy(input, n, 25, s.sessionEnd);
    n += d.copy(input, n, s.suitesStart, s.suitesEnd);
    secret.macRangeInto(input, 0, n, out, off);
  }

  /** True when the ClientHello returns a cookie we made for this peer (current or previous secret). */
  verify(address: string, port: number, d: Buffer, s: ClientHelloScan, meter: DtlsMeter | undefined): boolean {
    this.maybeRotate();
    const n = this.cookieLength;
    if (s.cookieLength !== n) return false;
    const cookie = d.subarray(s.cookieStart, s.cookieStart + n);
    const expected = EXPECTED.subarray(0, n);
    meter?.crypto('hmac', 1, 'client_hello', 'cookie');
    this.mac(this.current, address, port, d, s, EXPECTED);
    if (timingSafeEqual(cookie, expected)) return true;
    meter?.crypto('hmac', 1, 'client_hello', 'cookie');
    this.mac(this.previous, address, port, d, s, EXPECTED);
    return timingSafeEqual(cookie, expected);
  }

  /**
   * The HelloVerifyRequest datagram answering ClientHello `d`: the ClientHello's record sequence
   * number and message_seq (§4.2.1), server_version DTLS 1.0 (§4.2.1 allows it for compatibility),
   * and a fresh cookie. One allocation: the datagram itself.
   */
  helloVerifyRequest(address: string, port: number, d: Buffer, s: ClientHelloScan, meter: DtlsMeter | undefined) {
    this.maybeRotate();
    meter?.crypto('hmac', 1, 'hello_verify_request', 'cookie');
    const n = this.cookieLength;
    const out = Buffer.allocUnsafe(this.helloVerifyLength);
    out[0] = RECORD_HANDSHAKE;
    out.writeUInt16BE(DTLS1_0, 1);
    out.writeUInt16BE(0, 3); // epoch 0
    d.copy(out, 5, 5, 11); // record sequence number
    out.writeUInt16BE(this.helloVerifyLength - 13, 11);
    out[13] = HS_HELLO_VERIFY_REQUEST;
    const bodyLength = 2 + 1 + n;
    out.writeUIntBE(bodyLength, 14, 3);
    d.copy(out, 17, 17, 19); // message_seq
    out.writeUIntBE(0, 19, 3);
    out.writeUIntBE(bodyLength, 22, 3);
    out.writeUInt16BE(DTLS1_0, 25);
    out[27] = n;
    if (n === SHA256_LENGTH) this.mac(this.current, address, port, d, s, out, 28);
    else {
      this.mac(this.current, address, port, d, s, EXPECTED);
      EXPECTED.copy(out, 28, 0, n);
    }
    return out;
  }
}
