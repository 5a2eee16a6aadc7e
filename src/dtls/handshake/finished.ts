/**
 * Finished in both roles (RFC 5246 §7.4.9, RFC 6347 §4.2.6): ours is verify_data, the PRF over
 * the master secret and the transcript hash so far with our label, sent under the new epoch right
 * after ChangeCipherSpec; the peer's is checked the same way in both roles (RFC 5246 §7.4.9, RFC 6347 §4.2.6): it
 * must arrive under the new epoch (after ChangeCipherSpec), and its verify_data must equal the PRF
 * over the master secret and the transcript hash so far with the peer's label (compared in constant time).
 */
import { timingSafeEqual } from 'node:crypto';
import { type FinishedLabel, type HandshakeCrypto, PLAIN_CRYPTO } from '../crypto/provider.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { encodeFinished, parseFinished } from '../wire/finished.ts';
import { HandshakeType } from '../wire/handshake.ts';
import type { FlightItem } from './flight.ts';
import type { HandshakeMessage } from './reassembly.ts';
import type { Transcript } from './transcript.ts';

export function checkPeerFinished(
  m: HandshakeMessage,
  master: Buffer,
  peerLabel: FinishedLabel,
  transcript: Transcript,
  crypto: HandshakeCrypto = PLAIN_CRYPTO,
): void {
  if (m.epoch === 0) throw new DtlsAlertError(AlertDescription.unexpected_message, 'Finished before ChangeCipherSpec');
  const expected = crypto.verifyData(master, peerLabel, transcript.digest('finished', 'handshake_hash'));
  const received = parseFinished(m.body);
  // A MAC is compared in constant time: an early exit would tell the peer how many bytes matched.
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    throw new DtlsAlertError(AlertDescription.decrypt_error, `${peerLabel.split(' ')[0]} Finished does not verify`);
  }
}

/** Our Finished body over the transcript so far. */
export function ownFinished(
  master: Buffer,
  ownLabel: FinishedLabel,
  transcript: Transcript,
  crypto: HandshakeCrypto = PLAIN_CRYPTO,
): Buffer {
  return encodeFinished(crypto.verifyData(master, ownLabel, transcript.digest('finished', 'handshake_hash')));
}

/** The end of a flight that switches to the new keys: ChangeCipherSpec, then Finished in epoch 1. */
export function changeCipherSpecAndFinished(messageSeq: number, finished: Buffer): FlightItem[] {
  return [
    { kind: 'change_cipher_spec', epoch: 0 },
    { kind: 'handshake', msgType: HandshakeType.finished, messageSeq, body: finished, epoch: 1 },
  ];
}
