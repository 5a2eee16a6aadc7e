/**
 * The PSK premaster secret (RFC 4279 §2): uint16 N, N zero bytes, uint16 N, the PSK (N = PSK length).
 */
export function pskPremaster(psk: Buffer): Buffer {
  const n = psk.length;
  const out = Buffer.alloc(4 + 2 * n);
  out.writeUInt16BE(n, 0);
  out.writeUInt16BE(n, 2 + n);
  psk.copy(out, 4 + n);
  return out;
}
