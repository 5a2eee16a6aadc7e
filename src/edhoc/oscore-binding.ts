/**
 * OSCORE keyed by EDHOC (RFC 9528 Appendix A) for devices bound by a raw public key or an X.509
 * certificate, authorised as the same identity DTLS gives them.
 *
 * Platform side ({@link EdhocOscoreBinding}): `/.well-known/edhoc` with the platform's own RPK
 * (method 0, suite 2, ES256, referenced by kid). Device credentials:
 *
 * - a raw public key: the platform stores only its SHA-256 fingerprint, as DTLS pins it, so the
 *   device sends its CCS by value (`kccs`); identity `{ mode: 'rpk', spki, fingerprint }`;
 * - an X.509 certificate chain by value (`x5chain`), validated against the DTLS server's trust
 *   anchors (the bound CAs and pinned certificates, RFC 5280 path validation, clientAuth);
 * - a certificate by hash (`x5t`, RFC 9360): only a pinned certificate can be found by its hash;
 *
 * an X.509 device's identity is `{ mode: 'x509', subject, sans, fingerprint, chain }`, exactly what
 * a DTLS handshake with that chain yields. Once message_3 verifies, the identity must be bound to a
 * resource (the directory's DTLS lookup) or the exchange ends in EDHOC error 3 and keeps nothing;
 * a credential that is unknown or fails validation ends in error 3 too (the reason is logged).
 * The OSCORE context then made is kept in memory, one per device (a new exchange replaces the
 * old). After a restart the contexts are gone: the device's requests get 4.01 "Security context not
 * found" and it runs EDHOC again (fresh keys, so no nonce is ever reused).
 *
 * Device side ({@link edhocDeviceContext}, {@link edhocClientContext}): runs EDHOC as Initiator
 * against the platform, optionally through a forward proxy, and returns the OSCORE context.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { CoapRequest, CoapResponseInit, CoapServer } from '../coap/index.ts';
import { CoapClient, type CoapClientOptions } from '../coap/index.ts';
import type { PeerIdentity } from '../dtls/credentials/identity.ts';
import { type TrustAnchors, verifyCertificateChain } from '../dtls/credentials/x509.ts';
import { OscoreContext, type OscoreContextParams, type OscoreIdentity } from '../oscore/context.ts';
import { DEVICE_SENDER_ID } from '../oscore/psk-binding.ts';
import type { OscoreServerContexts } from '../oscore/server.ts';
import { encode } from '../util/cbor.ts';
import type { Logger } from '../util/log.ts';
import {
  EDHOC_PATH,
  type EdhocClientOptions,
  EdhocResource,
  type EdhocResourceStats,
  edhocCombinedOverCoap,
  edhocOverCoap,
} from './coap.ts';
import {
  authKeyOf,
  byValue,
  certificateHash,
  type EdhocCredential,
  type IdCred,
  knownCredentials,
  rpkByValue,
  rpkCredential,
  spkiOf,
} from './credentials.ts';
import { EdhocError, ErrCode } from './errors.ts';
import type { EdhocSession } from './session.ts';
import { anyCredential } from './x509-trust.ts';

/** EDHOC method 0 (both sides sign, ES256 with the RPK's P-256 key) and suite 2. */
const METHOD = 0;
const SUITES = [2] as const;

/** A raw public key of ours: the private key and its DER SubjectPublicKeyInfo (DTLS's `OwnRawPublicKey`). */
export interface OwnRpk {
  readonly key: KeyObject;
  readonly spki: Buffer;
}

export interface EdhocPlatformOptions {
  /** The platform's own raw public key (its DTLS RPK); devices pin it as they do for DTLS. */
  readonly rpk: OwnRpk;
  /** Devices with an OSCORE context at once; the least recently keyed is dropped beyond. Default 10 000. */
  readonly maxDevices?: number;
  readonly logger?: Logger;
}

/** The OSCORE context parameters of a completed EDHOC session (RFC 9528 Appendix A.1). */
export function edhocOscoreParams(session: EdhocSession): OscoreContextParams {
  const o = session.oscore();
  return {
    masterSecret: o.masterSecret,
    masterSalt: o.masterSalt,
    senderId: o.senderId,
    recipientId: o.recipientId,
    aead: o.aeadAlgorithm,
    hkdf: o.hkdfAlgorithm,
  };
}

/** What the binding asks of the device directory: the lookup and the trust DTLS uses. */
export interface EdhocDevices {
  /** The resource a DTLS identity is bound to, or undefined (DeviceDirectory.resourceFor). */
  resourceFor(identity: PeerIdentity): Promise<number | undefined>;
  /** The DTLS server's trust: `anchors` holds the bound CAs and pinned certificates. */
  readonly trust: { readonly anchors?: TrustAnchors };
}

