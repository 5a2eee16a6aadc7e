import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Bytes per full DTLS 1.2 handshake of third-party peer pairs (OpenSSL, GnuTLS, libcoap), measured
 * here through a counting UDP relay on loopback by `node eval/peer-bytes/measure.mjs`, which rewrites
 * the JSON beside this module. tinydtls is not installed here: its figures are the ones captured
 * elsewhere and quoted in the evaluation brief, labelled as such.
 */
export interface PeerHandshake {
  /** psk, rpk-mutual, x509-server-auth, x509-mutual. */
  name: string;
  peer: string;
  /** Handshake record bytes both ways, cookie exchange included. */
  bytes: number;
  clientToServer: number;
  serverToClient: number;
  datagrams: number;
  records: number;
  retransmittedRecordsLeftOut: number;
}

export interface PeerHandshakeBytes {
  description: string;
  /** YYYY-MM-DD. */
  measured: string;
  versions: Record<string, string>;
  handshakes: PeerHandshake[];
}

/** tinydtls's figures: not measured here (no tinydtls binary on this machine); quoted from the brief. */
export const TINYDTLS_QUOTED: readonly { name: string; bytes: number }[] = [
  { name: 'psk', bytes: 485 },
  { name: 'rpk-mutual', bytes: 1158 },
];

const COUNTS = ['bytes', 'clientToServer', 'serverToClient', 'datagrams', 'records'] as const;

/** Checks the data file's shape: named versions and a date, each handshake's counts positive and summing up. */
export function parsePeerHandshakeBytes(json: unknown): PeerHandshakeBytes {
  const d = json as Partial<PeerHandshakeBytes> | null;
  if (!d || typeof d !== 'object') throw new TypeError('peer handshake bytes: not an object');
  if (typeof d.description !== 'string' || d.description === '')
    throw new TypeError("peer handshake bytes: 'description' must be a string");
  if (typeof d.measured !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(d.measured))
    throw new TypeError("peer handshake bytes: 'measured' must be a date YYYY-MM-DD");
  if (!d.versions || typeof d.versions !== 'object' || Object.values(d.versions).some((v) => typeof v !== 'string'))
    throw new TypeError("peer handshake bytes: 'versions' must map each peer to a version string");
  if (!Array.isArray(d.handshakes) || d.handshakes.length === 0)
    throw new TypeError("peer handshake bytes: 'handshakes' must be a non-empty list");
  for (const h of d.handshakes as Partial<PeerHandshake>[]) {
    const what = `${h.peer ?? '?'} ${h.name ?? '?'}`;
    if (typeof h.name !== 'string' || typeof h.peer !== 'string' || !(h.peer in d.versions))
      throw new TypeError(`peer handshake bytes: ${what}: 'name' and 'peer' (with a version) required`);
    if (!COUNTS.every((k) => Number.isInteger(h[k]) && (h[k] as number) > 0))
      throw new TypeError(`peer handshake bytes: ${what}: counts must be positive integers`);
    if (h.clientToServer! + h.serverToClient! !== h.bytes)
      throw new TypeError(`peer handshake bytes: ${what}: both directions must add up to 'bytes'`);
    if (!Number.isInteger(h.retransmittedRecordsLeftOut) || h.retransmittedRecordsLeftOut! < 0)
      throw new TypeError(`peer handshake bytes: ${what}: 'retransmittedRecordsLeftOut' must be a count`);
  }
  return d as PeerHandshakeBytes;
}

/** The JSON sits beside this module in src/; the compiled module (dist/eval/) reads it from src/. */
function readData(): unknown {
  const here = new URL('./peer-handshake-bytes.json', import.meta.url);
  const fromDist = new URL('../../src/eval/peer-handshake-bytes.json', import.meta.url);
  for (const url of [here, fromDist]) {
    if (existsSync(url)) return JSON.parse(readFileSync(url, 'utf8'));
  }
  throw new Error(`peer handshake bytes not found: ${fileURLToPath(here)}`);
}

export const PEER_HANDSHAKE_BYTES: PeerHandshakeBytes = parsePeerHandshakeBytes(readData());
