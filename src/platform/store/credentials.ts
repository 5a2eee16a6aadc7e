/** Device credentials: the DTLS identities bound to a resource, and the lookups a handshake makes. */
import type { Selectable } from 'kysely';
import type { DeviceCredentialRecord } from '../model.ts';
import { deleteById, findOne, insertOne, type NewRow, type StoreContext, type StorePage, window } from './context.ts';
import type { DeviceCredentialsTable } from './schema.ts';

/** The row, but the PSK as bytes: the store keeps it as hex text. */
export type NewDeviceCredential = Omit<NewRow<DeviceCredentialsTable>, 'pskKey'> & { pskKey?: Buffer | null };

const deviceCredential = (r: Selectable<DeviceCredentialsTable>): DeviceCredentialRecord => ({
  id: r.id,
  resourceId: r.resource_id,
  mode: r.mode,
  label: r.label,
  pskIdentity: r.psk_identity,
  pskKey: r.psk_key === null ? null : Buffer.from(r.psk_key, 'hex'),
  rpkFingerprint: r.rpk_fingerprint,
  x509Fingerprint: r.x509_fingerprint,
  x509Name: r.x509_name,
  x509Ca: r.x509_ca,
  x509Certificate: r.x509_certificate,
  createdAt: Number(r.created_at),
});

export interface CredentialStore {
  /** Binds a device identity to a resource; a taken PSK identity or fingerprint is a Conflict. */
  createDeviceCredential(c: NewDeviceCredential): Promise<DeviceCredentialRecord>;
  getDeviceCredential(id: number): Promise<DeviceCredentialRecord | undefined>;
  listDeviceCredentials(resourceId: number, page?: StorePage): Promise<DeviceCredentialRecord[]>;
  deleteDeviceCredential(id: number): Promise<boolean>;
  /** The PSK credential with this identity (the DTLS server's key lookup). */
  findPskCredential(identity: string): Promise<DeviceCredentialRecord | undefined>;
  findRpkCredential(fingerprint: string): Promise<DeviceCredentialRecord | undefined>;
  /** X.509 credentials pinning `fingerprint` or naming one of `names` (subject, SANs). */
  findX509Credentials(fingerprint: string, names: string[]): Promise<DeviceCredentialRecord[]>;
  /** Every bound CA and pinned certificate (PEM, distinct): the DTLS server's X.509 trust anchors. */
  listX509TrustMaterial(): Promise<string[]>;
}

export function credentialStore({ db, run }: StoreContext): CredentialStore {
  return {
    createDeviceCredential(c: NewDeviceCredential): Promise<DeviceCredentialRecord> {
      return run(async () =>
        deviceCredential(
          await insertOne(db, 'device_credentials', {
            resource_id: c.resourceId,
            mode: c.mode,
            label: c.label,
            psk_identity: c.pskIdentity ?? null,
            psk_key: c.pskKey ? c.pskKey.toString('hex') : null,
            rpk_fingerprint: c.rpkFingerprint ?? null,
            x509_fingerprint: c.x509Fingerprint ?? null,
            x509_name: c.x509Name ?? null,
            x509_ca: c.x509Ca ?? null,
            x509_certificate: c.x509Certificate ?? null,
            created_at: c.createdAt,
          }),
        ),
      );
    },
    async getDeviceCredential(id: number): Promise<DeviceCredentialRecord | undefined> {
      return findOne(db, 'device_credentials', 'id', id, deviceCredential);
    },
    async listDeviceCredentials(resourceId: number, page?: StorePage): Promise<DeviceCredentialRecord[]> {
      const rows = await window(
        db.selectFrom('device_credentials').selectAll().where('resource_id', '=', resourceId).orderBy('id'),
        page,
      ).execute();
      return rows.map(deviceCredential);
    },
    async deleteDeviceCredential(id: number): Promise<boolean> {
      return deleteById(db, 'device_credentials', id);
    },
    async findPskCredential(identity: string): Promise<DeviceCredentialRecord | undefined> {
      const r = await db
        .selectFrom('device_credentials')
        .selectAll()
        .where('psk_identity', '=', identity)
        .executeTakeFirst();
      return r && deviceCredential(r);
    },
    async findRpkCredential(fingerprint: string): Promise<DeviceCredentialRecord | undefined> {
      const r = await db
        .selectFrom('device_credentials')
        .selectAll()
        .where('rpk_fingerprint', '=', fingerprint)
        .executeTakeFirst();
      return r && deviceCredential(r);
    },
    async findX509Credentials(fingerprint: string, names: string[]): Promise<DeviceCredentialRecord[]> {
      const rows = await db
        .selectFrom('device_credentials')
        .selectAll()
        .where((eb) =>
          names.length > 0
            ? eb.or([eb('x509_fingerprint', '=', fingerprint), eb('x509_name', 'in', names)])
            : eb('x509_fingerprint', '=', fingerprint),
        )
        .orderBy('id')
        .execute();
      return rows.map(deviceCredential);
    },
    async listX509TrustMaterial(): Promise<string[]> {
      const rows = await db
        .selectFrom('device_credentials')
        .select(['x509_ca', 'x509_certificate'])
        .where('mode', '=', 'x509')
        .execute();
      const out = new Set<string>();
      for (const r of rows) {
        if (r.x509_ca) out.add(r.x509_ca);
        if (r.x509_certificate) out.add(r.x509_certificate);
      }
      return [...out];
    },
  };
}