type DeviceIdentity = Extract<PeerIdentity, { mode: 'rpk' | 'x509' }>;

interface Keyed {
  readonly identity: DeviceIdentity;
  readonly context: OscoreContext;
}

/** The platform's EDHOC resource and the OSCORE contexts it made, by device. */
export class EdhocOscoreBinding {
  readonly resource: EdhocResource;
  /** By the context's Recipient ID (the kid of the device's requests), in the order they were keyed. */
  private readonly byKid = new Map<string, Keyed>();
  /** Device (identity key) → kid of its current context. */
  private readonly byDevice = new Map<string, string>();
  /** The X.509 identity of each certificate credential the resolver validated. */
  private readonly x509 = new WeakMap<EdhocCredential, Extract<PeerIdentity, { mode: 'x509' }>>();
  /** Contexts dropped to stay within `maxDevices`. */
  evicted = 0;
  /** Exchanges whose credential verified but is bound to no resource. */
  refusedKeys = 0;
  /** Certificates refused before binding was looked at: unknown x5t, or a chain that does not validate. */
  refusedCertificates = 0;
  private readonly log: Logger | undefined;

  constructor(
    private readonly contexts: OscoreServerContexts,
    private readonly devices: EdhocDevices,
    private readonly opts: EdhocPlatformOptions,
  ) {
    this.log = opts.logger;
    this.resource = new EdhocResource({
      suites: [...SUITES],
      credential: rpkCredential(opts.rpk.spki),
      authKey: { kind: 'signature', key: opts.rpk.key },
      // Any well-formed P-256 key by value, or a certificate our DTLS trust accepts; whether it is
      // bound is decided in `accept`.
      peers: anyCredential(
        rpkByValue(() => true),
        (id) => this.certificate(id),
      ),
      accept: (session) => this.accept(session),
      // Kid 01 with no kid context could be matched to a PSK device's context (§6.1 lookup by kid alone).
      connectionIdInUse: (id) => this.byKid.has(id.toString('hex')) || id.equals(DEVICE_SENDER_ID),
      logger: opts.logger,
    });
    // The EDHOC + OSCORE request (RFC 9668): message_3 arrives with the first OSCORE request.
    contexts.edhocCombined = async (cR, message3) => {
      await this.resource.completeCombined(cR, message3);
    };
  }

  get stats(): EdhocResourceStats & {
    devices: number;
    evicted: number;
    refusedKeys: number;
    refusedCertificates: number;
  } {
    return {
      ...this.resource.stats,
      devices: this.byKid.size,
      evicted: this.evicted,
      refusedKeys: this.refusedKeys,
      refusedCertificates: this.refusedCertificates,
    };
  }

  /** Registers POST /.well-known/edhoc, through `wrap` (the API's rate limits and error mapping). */
  register(
    server: CoapServer,
    wrap: (fn: (req: CoapRequest) => Promise<CoapResponseInit>) => (req: CoapRequest) => Promise<CoapResponseInit>,
  ): void {
    server.post(
      EDHOC_PATH,
      wrap((req) => this.resource.respond(req)),
      { rt: 'core.edhoc' },
    );
  }

  /** The DTLS identity an OSCORE request under one of our contexts stands for. */
  identityOf(o: OscoreIdentity | undefined): PeerIdentity | undefined {
    if (!o || o.idContext !== undefined) return undefined;
    return this.byKid.get(o.kid)?.identity;
  }

  /**
   * x5chain: the chain validated as DTLS validates a device's (the directory's anchors, clientAuth);
   * x5t: a pinned certificate with that hash among the anchors (a hash alone cannot be validated,
   * and only pinned certificates are held whole). Undefined refuses with ERR_CODE 3.
   */
  private certificate(id: IdCred): EdhocCredential | undefined {
    if (id.kind !== 'x5chain' && id.kind !== 'x5t') return undefined;
    const anchors = this.devices.trust.anchors;
    try {
      if (!anchors) throw new EdhocError('the platform trusts no X.509 certificates');
      let chain: readonly Buffer[];
      if (id.kind === 'x5chain') chain = id.certificates;
      else {
        const pinned = anchors.certificates.find((c) => !c.x509.ca && certificateHash(c.der, id.alg).equals(id.hash));
        if (!pinned) throw new EdhocError(`no pinned certificate has x5t ${id.hash.toString('hex')}`);
        chain = [pinned.der];
      }
      const v = verifyCertificateChain(chain, { anchors, peerRole: 'client', verifyName: false });
      const credential: EdhocCredential = { idCred: id, cred: encode(chain[0]), publicKey: authKeyOf(v.publicKey) };
      this.x509.set(credential, v.identity);
      return credential;
    } catch (err) {
      this.refusedCertificates++;
      this.log?.info({ ref: id.kind, error: (err as Error).message }, 'EDHOC: device certificate refused');
      return undefined;
    }
  }

