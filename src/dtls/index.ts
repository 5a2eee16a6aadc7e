/**
 * SecureSense DTLS 1.2 (RFC 6347): the public API. Everything exported here is public.
 * First version: the shape is fixed; the engine behind it lands in the following commits.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../util/log.ts';
import type { PeerIdentity } from './credentials/identity.ts';
import type { DtlsMeter } from './meter.ts';

export type { PeerIdentity } from './credentials/identity.ts';
export { AlertDescription, AlertLevel, DtlsAlertError, DtlsDecodeError, DtlsTimeoutError } from './errors.ts';
export type { DtlsMeter } from './meter.ts';

/** A UDP peer. */
export interface PeerAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** Server-side PSK lookup: identity → key (or undefined when unknown). May be async (database). */
export type PskLookup = (identity: string, peer: PeerAddress) => Buffer | undefined | Promise<Buffer | undefined>;

/** Options shared by both roles. */
export interface CommonOptions {
  /** Largest datagram we send (UDP payload bytes). Default 1232 (1280 − 40 IPv6 − 8 UDP). */
  mtu?: number;
  /** Initial retransmission timeout (RFC 6347 §4.2.4.1). Default 1000 ms. */
  retransmitInitialMs?: number;
  /** Cap of the doubling retransmission timeout. Default 60 000 ms. */
  retransmitMaxMs?: number;
  /** Retransmissions of one flight before the handshake fails with DtlsTimeoutError. Default 6. */
  maxRetransmits?: number;
  meter?: DtlsMeter;
  logger?: Logger;
}

export interface DtlsServerOptions extends CommonOptions {
  host?: string;
  port?: number;
  psk?: PskLookup;
  pskIdentityHint?: string;
  maxHandshakes?: number;
  maxSessions?: number;
  idleTimeoutMs?: number;
}

/** Opaque resumable session state: pass it to `connect({ session })` to resume. */
export interface DtlsSession {
  readonly id: Buffer;
}

export interface DtlsConnection extends EventEmitter {
  readonly remote: PeerAddress;
  readonly identity: PeerIdentity;
  readonly cipherSuite: string;
  readonly resumed: boolean;
  readonly session: DtlsSession;
  send(data: Buffer): void;
  close(): Promise<void>;
}

export interface DtlsClientOptions extends CommonOptions {
  host: string;
  port: number;
  psk?: { identity: string; key: Buffer };
  serverName?: string;
  session?: DtlsSession;
  endpoint?: DtlsClientEndpoint;
}

export class DtlsServer extends EventEmitter {
  static async listen(_opts: DtlsServerOptions): Promise<DtlsServer> {
    throw new Error('DtlsServer: not yet');
  }
  address(): PeerAddress {
    throw new Error('not yet');
  }
  connections(): Iterable<DtlsConnection> {
    return [];
  }
  async close(): Promise<void> {}
}

export class DtlsClientEndpoint {
  static async bind(_opts?: { host?: string; port?: number; family?: 'IPv4' | 'IPv6' }): Promise<DtlsClientEndpoint> {
    throw new Error('DtlsClientEndpoint: not yet');
  }
  async connect(_opts: Omit<DtlsClientOptions, 'endpoint'>): Promise<DtlsConnection> {
    throw new Error('not yet');
  }
  async close(): Promise<void> {}
}

export async function connect(_opts: DtlsClientOptions): Promise<DtlsConnection> {
  throw new Error('connect: not yet');
}
