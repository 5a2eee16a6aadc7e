/**
 * Block-wise transfer (RFC 7959) for both roles: the server's reassembly of Block1 request bodies
 * (§2.5) and its cache of large representations served in Block2 slices (§2.4), the slicing itself,
 * and the client's loops that upload a body block by block and fetch the remaining blocks of a
 * response, over whatever request/response exchange the client's token layer provides.
 */
import { CoapError } from './errors.ts';
import { type CoapMessage, type CoapOption, getOption, withoutOptions } from './message.ts';
import {
  type BlockValue,
  blockSize,
  Code,
  codeString,
  decodeBlock,
  encodeBlock,
  encodeUint,
  OptionNumber,
} from './options.ts';

/** The `num`-th block of `body` at size exponent `szx`, and whether more follow (RFC 7959 §2.2). */
export function sliceBlock(body: Buffer, num: number, szx: number): { payload: Buffer; more: boolean } | undefined {
  const size = blockSize(szx);
  const start = num * size;
  // §2.4: a request for a block beyond the end is answered 4.02 by the caller; an empty body still has block 0.
  if (start > body.length || (start === body.length && num > 0)) return undefined;
  const end = Math.min(start + size, body.length);
  return { payload: body.subarray(start, end), more: end < body.length };
}

export type Block1Outcome =
  /** Send 2.31 Continue with this Block1 (the same num, M=1, our SZX). */
  | { status: 'continue'; block: BlockValue }
  /** The whole body has arrived. */
  | { status: 'complete'; body: Buffer }
  /** Send this error code; `size1` tells the client our limit with 4.13 (§4). */
  | { status: 'error'; code: number; reason: string; size1?: number };

interface Reassembly {
  parts: Buffer[];
  length: number;
  szx: number;
  contentFormat?: number;
  expires: number;
}

/**
 * Collects Block1 bodies per (peer, method, target). Blocks must arrive in order (a client that
 * restarts sends block 0 again); out-of-order blocks get 4.08 Request Entity Incomplete (§2.9.2),
 * bodies beyond `maxBodySize` 4.13 Request Entity Too Large with Size1 (§2.9.3, §4).
 */
export class Block1Assembler {
  private readonly pending = new Map<string, Reassembly>();
  /** Bytes held across all reassemblies. */
  private held = 0;

  constructor(
    readonly maxBodySize: number,
    private readonly lifetimeMs: number,
    /** The largest SZX we accept per block; a larger one is answered with ours (§2.3 "the server … MAY use a smaller SZX"). */
    private readonly maxSzx = 6,
    /**
     * Bound on the bytes of all unfinished bodies together, so that many peers each starting an
     * upload cannot exhaust memory; beyond it new blocks get 5.03. Default 64 × maxBodySize.
     */
    private readonly maxHeldBytes = 64 * maxBodySize,
  ) {}

  private drop(key: string): void {
    const r = this.pending.get(key);
    if (r) {
      this.held -= r.length;
      this.pending.delete(key);
    }
  }

  accept(
    key: string,
    block: BlockValue,
    payload: Buffer,
    size1: number | undefined,
    contentFormat?: number,
  ): Block1Outcome {
    this.sweep();
    if (size1 !== undefined && size1 > this.maxBodySize) {
      this.drop(key);
      return {
        status: 'error',
        code: Code.RequestEntityTooLarge,
        reason: `body of ${size1} bytes exceeds ${this.maxBodySize}`,
        size1: this.maxBodySize,
      };
    }
    const size = blockSize(block.szx);
    // §2.2: with M set, the payload is exactly the block size; only the last block may be shorter.
    if (block.more && payload.length !== size) {
      return {
        status: 'error',
        code: Code.BadRequest,
        reason: `Block1 ${block.num} has ${payload.length} bytes, not ${size}`,
      };
    }
    if (!block.more && payload.length > size) {
      return { status: 'error', code: Code.BadRequest, reason: `Block1 ${block.num} payload exceeds the block size` };
    }
    let r = this.pending.get(key);
    const offset = block.num * size;
    if (block.num === 0) {
      this.drop(key);
      r = { parts: [], length: 0, szx: block.szx, contentFormat, expires: 0 };
      this.pending.set(key, r);
    }
    if (!r || offset !== r.length || (r.contentFormat !== contentFormat && block.num > 0)) {
      this.drop(key);
      return {
        status: 'error',
        code: Code.RequestEntityIncomplete,
        reason: `Block1 ${block.num} does not continue the body`,
      };
    }
    if (r.length + payload.length > this.maxBodySize) {
      this.drop(key);
      return {
        status: 'error',
        code: Code.RequestEntityTooLarge,
        reason: `body exceeds ${this.maxBodySize} bytes`,
        size1: this.maxBodySize,
      };
    }
    if (this.held + payload.length > this.maxHeldBytes) {
      this.drop(key);
      return { status: 'error', code: Code.ServiceUnavailable, reason: 'too many uploads in progress' };
    }
    r.parts.push(Buffer.from(payload));
    r.length += payload.length;
    this.held += payload.length;
    r.expires = Date.now() + this.lifetimeMs;
    if (block.more) {
      // A smaller SZX than the client's is a hint for its next blocks; our num stays the client's (§2.3).
      return { status: 'continue', block: { num: block.num, more: true, szx: Math.min(block.szx, this.maxSzx) } };
    }
    this.drop(key);
    return { status: 'complete', body: Buffer.concat(r.parts, r.length) };
  }

  get size(): number {
    return this.pending.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, r] of this.pending) if (r.expires && r.expires < now) this.drop(k);
  }
}

