/**
 * One OSCORE security context with its state (RFC 8613 §3): the derived keys, the Sender Sequence
 * Number (persisted ahead of use), the replay window of the Recipient Context and the Echo values
 * this endpoint handed out (RFC 9175) while its window is unknown after a reboot.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type DerivedKeys, deriveKeys, type OscoreContextParams } from './derive.ts';
import { OscoreError } from './errors.ts';
import { partialIvOf } from './option.ts';
import type { RecipientKeys, SenderKeys } from './protect.ts';
import { ReplayWindow } from './replay.ts';
import { DEFAULT_SEQUENCE_WINDOW, SenderSequence, type SequenceStore, sequenceKey } from './sequence.ts';

export type { OscoreContextParams };

/** Who the peer of a context is, as a handler sees it (hex strings; empty IDs are ""). */
export interface OscoreIdentity {
  /** The peer's Sender ID, our Recipient ID: the kid of its requests. */
  kid: string;
  /** Our Sender ID. */
  ownId: string;
  idContext?: string;
}

export interface OscoreContextOptions {
  /** Where the Sender Sequence Number bound is persisted; without one it lives in memory only. */
  sequenceStore?: SequenceStore;
  /** Numbers reserved per write to the store. Default 64. */
  sequenceWindow?: number;
  /**
   * Whether the replay window is known (a fresh context: true). A server restoring a context whose
   * window was not persisted passes false: it then asks the first request for an Echo (Appendix B.1.2).
   */
  replayWindowKnown?: boolean;
  /** How long an Echo value we sent stays valid, ms. Default 60 s. */
  echoLifetimeMs?: number;
}

/** Echo values outstanding at once; the oldest is dropped beyond this. */
const MAX_ECHOES = 8;

export class OscoreContext {
  readonly keys: DerivedKeys;
  readonly sender: SenderKeys;
  readonly recipient: RecipientKeys;
  readonly replay: ReplayWindow;
  readonly identity: OscoreIdentity;
  private readonly echoes: { value: Buffer; until: number }[] = [];
  /** EDHOC message_3 to carry in the next request (the EDHOC + OSCORE request, RFC 9668), then cleared. */
  edhocMessage3: Buffer | undefined;
  private readonly echoLifetimeMs: number;

  private constructor(
    readonly params: Readonly<OscoreContextParams>,
    private readonly sequence: SenderSequence,
    opts: OscoreContextOptions,
  ) {
    this.keys = deriveKeys(params);
    this.sender = {
      senderId: params.senderId,
      senderKey: this.keys.senderKey,
      commonIv: this.keys.commonIv,
      idContext: params.idContext,
    };
    this.recipient = {
      recipientId: params.recipientId,
      recipientKey: this.keys.recipientKey,
      commonIv: this.keys.commonIv,
    };
    this.replay = new ReplayWindow(opts.replayWindowKnown ?? true);
    this.echoLifetimeMs = opts.echoLifetimeMs ?? 60_000;
    this.identity = {
      kid: params.recipientId.toString('hex'),
      ownId: params.senderId.toString('hex'),
      ...(params.idContext ? { idContext: params.idContext.toString('hex') } : {}),
    };
  }

  /** Derives a context and opens its sequence from the store. Throws `RangeError` on bad parameters. */
  static async create(params: OscoreContextParams, opts: OscoreContextOptions = {}): Promise<OscoreContext> {
    deriveKeys(params);
    const key = sequenceKey(params.masterSecret, params.masterSalt, params.senderId, params.idContext);
    const seq = await SenderSequence.open(opts.sequenceStore, key, opts.sequenceWindow ?? DEFAULT_SEQUENCE_WINDOW);
    return new OscoreContext(params, seq, opts);
  }

  /** The next Partial IV of ours, persisted ahead of use. */
  async nextPartialIv(): Promise<Buffer> {
    return partialIvOf(await this.sequence.next());
  }

  /** The Sender Sequence Number the next message will use. */
  get senderSequence(): number {
    return this.sequence.current;
  }

  /** A fresh Echo value to send in a 4.01 (RFC 9175 §2.2), remembered for `echoLifetimeMs`. */
  issueEcho(now = Date.now()): Buffer {
    const value = randomBytes(8);
    this.echoes.push({ value, until: now + this.echoLifetimeMs });
    if (this.echoes.length > MAX_ECHOES) this.echoes.shift();
    return value;
  }

  /** True (once) when `value` is an Echo we issued and it has not expired. */
  takeEcho(value: Buffer, now = Date.now()): boolean {
    const i = this.echoes.findIndex((e) => e.value.length === value.length && timingSafeEqual(e.value, value));
    if (i < 0) return false;
    const [e] = this.echoes.splice(i, 1);
    return e.until >= now;
  }
}

/** Parses the hex fields of a context file (`--oscore context.json`); throws naming the field. */
export function contextParamsFromJson(json: unknown): OscoreContextParams {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new OscoreError('malformed', 'OSCORE context: not a JSON object');
  const o = json as Record<string, unknown>;
  const hex = (name: string, required: boolean): Buffer | undefined => {
    const v = o[name];
    if (v === undefined || v === null) {
      if (required) throw new RangeError(`OSCORE context: ${name} is missing`);
      return undefined;
    }
    if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v))
      throw new RangeError(`OSCORE context: ${name} must be a hex string`);
    return Buffer.from(v, 'hex');
  };
  const num = (name: string): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw new RangeError(`OSCORE context: ${name} must be an integer`);
    return v;
  };
  return {
    masterSecret: hex('masterSecret', true) as Buffer,
    masterSalt: hex('masterSalt', false),
    senderId: hex('senderId', true) as Buffer,
    recipientId: hex('recipientId', true) as Buffer,
    idContext: hex('idContext', false),
    aead: num('aead'),
    hkdf: num('hkdf'),
  };
}

/** The JSON form of a context's parameters (hex fields), as `device add --oscore` prints it. */
export function contextParamsToJson(p: OscoreContextParams): Record<string, string | number> {
  const out: Record<string, string | number> = {
    masterSecret: p.masterSecret.toString('hex'),
    senderId: p.senderId.toString('hex'),
    recipientId: p.recipientId.toString('hex'),
  };
  if (p.masterSalt) out.masterSalt = p.masterSalt.toString('hex');
  if (p.idContext) out.idContext = p.idContext.toString('hex');
  return out;
}
