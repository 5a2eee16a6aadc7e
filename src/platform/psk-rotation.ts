/**
 * Rotating a PSK device's key: the credential is replaced, in one transaction, by one with the same
 * identity and label and a fresh random key (RFC 4279 keys are looked up per handshake, so the
 * next full handshake needs the new key). Authorized as the owner's device management.
 *
 * A DTLS session made with the old key is not ended by this: resumption does not use the PSK, and
 * the session caches are keyed by session id, not identity. It resumes until its lifetime ends
 * (`dtls.sessionLifetime`); remove the device to end it at once.
 */
import { randomBytes } from 'node:crypto';
import { publicCredential } from './devices.ts';
import { Invalid, NotFound } from './errors.ts';
import type { Caller, DeviceCredential } from './model.ts';
import type { PlatformService } from './service.ts';

export async function rotatePsk(
  service: PlatformService,
  caller: Caller,
  uid: number,
  rid: number,
  cid: number,
): Promise<{ credential: DeviceCredential; pskKey: string }> {
  // The owner check (Forbidden/NotFound) is the listing's.
  const bound = await service.listDeviceCredentials(caller, uid, rid);
  const old = bound.find((c) => c.id === cid);
  if (!old) throw new NotFound(`no device credential ${cid} in resource ${rid}`);
  if (old.mode !== 'psk' || old.pskIdentity === null)
    throw new Invalid(`device credential ${cid} is ${old.mode}: only a PSK has a key to rotate`);
  const key = randomBytes(16);
  const created = await service.store.transaction(async (tx) => {
    if (!(await tx.deleteDeviceCredential(cid))) throw new NotFound(`no device credential ${cid}`);
    return tx.createDeviceCredential({
      resourceId: rid,
      mode: 'psk',
      label: old.label,
      pskIdentity: old.pskIdentity as string,
      pskKey: key,
      createdAt: Date.now(),
    });
  });
  return { credential: publicCredential(created), pskKey: key.toString('hex') };
}
