/**
 * The extensions of the public-key modes, typed: supported_groups (10) and ec_point_formats (11)
 * (RFC 8422 §5.1), signature_algorithms (13, RFC 5246 §7.4.1.4.1), client_certificate_type (19)
 * and server_certificate_type (20) (RFC 7250 §4).
 *
 * Each `encode…`/`parse…` pair works on the extension_data only; `…Extension()` builders return
 * `{ type, data }`, the shape of the generic extension list in extensions.ts. This file also holds
 * the SignatureAndHashAlgorithm codec that CertificateRequest, CertificateVerify and
 * ServerKeyExchange share.
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import { type Extension, ExtensionType } from './extensions.ts';

/** The codes of the extensions here, by the names the handshake uses (values in {@link ExtensionType}). */
export const EXT_SUPPORTED_GROUPS = ExtensionType.supported_groups;
export const EXT_EC_POINT_FORMATS = ExtensionType.ec_point_formats;
export const EXT_SIGNATURE_ALGORITHMS = ExtensionType.signature_algorithms;
export const EXT_CLIENT_CERTIFICATE_TYPE = ExtensionType.client_certificate_type;
export const EXT_SERVER_CERTIFICATE_TYPE = ExtensionType.server_certificate_type;

/** A `{ type, data }` entry of the generic extension list. */
export type EccExtension = Extension;

/** NamedGroup values we name (RFC 8422 §5.1.1, RFC 7919). Others pass through as numbers. */
export enum NamedGroup {
  secp256r1 = 23,
  secp384r1 = 24,
  secp521r1 = 25,
  x25519 = 29,
  x448 = 30,
}

/** ECPointFormat (RFC 8422 §5.1.2): only `uncompressed` remains in use. */
export enum ECPointFormat {
  uncompressed = 0,
  ansiX962_compressed_prime = 1,
  ansiX962_compressed_char2 = 2,
}

/** HashAlgorithm (RFC 5246 §7.4.1.4.1). */
export enum HashAlgorithm {
  none = 0,
  md5 = 1,
  sha1 = 2,
  sha224 = 3,
  sha256 = 4,
  sha384 = 5,
  sha512 = 6,
}

/** SignatureAlgorithm (RFC 5246 §7.4.1.4.1). */
export enum SignatureAlgorithm {
  anonymous = 0,
  rsa = 1,
  dsa = 2,
  ecdsa = 3,
}

/** CertificateType (RFC 7250 §3, IANA "TLS Certificate Types"). */
export enum CertificateType {
  X509 = 0,
  RawPublicKey = 2,
}

/** SignatureAndHashAlgorithm (RFC 5246 §7.4.1.4.1): two bytes, hash first. */
export interface SignatureAndHashAlgorithm {
  hash: number;
  signature: number;
}

/** ecdsa_secp256r1_sha256 (0x0403): the only pair the ECDHE_ECDSA CCM-8 suite needs (RFC 7251 §2). */
export const ECDSA_SHA256: SignatureAndHashAlgorithm = Object.freeze({
  hash: HashAlgorithm.sha256,
  signature: SignatureAlgorithm.ecdsa,
});

export function isEcdsaSha256(a: SignatureAndHashAlgorithm): boolean {
  return a.hash === HashAlgorithm.sha256 && a.signature === SignatureAlgorithm.ecdsa;
}

export function readSignatureAndHashAlgorithm(r: Reader): SignatureAndHashAlgorithm {
  const hash = r.u8('hash');
  const signature = r.u8('signature');
  return { hash, signature };
}

export function writeSignatureAndHashAlgorithm(w: Writer, a: SignatureAndHashAlgorithm): void {
  w.u8(a.hash).u8(a.signature);
}

/** Reads `SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>` (a vec16 of pairs). */
export function readSignatureAlgorithmList(r: Reader, what: string): SignatureAndHashAlgorithm[] {
  const list = r.vec16(what, 2, 0xfffe);
  if (list.length % 2 !== 0) throw new DtlsDecodeError(`${what}: odd length ${list.length}`);
  const lr = new Reader(list, what);
  const out: SignatureAndHashAlgorithm[] = [];
  while (lr.remaining > 0) out.push(readSignatureAndHashAlgorithm(lr));
  return out;
}

export function writeSignatureAlgorithmList(w: Writer, algs: readonly SignatureAndHashAlgorithm[]): void {
  if (algs.length === 0) throw new RangeError('supported_signature_algorithms needs at least one entry');
  const inner = new Writer();
  for (const a of algs) writeSignatureAndHashAlgorithm(inner, a);
  w.vec16(inner.finish());
}

// --- supported_groups (RFC 8422 §5.1.1: NamedCurve named_curve_list<2..2^16-1>) ---

export function encodeSupportedGroups(groups: readonly number[]): Buffer {
  if (groups.length === 0) throw new RangeError('supported_groups needs at least one group');
  const inner = new Writer();
  for (const g of groups) inner.u16(g);
  return new Writer().vec16(inner.finish()).finish();
}

