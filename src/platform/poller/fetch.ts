/**
 * What every poll fetcher shares: the target of a poll, its result, the fetcher interface and the
 * bound on a response body (fetchers.ts and http-fetcher.ts implement it per URL scheme).
 */
import { ForbiddenAddressError, UnresolvedHostError } from '../net-guard.ts';
import type { CoapsPollSecurity } from './coaps-security.ts';
import { PollError } from './errors.ts';

/** What a poll asks for. */
export interface PollTarget {
  resourceId: number;
  url: URL;
  /** CoAP ACK_TIMEOUT and the DTLS initial retransmission timeout; the whole HTTP request's timeout × 8. */
  timeoutMs: number;
  /** CoAP MAX_RETRANSMIT and DTLS flight retransmissions. */
  retransmits: number;
  /** coaps:// only: what the platform shows the device and how it checks the device (see coaps-security.ts). */
  security?: CoapsPollSecurity;
}

export interface FetchResult {
  /** "200", "2.05". */
  status: string;
  body: Buffer;
  contentType: string | null;
  /** coaps:// only: this poll completed a new DTLS handshake (full or abbreviated). */
  newSession: boolean;
  /** coaps:// only: that handshake was a full one (not a resumption). */
  fullHandshake: boolean;
}

export interface Fetcher {
  fetch(t: PollTarget): Promise<FetchResult>;
  /** Drops per-resource state (sessions); called on changes and deletion. */
  forget(resourceId: number): Promise<void>;
  close(): Promise<void>;
}

/** Largest response body a poll accepts. */
export const MAX_POLL_BODY = 1024 * 1024;

/** The net guard's refusals as poll errors. */
export function guardError(err: unknown): PollError {
  if (err instanceof ForbiddenAddressError) return new PollError('forbidden', err.message);
  if (err instanceof UnresolvedHostError) return new PollError('network', err.message);
  return new PollError('network', (err as Error).message);
}
