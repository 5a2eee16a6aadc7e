/**
 * The handshake transcript (RFC 6347 §4.2.6): every handshake message from the ClientHello that
 * carries the cookie on, reassembled and hashed with its 12-byte DTLS header written as if it were
 * unfragmented (fragment_offset 0, fragment_length = length). The first ClientHello and the
 * HelloVerifyRequest are left out.
 */
import { newSha256 } from '../crypto/hash.ts';
import type { CryptoPurpose, DtlsMeter } from '../meter.ts';
import { encodeHandshakeMessage, HANDSHAKE_HEADER_LENGTH, writeHandshakeHeader } from '../wire/handshake.ts';

/** What a finished transcript keeps: one shared hash that nothing is added to any more. */
const EMPTY = newSha256();
/** Scratch for one message header (hash.update copies it into the hash state at once). */
const HEADER = Buffer.alloc(HANDSHAKE_HEADER_LENGTH);
/** Where {@link Transcript.digest} writes (every caller feeds it straight into the PRF as its seed). */
const DIGEST = Buffer.alloc(32);

/**
 * The running hash is crypto/hash.ts's (OpenSSL's SHA-256 with its state in a small array, else our
 * TypeScript one), not node:crypto's Hash: a PSK handshake hashes ~400 bytes in a dozen pieces and
 * takes two or three digests, and a node:crypto Hash would cost an object per transcript and per
 * digest copy; here a piece is one call and a digest finishes a copy of the state.
 */
export class Transcript {
  private hash = newSha256();
  private bytes = 0;
  private meteredBlocks = 0;
  /** The messages themselves, kept while a CertificateVerify may need them (RFC 5246 §7.4.8). */
  private kept: Buffer[] | undefined;
  constructor(private readonly meter?: DtlsMeter) {}

  add(msgType: number, messageSeq: number, body: Buffer): void {
    if (this.kept) {
      const m = encodeHandshakeMessage(msgType, messageSeq, body);
      this.hash.update(m);
      this.kept.push(m);
    } else {
      // Header and body are hashed as they are: no copy of the message.
      writeHandshakeHeader(HEADER, 0, msgType, body.length, messageSeq, 0, body.length);
      this.hash.update(HEADER, body);
    }
    this.bytes += HANDSHAKE_HEADER_LENGTH + body.length;
  }

  /** Starts keeping the messages (from the current point: call it before the first add). */
  keepMessages(): void {
    this.kept ??= [];
  }

  /** The handshake messages added so far, concatenated (what CertificateVerify signs). */
  messages(): Buffer {
    if (!this.kept) throw new Error('transcript: messages were not kept');
    return Buffer.concat(this.kept);
  }

  /**
   * Hash of everything added so far (the running hash continues). `context` and `purpose` are what
   * the meter is told: the Finished's handshake hash, or the extended master secret's session hash.
   * The digest is written into one shared buffer, valid until the next digest of any transcript:
   * each is the seed of a PRF call made at once, and a new Buffer for each cost an allocation.
   */
  digest(context: string, purpose: CryptoPurpose): Buffer {
    if (this.meter) {
      // A device hashes incrementally: the compressions so far plus one to finalise a copy.
      const full = Math.floor(this.bytes / 64);
      this.meter.crypto('sha256_block', full - this.meteredBlocks + 1, context, purpose);
      this.meteredBlocks = full;
    }
    this.hash.digestInto(DIGEST, 0);
    return DIGEST;
  }

  /** Releases the hash state once the handshake is over. */
  free(): void {
    this.hash = EMPTY;
    this.kept = undefined;
  }

  reset(): void {
    this.hash = newSha256();
    if (this.kept) this.kept = [];
    this.bytes = 0;
    this.meteredBlocks = 0;
  }
}
