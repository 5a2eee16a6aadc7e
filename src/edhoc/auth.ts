/**
 * Signature_or_MAC_2/3 (RFC 9528 §5.3.2, §5.4.2): MAC_x = EDHOC_KDF( PRK, label, context_x,
 * mac_length_x ) over context_2 = << C_R, ID_CRED_R, TH_2, CRED_R, ? EAD_2 >> or
 * context_3 = << ID_CRED_I, TH_3, CRED_I, ? EAD_3 >>; a party authenticating with a signature key
 * then signs the COSE_Sign1 Sig_structure [ "Signature1", << ID_CRED >>, << TH, CRED, ? EAD >>,
 * MAC ], one with a static DH key sends MAC_x itself.
 */
import type { KeyObject } from 'node:crypto';
import { encode } from '../util/cbor.ts';
import { type EdhocCredential, encodeIdCred, verificationKey } from './credentials.ts';
import type { DhKeyPair } from './crypto.ts';
import { signWith, verifyWith } from './crypto.ts';
import { EdhocError } from './errors.ts';
import { edhocKdf } from './key-schedule.ts';
import type { EdhocSuite } from './suites.ts';

/** How we authenticate: a signature key (methods where we sign) or a static DH key. */
export type OwnAuthKey =
  | { readonly kind: 'signature'; readonly key: KeyObject }
  | { readonly kind: 'static-dh'; readonly pair: DhKeyPair };

/** Does the Initiator (resp. Responder) authenticate by signature in this method (RFC 9528 §3.2)? */
export function initiatorSigns(method: number): boolean {
  return method === 0 || method === 1;
}
export function responderSigns(method: number): boolean {
  return method === 0 || method === 2;
}

export interface MacInput {
  /** MAC label: 2 for MAC_2, 6 for MAC_3. */
  readonly label: number;
  readonly prk: Buffer;
  /** C_R's encoding for context_2; empty for context_3. */
  readonly cR: Buffer;
  readonly credential: EdhocCredential;
  readonly th: Buffer;
  /** EAD_x as encoded. */
  readonly ead: Buffer;
  readonly signs: boolean;
}

export function macValue(suite: EdhocSuite, m: MacInput): Buffer {
  const idCred = encodeIdCred(m.credential.idCred);
  const context = Buffer.concat([m.cR, idCred, encode(m.th), m.credential.cred, m.ead]);
  return edhocKdf(m.prk, m.label, context, m.signs ? suite.hashLength : suite.macLength);
}

function sigStructure(m: MacInput, mac: Buffer): Buffer {
  const idCred = encodeIdCred(m.credential.idCred);
  const externalAad = Buffer.concat([encode(m.th), m.credential.cred, m.ead]);
  return encode(['Signature1', idCred, externalAad, mac]);
}

/** Our Signature_or_MAC_x. */
export function makeSignatureOrMac(suite: EdhocSuite, m: MacInput, own: OwnAuthKey): Buffer {
  const mac = macValue(suite, m);
  if (!m.signs) return mac;
  if (own.kind !== 'signature') throw new EdhocError('this method needs a signature key');
  return signWith(suite.signature, own.key, sigStructure(m, mac));
}

/** Checks the peer's Signature_or_MAC_x; throws an EdhocError naming the message when it fails. */
export function checkSignatureOrMac(suite: EdhocSuite, m: MacInput, received: Buffer, what: string): void {
  const mac = macValue(suite, m);
  if (!m.signs) {
    if (received.length !== mac.length || !received.equals(mac)) throw new EdhocError(`${what} does not verify`);
    return;
  }
  const key = verificationKey(m.credential.publicKey);
  if (!verifyWith(suite.signature, key, sigStructure(m, mac), received)) {
    throw new EdhocError(`${what} signature does not verify`);
  }
}