export function parseSupportedGroups(data: Buffer): number[] {
  const r = new Reader(data, 'supported_groups');
  const list = r.vec16('named_curve_list', 2);
  r.end();
  if (list.length % 2 !== 0) throw new DtlsDecodeError(`supported_groups: odd length ${list.length}`);
  const lr = new Reader(list, 'named_curve_list');
  const out: number[] = [];
  while (lr.remaining > 0) out.push(lr.u16('NamedCurve'));
  return out;
}

export function supportedGroupsExtension(groups: readonly number[] = [NamedGroup.secp256r1]): EccExtension {
  return { type: EXT_SUPPORTED_GROUPS, data: encodeSupportedGroups(groups) };
}

// --- ec_point_formats (RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>) ---

export function encodeEcPointFormats(formats: readonly number[]): Buffer {
  if (formats.length === 0) throw new RangeError('ec_point_formats needs at least one format');
  return new Writer().vec8(Buffer.from(formats)).finish();
}

export function parseEcPointFormats(data: Buffer): number[] {
  const r = new Reader(data, 'ec_point_formats');
  const list = r.vec8('ec_point_format_list', 1);
  r.end();
  return [...list];
}

export function ecPointFormatsExtension(formats: readonly number[] = [ECPointFormat.uncompressed]): EccExtension {
  return { type: EXT_EC_POINT_FORMATS, data: encodeEcPointFormats(formats) };
}

// --- signature_algorithms (RFC 5246 §7.4.1.4.1) ---

export function encodeSignatureAlgorithms(algs: readonly SignatureAndHashAlgorithm[]): Buffer {
  const w = new Writer();
  writeSignatureAlgorithmList(w, algs);
  return w.finish();
}

export function parseSignatureAlgorithms(data: Buffer): SignatureAndHashAlgorithm[] {
  const r = new Reader(data, 'signature_algorithms');
  const out = readSignatureAlgorithmList(r, 'supported_signature_algorithms');
  r.end();
  return out;
}

export function signatureAlgorithmsExtension(
  algs: readonly SignatureAndHashAlgorithm[] = [ECDSA_SHA256],
): EccExtension {
  return { type: EXT_SIGNATURE_ALGORITHMS, data: encodeSignatureAlgorithms(algs) };
}

// --- client_certificate_type / server_certificate_type (RFC 7250 §4) ---
// In the ClientHello each carries a LIST of the types the client supports, in preference order:
//   CertificateType client_certificate_types<1..2^8-1>;
// in the ServerHello a SINGLE type, the one the server selected:
//   CertificateType client_certificate_type;
// The same extension_data is therefore parsed differently by each role.

/** ClientHello form: the list of certificate types, most preferred first. */
export function encodeCertificateTypeList(types: readonly number[]): Buffer {
  if (types.length === 0) throw new RangeError('a certificate type list needs at least one entry');
  return new Writer().vec8(Buffer.from(types)).finish();
}

export function parseCertificateTypeList(data: Buffer, what = 'certificate_types'): number[] {
  const r = new Reader(data, what);
  const list = r.vec8(what, 1);
  r.end();
  return [...list];
}

/** ServerHello form: the one type selected. */
export function encodeCertificateTypeSelected(type: number): Buffer {
  return Buffer.of(type & 0xff);
}

export function parseCertificateTypeSelected(data: Buffer, what = 'certificate_type'): number {
  const r = new Reader(data, what);
  const t = r.u8(what);
  r.end();
  return t;
}

/** client_certificate_type as the client sends it (list) or the server answers it (single). */
export function clientCertificateTypeExtension(role: 'client', types: readonly number[]): EccExtension;
export function clientCertificateTypeExtension(role: 'server', selected: number): EccExtension;
export function clientCertificateTypeExtension(role: 'client' | 'server', v: readonly number[] | number): EccExtension {
  return { type: EXT_CLIENT_CERTIFICATE_TYPE, data: certTypeData(role, v) };
}

/** server_certificate_type as the client sends it (list) or the server answers it (single). */
export function serverCertificateTypeExtension(role: 'client', types: readonly number[]): EccExtension;
export function serverCertificateTypeExtension(role: 'server', selected: number): EccExtension;
export function serverCertificateTypeExtension(role: 'client' | 'server', v: readonly number[] | number): EccExtension {
  return { type: EXT_SERVER_CERTIFICATE_TYPE, data: certTypeData(role, v) };
}

function certTypeData(role: 'client' | 'server', v: readonly number[] | number): Buffer {
  if (role === 'client') {
    if (typeof v === 'number') throw new TypeError('the ClientHello carries a list of certificate types');
    return encodeCertificateTypeList(v);
  }
  if (typeof v !== 'number') throw new TypeError('the ServerHello carries a single certificate type');
  return encodeCertificateTypeSelected(v);
}

/**
 * The server's choice for one of the certificate-type extensions (RFC 7250 §4): the first type in
 * the client's preference order that the server also supports. Undefined means no overlap: the
 * server then ends the handshake with `unsupported_certificate` (RFC 7250 §4).
 * An absent extension means the client supports X.509 only.
 */
export function selectCertificateType(
  clientList: readonly number[] | undefined,
  serverSupports: readonly number[],
): number | undefined {
  const offered = clientList ?? [CertificateType.X509];
  return offered.find((t) => serverSupports.includes(t));
}