  private identityOfSession(session: EdhocSession): DeviceIdentity {
    const x509 = this.x509.get(session.peer);
    if (x509) return x509;
    const spki = spkiOf(session.peer.publicKey);
    return { mode: 'rpk', spki, fingerprint: createHash('sha256').update(spki).digest('hex') };
  }

  private async accept(session: EdhocSession): Promise<void> {
    const identity = this.identityOfSession(session);
    if ((await this.devices.resourceFor(identity)) === undefined) {
      this.refusedKeys++;
      const what = identity.mode === 'rpk' ? 'raw public key' : `certificate (${identity.subject})`;
      throw new EdhocError(`this ${what} is bound to no resource`, ErrCode.unknownCredential);
    }
    const context = await OscoreContext.create(edhocOscoreParams(session));
    const kid = context.identity.kid;
    const device = `${identity.mode}:${identity.fingerprint}`;
    const old = this.byDevice.get(device);
    if (old !== undefined) this.drop(old);
    this.byKid.set(kid, { identity, context });
    this.byDevice.set(device, kid);
    this.contexts.add(context);
    const max = this.opts.maxDevices ?? 10_000;
    while (this.byKid.size > max) {
      this.drop(this.byKid.keys().next().value as string);
      this.evicted++;
    }
  }

  private drop(kid: string): void {
    const k = this.byKid.get(kid);
    if (!k) return;
    this.byKid.delete(kid);
    const device = `${k.identity.mode}:${k.identity.fingerprint}`;
    if (this.byDevice.get(device) === kid) this.byDevice.delete(device);
    this.contexts.remove(k.context);
  }
}

export interface EdhocDeviceOptions {
  /** Any URI on the platform's coap:// port (e.g. the push URI); EDHOC goes to its `/.well-known/edhoc`. */
  readonly platform: string;
  /** The device's raw public key, as bound to its resource. */
  readonly rpk: OwnRpk;
  /** The platform's raw public keys the device trusts (SPKI, PEM or DER). */
  readonly platformKeys: readonly (Buffer | string)[];
  /** Through this coap:// forward proxy. */
  readonly proxy?: string;
  readonly client?: CoapClientOptions;
  /** Send message_3 in the first OSCORE request (RFC 9668) instead of its own round trip. */
  readonly combined?: boolean;
}

/** Runs EDHOC with the platform and returns the device's OSCORE context (sequence in memory: fresh keys per run). */
export async function edhocDeviceContext(opts: EdhocDeviceOptions): Promise<OscoreContext> {
  if (opts.platformKeys.length === 0) throw new RangeError('EDHOC needs the platform key to trust');
  return edhocClientContext({
    uri: opts.platform,
    edhoc: {
      method: METHOD,
      suites: [...SUITES],
      credential: byValue(rpkCredential(opts.rpk.spki)),
      authKey: { kind: 'signature', key: opts.rpk.key },
      peers: knownCredentials(opts.platformKeys.map((k) => rpkCredential(k))),
    },
    proxy: opts.proxy,
    client: opts.client,
    combined: opts.combined,
  });
}

export interface EdhocClientContextOptions {
  /** Any URI on the server's coap:// port; EDHOC goes to its `/.well-known/edhoc`. */
  readonly uri: string;
  /** Our credential, key, the peers we trust, method and suites. */
  readonly edhoc: Omit<EdhocClientOptions, 'proxy'>;
  /** Through this coap:// forward proxy. */
  readonly proxy?: string;
  readonly client?: CoapClientOptions;
  /** Stop after message_2 and leave message_3 for the first OSCORE request (RFC 9668). */
  readonly combined?: boolean;
}

/**
 * Runs EDHOC as Initiator against the server of `uri` and returns the OSCORE context it keys
 * (RFC 9528 Appendix A.1; sequence in memory, as every run makes fresh keys). With `combined`
 * the context holds message_3 in `edhocMessage3`, sent with the first request made under it.
 */
export async function edhocClientContext(opts: EdhocClientContextOptions): Promise<OscoreContext> {
  const u = new URL(opts.uri);
  if (u.protocol !== 'coap:') throw new RangeError(`EDHOC runs over coap://, not ${u.protocol}//`);
  const uri = `coap://${u.host}${EDHOC_PATH}`;
  const client = new CoapClient(opts.client ?? {});
  try {
    const edhoc = { ...opts.edhoc, proxy: opts.proxy };
    if (opts.combined) {
      const { session, message3 } = await edhocCombinedOverCoap(client, uri, edhoc);
      const ctx = await OscoreContext.create(edhocOscoreParams(session));
      ctx.edhocMessage3 = message3;
      return ctx;
    }
    const session = await edhocOverCoap(client, uri, edhoc);
    return await OscoreContext.create(edhocOscoreParams(session));
  } finally {
    await client.close();
  }
}
