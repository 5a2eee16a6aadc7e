/**
 * OSCORE for a device provisioned like a PSK device: its OSCORE context is derived from its PSK
 * identity and key, so that the platform authorises it exactly as the DTLS identity it already has.
 *
 * - Master Secret: HKDF-SHA256 of the PSK with the label below, so that DTLS and OSCORE never use the
 *   same key material directly (the PSK itself keys no OSCORE operation).
 * - ID Context: the PSK identity's bytes; it travels as kid context in every request, and names the
 *   device to the platform before anything is decrypted.
 * - Sender IDs: the device is 0x01, the platform the empty ID.
 *
 * Until EDHOC (RFC 9528) keys contexts, this is how `device add --oscore` provisions one.
 */
import { hkdfSync } from 'node:crypto';
import type { PeerIdentity } from '../dtls/credentials/identity.ts';
import { OscoreContext, type OscoreContextOptions, type OscoreContextParams, type OscoreIdentity } from './context.ts';
import { ClockFloorSequenceStore } from './sequence.ts';
import { type ContextResolver, OscoreServerContexts } from './server.ts';

const LABEL = Buffer.from('SecureSense OSCORE master secret from PSK');
export const DEVICE_SENDER_ID = Buffer.of(0x01);
export const PLATFORM_SENDER_ID = Buffer.alloc(0);

/** The context parameters of a PSK device, for the device's or the platform's side. */
export function pskOscoreParams(identity: string, key: Buffer, role: 'device' | 'platform'): OscoreContextParams {
  const idContext = Buffer.from(identity, 'utf8');
  if (idContext.length === 0 || idContext.length > 255)
    throw new RangeError('a PSK identity of 1..255 bytes is needed as OSCORE ID context');
  const masterSecret = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), LABEL, 16));
  const device = role === 'device';
  return {
    masterSecret,
    senderId: device ? DEVICE_SENDER_ID : PLATFORM_SENDER_ID,
    recipientId: device ? PLATFORM_SENDER_ID : DEVICE_SENDER_ID,
    idContext,
  };
}

/** The DTLS identity an OSCORE identity from {@link pskOscoreParams} stands for, if it is one. */
export function pskIdentityOf(o: OscoreIdentity | undefined): PeerIdentity | undefined {
  if (!o || o.idContext === undefined || o.kid !== DEVICE_SENDER_ID.toString('hex')) return undefined;
  return { mode: 'psk', identity: Buffer.from(o.idContext, 'hex').toString('utf8') };
}

/**
 * A resolver for {@link OscoreServerContexts}: the platform side of a PSK device's context, made on
 * its first request from the key the directory holds. The replay window of a context made this way
 * is unknown (the process may have restarted), so its first request is asked for an Echo.
 */
export function pskContextResolver(
  pskKey: (identity: string) => Promise<Buffer | undefined>,
  opts: OscoreContextOptions = {},
): ContextResolver {
  return async (kid, kidContext) => {
    if (!kidContext || !kid.equals(DEVICE_SENDER_ID)) return undefined;
    const identity = kidContext.toString('utf8');
    const key = await pskKey(identity);
    if (!key) return undefined;
    return OscoreContext.create(pskOscoreParams(identity, key, 'platform'), { replayWindowKnown: false, ...opts });
  };
}

/** The platform's OSCORE layer: contexts of PSK devices made on their first request. */
export function pskOscore(devices: { pskKey(identity: string): Promise<Buffer | undefined> }): OscoreServerContexts {
  return new OscoreServerContexts([], {
    resolve: pskContextResolver((id) => devices.pskKey(id), { sequenceStore: new ClockFloorSequenceStore() }),
  });
}
