import type { PeerIdentity } from './credentials/identity.ts';

/** Resumable state of a finished full handshake (RFC 5246 §7.3 "session"), kept by both roles. */
export interface SessionState {
  id: Buffer;
  masterSecret: Buffer;
  cipherSuite: number;
  /** The session was created with the extended master secret (RFC 7627 §5.3). */
  extendedMasterSecret: boolean;
  identity: PeerIdentity;
  createdAt: number;
}
