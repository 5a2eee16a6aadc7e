/** What the role state machines (client.ts, server.ts) need from the association that runs them. */
import type { PeerIdentity } from '../credentials/identity.ts';
import type { CipherSuite } from '../crypto/suites.ts';
import type { DtlsMeter } from '../meter.ts';
import type { RecordLayer } from '../session.ts';
import type { FlightItem } from './flight.ts';
import type { HandshakeMessage, ReassemblyBuffer } from './reassembly.ts';
import type { Transcript } from './transcript.ts';

// Declared in modules of their own, which the key exchanges and the record layer import without
// this one (no import cycle); re-exported for the rest.
export type { PeerAddress } from '../peer-address.ts';
export type { SessionState } from '../session-state.ts';

import type { PeerAddress } from '../peer-address.ts';
import type { SessionState } from '../session-state.ts';

export interface HandshakeResult {
  suite: CipherSuite;
  identity: PeerIdentity;
  resumed: boolean;
  session: SessionState;
}

export interface HandshakeHost {
  readonly records: RecordLayer;
  readonly transcript: Transcript;
  readonly meter?: DtlsMeter;
  readonly remote: PeerAddress;
  /** Sends a flight; a non-final flight runs the retransmission timer until the peer's next flight. */
  sendFlight(items: FlightItem[], final: boolean): void;
  /** Sets the message_seq expected next from the peer. */
  setNextRecvSeq(seq: number): void;
  /** The handshake finished: the association becomes established. */
  complete(result: HandshakeResult): void;
}

export interface RoleHandshake {
  /** Handles the next in-order handshake message. Throws DtlsAlertError to end the handshake. */
  onMessage(m: HandshakeMessage): Promise<void> | void;
  /** Client only: before message order is known, pick HelloVerifyRequest/ServerHello out of the buffer. */
  pickFirst?(buf: ReassemblyBuffer): Promise<void> | void;
  /** True while the role's first expected message may come at any message_seq. */
  readonly waitingFirst: boolean;
  /** True while the next message is a Finished protected under the new epoch. */
  readonly awaitingFinished: boolean;
}

/**
 * 'default': every message of a flight in a record of its own, 32-byte cookie and session ID,
 * the full set of hello extensions. 'lean': fewest bytes on the air for constrained links: a
 * 16-byte cookie and 8-byte session ID, a flight's handshake messages packed into shared records
 * (RFC 6347 §4.2.3), renegotiation_info as the SCSV, no ec_point_formats (RFC 8422 §5.1.2: absent
 * means uncompressed, the only format allowed). Extended master secret and secure renegotiation
 * stay: the handshake's security rests on them.
 */
export type HandshakeProfile = 'default' | 'lean';
