/**
 * TLS extensions (RFC 5246 §7.4.1.4) as a generic list of {type, data}, with typed helpers for
 * server_name (RFC 6066 §3), extended_master_secret (RFC 7627) and renegotiation_info (RFC 5746).
 * The ECC and certificate-type helpers live in extensions-ecc.ts.
 */
import { isIP } from 'node:net';
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';

export enum ExtensionType {
  server_name = 0,
  supported_groups = 10,
  ec_point_formats = 11,
  signature_algorithms = 13,
  client_certificate_type = 19,
  server_certificate_type = 20,
  encrypt_then_mac = 22,
  extended_master_secret = 23,
  session_ticket = 35,
  connection_id = 54,
  renegotiation_info = 0xff01,
}

export interface Extension {
  type: number;
  data: Buffer;
}

/** Reads `extensions<0..2^16-1>`; absent (no bytes left) is an empty list. Duplicates are a decode error. */
export function parseExtensions(r: Reader): Extension[] {
  if (r.remaining === 0) return [];
  const block = new Reader(r.vec16('extensions'), 'extensions');
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (block.remaining > 0) {
    const type = block.u16('extension_type');
    const data = block.vec16('extension_data');
    // RFC 5246 §7.4.1.4: "There MUST NOT be more than one extension of the same type."
    if (seen.has(type)) throw new DtlsDecodeError(`extensions: duplicate extension ${type}`);
    seen.add(type);
    out.push({ type, data });
  }
  return out;
}

export function writeExtensions(w: Writer, exts: Extension[]): void {
  if (exts.length === 0) return;
  const inner = new Writer();
  for (const e of exts) inner.u16(e.type).vec16(e.data);
  w.vec16(inner.finish());
}

export function findExtension(exts: readonly Extension[], type: number): Extension | undefined {
  return exts.find((e) => e.type === type);
}

/** extended_master_secret carries no data (RFC 7627 §5.1). */
/** Both answers below are the same every time: one object each, shared (nothing writes an extension once made). */
const EMS: Extension = Object.freeze({ type: ExtensionType.extended_master_secret, data: Buffer.alloc(0) });
const RENEGOTIATION_INFO_INITIAL: Extension = Object.freeze({
  type: ExtensionType.renegotiation_info,
  data: Buffer.of(0),
});

export function extendedMasterSecret(): Extension {
  return EMS;
}

/** renegotiation_info with an empty renegotiated_connection (RFC 5746 §3.2: initial handshake). */
export function renegotiationInfo(): Extension {
  return RENEGOTIATION_INFO_INITIAL;
}

/** True when a renegotiation_info extension says "initial handshake" (renegotiated_connection empty). */
export function isEmptyRenegotiationInfo(e: Extension): boolean {
  const r = new Reader(e.data, 'renegotiation_info');
  const v = r.vec8('renegotiated_connection');
  r.end();
  return v.length === 0;
}

/** A valid DNS host name for server_name (RFC 6066 §3): LDH labels, not an IP literal. */
export function isValidHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253 || isIP(name) !== 0) return false;
  const host = name.endsWith('.') ? name.slice(0, -1) : name;
  return host.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** server_name with one host_name entry. */
export function serverName(host: string): Extension {
  const name = Buffer.from(host, 'ascii');
  const list = new Writer().u8(0).vec16(name).finish();
  return { type: ExtensionType.server_name, data: new Writer().vec16(list).finish() };
}

/**
 * The host_name from a server_name extension, or undefined when it is absent or not a valid host
 * name (an IP literal, as some CoAP clients send, is ignored rather than refused).
 */
export function parseServerName(e: Extension): string | undefined {
  const r = new Reader(e.data, 'server_name');
  const list = new Reader(r.vec16('server_name_list'), 'server_name_list');
  r.end();
  while (list.remaining > 0) {
    const nameType = list.u8('name_type');
    const name = list.vec16('name');
    if (nameType === 0) {
      const s = name.toString('latin1');
      return isValidHostName(s) ? s : undefined;
    }
  }
  return undefined;
}
