/** Device credentials (the DTLS identities that act as a resource) and the poll log. */
import { type Static, Type } from '@sinclair/typebox';
import type { DeviceCredential, PollLogEntry } from '../model.ts';
import { Id, Millis, Nullable, Strict } from './common.ts';

export const DeviceMode = Type.Union([Type.Literal('psk'), Type.Literal('rpk'), Type.Literal('x509')]);

export const DeviceCredentialView = Type.Object({
  id: Id,
  resource_id: Id,
  mode: DeviceMode,
  label: Nullable(Type.String()),
  psk_identity: Nullable(Type.String()),
  rpk_fingerprint: Nullable(Type.String()),
  x509_fingerprint: Nullable(Type.String()),
  x509_name: Nullable(Type.String()),
  x509_ca: Nullable(Type.String()),
  x509_certificate: Nullable(Type.String()),
  created_at: Millis,
});
export type DeviceCredentialView = Static<typeof DeviceCredentialView>;

/** A device credential as shown: identities and fingerprints, never a key. */
export const deviceCredentialView = (c: DeviceCredential): DeviceCredentialView => ({
  id: c.id,
  resource_id: c.resourceId,
  mode: c.mode,
  label: c.label,
  psk_identity: c.pskIdentity,
  rpk_fingerprint: c.rpkFingerprint,
  x509_fingerprint: c.x509Fingerprint,
  x509_name: c.x509Name,
  x509_ca: c.x509Ca,
  x509_certificate: c.x509Certificate,
  created_at: c.createdAt,
});

const text = (maxLength: number, description?: string) =>
  Type.Optional(Type.String(description ? { maxLength, description } : { maxLength }));

export const DeviceCredentialCreate = Type.Object(
  {
    mode: DeviceMode,
    label: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    psk_identity: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    psk_key: text(200, 'hex, 16–64 bytes; generated (and shown once) when absent'),
    psk_key_text: text(
      64,
      'a printable PSK instead of psk_key: 16–64 ASCII characters without spaces, its bytes are the key',
    ),
    psk_key_format: Type.Optional(
      Type.Union([Type.Literal('hex'), Type.Literal('text')], {
        description:
          'the generated key: 16 random bytes (hex, default) or 24 printable characters (text) that libcoap -k takes',
      }),
    ),
    rpk_fingerprint: text(100, 'hex SHA-256 of the SubjectPublicKeyInfo'),
    rpk: text(4096, 'PEM SubjectPublicKeyInfo (its fingerprint is kept)'),
    x509_fingerprint: text(100, 'hex SHA-256 of the pinned certificate (DER)'),
    x509_certificate: text(16384, 'PEM certificate to pin'),
    x509_name: text(512, 'subject ("CN=dev1") or SAN ("DNS:dev1.example")'),
    x509_ca: text(16384, 'PEM CA certificate that issued the device'),
  },
  Strict,
);
export type DeviceCredentialCreate = Static<typeof DeviceCredentialCreate>;

/** The service's input from the body. */
export const deviceCredentialInput = (b: DeviceCredentialCreate) => ({
  mode: b.mode,
  label: b.label,
  pskIdentity: b.psk_identity,
  pskKey: b.psk_key,
  pskKeyText: b.psk_key_text,
  pskKeyFormat: b.psk_key_format,
  rpkFingerprint: b.rpk_fingerprint,
  rpk: b.rpk,
  x509Fingerprint: b.x509_fingerprint,
  x509Certificate: b.x509_certificate,
  x509Name: b.x509_name,
  x509Ca: b.x509_ca,
});

export const DeviceCredentialCreated = Type.Object({
  ...DeviceCredentialView.properties,
  psk_key: Type.Optional(Type.String({ description: 'the generated PSK (hex): shown only now' })),
  psk_key_text: Type.Optional(
    Type.String({ description: 'the generated PSK as the text it is (psk_key_format text): shown only now' }),
  ),
});

export const PollLogView = Type.Object({
  id: Id,
  time: Millis,
  url: Type.String(),
  ok: Type.Boolean(),
  status: Type.String(),
  message: Nullable(Type.String()),
  points: Type.Integer(),
  new_session: Type.Boolean(),
  duration_ms: Type.Integer(),
});
export type PollLogView = Static<typeof PollLogView>;

export const pollLogView = (e: PollLogEntry): PollLogView => ({
  id: e.id,
  time: e.time,
  url: e.url,
  ok: e.ok,
  status: e.status,
  message: e.message,
  points: e.points,
  new_session: e.newSession,
  duration_ms: e.durationMs,
});