/** A large response body kept for the Block2 requests that follow the first (§2.4, §2.5). */
export interface CachedRepresentation {
  code: number;
  body: Buffer;
  contentFormat?: number;
  etag?: Buffer;
  maxAge?: number;
  expires: number;
}

/** Bounded (entries and bytes), expiring cache of representations being transferred block by block. */
export class Block2Cache {
  private readonly entries = new Map<string, CachedRepresentation>();
  private bytes = 0;
  constructor(
    private readonly lifetimeMs: number,
    private readonly maxEntries = 10_000,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  set(key: string, rep: Omit<CachedRepresentation, 'expires'>): void {
    this.delete(key);
    this.entries.set(key, { ...rep, expires: Date.now() + this.lifetimeMs });
    this.bytes += rep.body.length;
    // Oldest first: a client that stalls mid-transfer loses its entry and, for a GET, the block is
    // produced again by the handler.
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  get(key: string): CachedRepresentation | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires < Date.now()) {
      this.delete(key);
      return undefined;
    }
    return e;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e) {
      this.bytes -= e.body.length;
      this.entries.delete(key);
    }
  }
}

/** One request/response exchange on the wire (no block-wise logic), as the client's token layer makes it. */
export type BlockExchange = (msg: { code: number; options: CoapOption[]; payload: Buffer }) => Promise<CoapMessage>;

/**
 * Client side of RFC 7959 §2.5: sends `body` block by block, each after the server's 2.31 Continue,
 * following a smaller block size the server asks for (§2.3). Resolves with the final response, or
 * with the first one that is not 2.31 (the server ended the transfer: 4.13, 4.08, …).
 */
export async function uploadBlocks(
  exchange: BlockExchange,
  code: number,
  base: CoapOption[],
  body: Buffer,
  szx: number,
  /** RFC 9175 §3.3: one Request-Tag for all blocks of this body. */
  requestTag: Buffer,
): Promise<CoapMessage> {
  let offset = 0;
  while (true) {
    const size = blockSize(szx);
    const num = offset / size;
    const chunk = body.subarray(offset, offset + size);
    const more = offset + size < body.length;
    const options = [
      ...base,
      { number: OptionNumber.Block1, value: encodeBlock({ num, more, szx }) },
      { number: OptionNumber.RequestTag, value: requestTag },
    ];
    // RFC 7959 §4: Size1 announces the whole size with the first block.
    if (num === 0) options.push({ number: OptionNumber.Size1, value: encodeUint(body.length) });
    const res = await exchange({ code, options, payload: chunk });
    if (!more) return res;
    if (res.code !== Code.Continue) return res;
    const echoed = getOption(res, OptionNumber.Block1);
    let next = szx;
    if (echoed) {
      const b = decodeBlock(echoed);
      // §2.3: the server may ask for smaller blocks; later block numbers follow the new size.
      if (b.szx < szx) next = b.szx;
    }
    offset += size;
    szx = next;
    if (offset % blockSize(szx) !== 0) throw new CoapError(Code.BadGateway, 'Block1 size change does not align');
  }
}

/**
 * Client side of RFC 7959 §2.4, §3.2: given the first response, fetches the remaining Block2 blocks
 * and returns the whole body (the first payload alone when it is not block-wise). The ETag must not
 * change during the transfer; the body is bounded by `maxBodySize`.
 */
export async function downloadBlocks(
  exchange: BlockExchange,
  code: number,
  base: CoapOption[],
  first: CoapMessage,
  maxBodySize: number,
): Promise<Buffer> {
  const raw = getOption(first, OptionNumber.Block2);
  if (!raw || first.code >> 5 !== 2) return first.payload;
  let b: BlockValue = decodeBlock(raw);
  if (!b.more) return first.payload;
  const etag = getOption(first, OptionNumber.ETag);
  const parts: Buffer[] = [first.payload];
  let length = first.payload.length;
  let offset = b.num * blockSize(b.szx) + first.payload.length;
  const options = withoutOptions(base, OptionNumber.Observe, OptionNumber.Block1, OptionNumber.Size1);
  // Follow-up requests for a POST/PUT response carry no body (RFC 7959 §2.7 example, Figure 8).
  while (b.more) {
    const szx = b.szx;
    const num = offset / blockSize(szx);
    const res = await exchange({
      code,
      options: [...options, { number: OptionNumber.Block2, value: encodeBlock({ num, more: false, szx }) }],
      payload: NO_BODY,
    });
    if (res.code >> 5 !== 2) throw new CoapError(res.code, `block ${num} failed with ${codeString(res.code)}`);
    const r = getOption(res, OptionNumber.Block2);
    if (!r) throw new CoapError(Code.BadGateway, `block ${num} came back without Block2`);
    b = decodeBlock(r);
    if (b.num * blockSize(b.szx) !== offset)
      throw new CoapError(Code.BadGateway, `asked for block ${num}, got ${b.num}`);
    const tag = getOption(res, OptionNumber.ETag);
    if (etag && tag && !tag.equals(etag)) {
      throw new CoapError(Code.RequestEntityIncomplete, 'the representation changed during the Block2 transfer (ETag)');
    }
    length += res.payload.length;
    if (length > maxBodySize) throw new CoapError(Code.RequestEntityTooLarge, `body exceeds ${maxBodySize} bytes`);
    parts.push(res.payload);
    offset += res.payload.length;
    if (b.more && res.payload.length !== blockSize(b.szx))
      throw new CoapError(Code.BadGateway, 'short Block2 block with M set');
  }
  return Buffer.concat(parts, length);
}

const NO_BODY = Buffer.alloc(0);
