/**
 * Outgoing flights (RFC 6347 §4.2.4): the messages one side sends before waiting for the other,
 * turned into records and packed into datagrams no larger than the path MTU. A handshake message
 * is fragmented (§4.2.3) only when its record would not fit in one datagram, because some
 * constrained peers cannot reassemble fragments.
 */
import { CCM8_OVERHEAD } from '../crypto/ccm.ts';
import type { DtlsMeter } from '../meter.ts';
import type { RecordLayer } from '../session.ts';
import { CHANGE_CIPHER_SPEC } from '../wire/change-cipher-spec.ts';
import {
  encodeHandshakeFragment,
  HANDSHAKE_HEADER_LENGTH,
  HandshakeType,
  handshakeTypeName,
} from '../wire/handshake.ts';
import { ContentType, RECORD_HEADER_LENGTH } from '../wire/record.ts';

export type FlightItem =
  | {
      kind: 'handshake';
      msgType: number;
      messageSeq: number;
      body: Buffer;
      epoch: number;
      /**
       * May share a record with the flight's neighbouring packed messages of the same epoch
       * (RFC 6347 §4.2.3), saving a record header (and AEAD overhead) per message. Lean profile.
       */
      pack?: boolean;
    }
  | { kind: 'change_cipher_spec'; epoch: number };

/** Default MTU: 1280-byte IPv6 packet − 40 IPv6 header − 8 UDP header. */
export const DEFAULT_MTU = 1232;
/** The smallest MTU we accept: a record header, a handshake header and some payload must fit. */
export const MIN_MTU = 64;

/** Serialises a flight into datagrams (fresh record sequence numbers each time: retransmissions are new records). */
export function flightDatagrams(items: FlightItem[], records: RecordLayer, mtu: number): Buffer[] {
  const recs: Buffer[] = [];
  // Whole handshake messages waiting to share one record (packed items only).
  let packed: Buffer[] = [];
  let packedLength = 0;
  let packedEpoch = 0;
  const flush = () => {
    if (packed.length === 0) return;
    recs.push(records.protect(ContentType.handshake, Buffer.concat(packed, packedLength), packedEpoch));
    packed = [];
    packedLength = 0;
  };
  for (const it of items) {
    if (it.kind === 'handshake' && it.pack) {
      const aead = it.epoch > 0 ? CCM8_OVERHEAD : 0;
      const whole = HANDSHAKE_HEADER_LENGTH + it.body.length;
      if (packed.length > 0 && (packedEpoch !== it.epoch || RECORD_HEADER_LENGTH + aead + packedLength + whole > mtu)) {
        flush();
      }
      if (RECORD_HEADER_LENGTH + aead + whole <= mtu) {
        packedEpoch = it.epoch;
        packed.push(
          encodeHandshakeFragment({
            msgType: it.msgType,
            length: it.body.length,
            messageSeq: it.messageSeq,
            fragmentOffset: 0,
            fragment: it.body,
          }),
        );
        packedLength += whole;
        continue;
      }
    }
    flush();
    if (it.kind === 'change_cipher_spec') {
      recs.push(records.protect(ContentType.change_cipher_spec, CHANGE_CIPHER_SPEC, it.epoch));
      continue;
    }
    const overhead = RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH + (it.epoch > 0 ? CCM8_OVERHEAD : 0);
    // The ClientHello is never fragmented: a server answers it statelessly with a cookie and cannot
    // reassemble before it has state (RFC 6347 §4.2.1). It is small enough for any real path.
    const room = it.msgType === HandshakeType.client_hello ? it.body.length : Math.max(1, mtu - overhead);
    let off = 0;
    do {
      const n = Math.min(room, it.body.length - off);
      const frag = encodeHandshakeFragment({
        msgType: it.msgType,
        length: it.body.length,
        messageSeq: it.messageSeq,
        fragmentOffset: off,
        fragment: it.body.subarray(off, off + n),
      });
      recs.push(records.protect(ContentType.handshake, frag, it.epoch));
      off += n;
    } while (off < it.body.length);
  }
  flush();
  // Pack records into datagrams (RFC 6347 §4.1.1: several records may share a datagram).
  const out: Buffer[] = [];
  let cur: Buffer[] = [];
  let len = 0;
  for (const r of recs) {
    if (len > 0 && len + r.length > mtu) {
      out.push(Buffer.concat(cur, len));
      cur = [];
      len = 0;
    }
    cur.push(r);
    len += r.length;
  }
  if (len > 0) out.push(Buffer.concat(cur, len));
  return out;
}

/** Reports each handshake message of a flight to the meter once (retransmissions show up as records only). */
export function meterFlight(items: FlightItem[], meter: DtlsMeter | undefined): void {
  if (!meter) return;
  for (const it of items) {
    if (it.kind === 'handshake') meter.handshakeMessage('out', handshakeTypeName(it.msgType), it.body.length);
  }
}
