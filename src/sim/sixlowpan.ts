import { MAX_MAC_PAYLOAD_BYTES } from './radio.ts';

/**
 * 6LoWPAN adaptation of one IPv6/UDP datagram to IEEE 802.15.4 frames: IPHC header compression
 * (RFC 6282) and fragmentation (RFC 4944 §5.3).
 *
 * Header sizes follow the paper (§5.3) and the issue: the 40-byte IPv6 header and the 8-byte UDP
 * header (48 bytes) compress to 18 bytes in Contiki (IPHC with inline hop limit and addresses that
 * cannot be fully elided across the border router, plus NHC UDP). A datagram whose compressed form
 * does not fit the 104-byte MAC payload is fragmented: the first fragment carries a 4-byte FRAG1
 * header (dispatch + datagram_size, datagram_tag) followed by the compressed headers; every further
 * fragment carries a 5-byte FRAGN header (FRAG1 + datagram_offset). The offset counts 8-octet units
 * of the *uncompressed* datagram (RFC 4944 §5.3, clarified by RFC 6282 §2), so every fragment but the
 * last carries a multiple of 8 bytes of the (uncompressed) payload; the 48-byte uncompressed header
 * is itself a multiple of 8, so the rule applies to the UDP payload bytes in each fragment.
 */
export const UNCOMPRESSED_IPV6_UDP_BYTES = 40 + 8;
export const IPHC_UDP_BYTES = 18;
export const FRAG1_HEADER_BYTES = 4;
export const FRAGN_HEADER_BYTES = 5;
/** IPv6 minimum link MTU (RFC 8200 §5): 6LoWPAN must carry datagrams of up to 1280 bytes. */
export const IPV6_MTU = 1280;

/** DTLS 1.2 record overhead with AES-128-CCM-8: 13-byte header + 8-byte explicit nonce + 8-byte MIC. */
export const DTLS_RECORD_HEADER_BYTES = 13;
export const CCM8_EXPLICIT_NONCE_BYTES = 8;
export const CCM8_MIC_BYTES = 8;
export const DTLS_CCM8_OVERHEAD_BYTES = DTLS_RECORD_HEADER_BYTES + CCM8_EXPLICIT_NONCE_BYTES + CCM8_MIC_BYTES; // 29

export interface Fragmentation {
  /** UDP payload bytes (what the application or DTLS hands to UDP). */
  udpPayloadBytes: number;
  /** Compressed datagram size: IPHC+UDP (18) + payload. */
  compressedBytes: number;
  /** MAC payload size of every frame, in order (each ≤ 104). */
  frames: number[];
}

/**
 * Frames needed for one UDP datagram of `udpPayloadBytes`.
 *
 * Worked cases (the tests):
 *  - UDP, 64 B: 18 + 64 = 82 ≤ 104 → 1 frame.
 *  - DTLS, 64 B: record 64 + 29 = 93; 18 + 93 = 111 > 104 → fragments. FRAG1 room 104 − 4 − 18 = 82,
 *    rounded down to 8 → 80 payload bytes (frame 4 + 18 + 80 = 102); the remaining 13 go in a FRAGN
 *    (5 + 13 = 18) → 2 frames.
 *  - UDP, 128 B: 18 + 128 = 146 > 104 → FRAG1 with 80, FRAGN with 48 (53 bytes) → 2 frames.
 *  - DTLS, 128 B: record 157 → FRAG1 with 80, FRAGN with 77 (82 bytes) → 2 frames.
 */
export function fragment(udpPayloadBytes: number, macPayload: number = MAX_MAC_PAYLOAD_BYTES): Fragmentation {
  if (!Number.isInteger(udpPayloadBytes) || udpPayloadBytes < 0) {
    throw new RangeError(`UDP payload of ${udpPayloadBytes} bytes is not a byte count`);
  }
  if (UNCOMPRESSED_IPV6_UDP_BYTES + udpPayloadBytes > IPV6_MTU) {
    throw new RangeError(
      `datagram of ${UNCOMPRESSED_IPV6_UDP_BYTES + udpPayloadBytes} bytes exceeds the IPv6 MTU of ${IPV6_MTU}`,
    );
  }
  const compressedBytes = IPHC_UDP_BYTES + udpPayloadBytes;
  if (compressedBytes <= macPayload) return { udpPayloadBytes, compressedBytes, frames: [compressedBytes] };

  const firstRoom = Math.floor((macPayload - FRAG1_HEADER_BYTES - IPHC_UDP_BYTES) / 8) * 8;
  const middleRoom = Math.floor((macPayload - FRAGN_HEADER_BYTES) / 8) * 8;
  const lastRoom = macPayload - FRAGN_HEADER_BYTES;
  if (firstRoom <= 0 || middleRoom <= 0)
    throw new RangeError(`MAC payload of ${macPayload} bytes is too small to fragment`);
  const frames = [FRAG1_HEADER_BYTES + IPHC_UDP_BYTES + firstRoom];
  let remaining = udpPayloadBytes - firstRoom;
  while (remaining > lastRoom) {
    frames.push(FRAGN_HEADER_BYTES + middleRoom);
    remaining -= middleRoom;
  }
  frames.push(FRAGN_HEADER_BYTES + remaining);
  return { udpPayloadBytes, compressedBytes, frames };
}

/** Size of the DTLS record that carries `plaintextBytes` of application data with AES-128-CCM-8. */
export function dtlsRecordBytes(plaintextBytes: number): number {
  return plaintextBytes + DTLS_CCM8_OVERHEAD_BYTES;
}

/**
 * AES block operations for one AES-CCM record (RFC 3610 §2): CBC-MAC over B0, the additional data
 * (13 bytes of DTLS AAD plus its 2-byte length = 1 block) and the padded message, plus CTR blocks
 * for the message and for A0 (the MIC). 2·⌈L/16⌉ + 3.
 */
export function ccmAesBlocks(plaintextBytes: number): number {
  return 2 * Math.ceil(plaintextBytes / 16) + 3;
}
