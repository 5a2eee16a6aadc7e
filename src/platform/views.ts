/**
 * The wire views of the model, shared by the HTTP API and (issue 6) the CoAP API: SicsthSense's
 * snake_case field names, secrets never included except the one-time `key`/`token` fields.
 */
import type { ApiToken, DataPoint, DeviceCredential, Parser, PollLogEntry, Resource, Stream, User } from './model.ts';

export interface UserView {
  id: number;
  username: string;
  created_at: number;
}
export interface ResourceView {
  id: number;
  owner_id: number;
  label: string;
  polling_url: string | null;
  polling_period: number | null;
  polling_retransmits: number | null;
  polling_timeout_ms: number | null;
  created_at: number;
}
export interface StreamView {
  id: number;
  resource_id: number;
  label: string;
  unit: string | null;
  type: 'numeric' | 'text';
  public: boolean;
  retention_max_points: number | null;
  retention_max_age_ms: number | null;
  created_at: number;
  last_time: number | null;
}
export interface ParserView {
  id: number;
  resource_id: number;
  stream_id: number;
  kind: Parser['kind'];
  expression: string;
  time_format: Parser['timeFormat'];
  created_at: number;
}

/** A named API token as listed: never its secret (only `POST …/tokens` returns that, once). */
export interface ApiTokenView {
  id: number;
  user_id: number;
  name: string;
  created_at: number;
  last_used_at: number | null;
}
export const apiTokenView = (t: ApiToken): ApiTokenView => ({
  id: t.id,
  user_id: t.userId,
  name: t.name,
  created_at: t.createdAt,
  last_used_at: t.lastUsedAt,
});

/** What `GET /info` tells a client (the dashboard) about this platform: no secrets, no auth. */
export interface PlatformInfo {
  version: string;
  /** The plain coap:// listener, or null when there is none. */
  coap: { port: number } | null;
  /** The coaps:// listener, or null when there is none. */
  coaps: { port: number } | null;
  /** DTLS modes the coaps:// listener accepts: always psk; rpk and x509 when it has their credentials. */
  modes: Array<'psk' | 'rpk' | 'x509'>;
}

export const userView = (u: User): UserView => ({ id: u.id, username: u.username, created_at: u.createdAt });

export const resourceView = (r: Resource): ResourceView => ({
  id: r.id,
  owner_id: r.ownerId,
  label: r.label,
  polling_url: r.pollingUrl,
  polling_period: r.pollingPeriod,
  polling_retransmits: r.pollingRetransmits,
  polling_timeout_ms: r.pollingTimeoutMs,
  created_at: r.createdAt,
});

export const streamView = (s: Stream): StreamView => ({
  id: s.id,
  resource_id: s.resourceId,
  label: s.label,
  unit: s.unit,
  type: s.type,
  public: s.public,
  retention_max_points: s.retentionMaxPoints,
  retention_max_age_ms: s.retentionMaxAgeMs,
  created_at: s.createdAt,
  last_time: s.lastTime,
});

export const parserView = (p: Parser): ParserView => ({
  id: p.id,
  resource_id: p.resourceId,
  stream_id: p.streamId,
  kind: p.kind,
  expression: p.expression,
  time_format: p.timeFormat,
  created_at: p.createdAt,
});

export interface DeviceCredentialView {
  id: number;
  resource_id: number;
  mode: DeviceCredential['mode'];
  label: string | null;
  psk_identity: string | null;
  rpk_fingerprint: string | null;
  x509_fingerprint: string | null;
  x509_name: string | null;
  x509_ca: string | null;
  x509_certificate: string | null;
  created_at: number;
}

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

export interface PollLogView {
  id: number;
  time: number;
  url: string;
  ok: boolean;
  status: string;
  message: string | null;
  points: number;
  new_session: boolean;
  duration_ms: number;
}

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

/** RFC 4180 CSV of points: a `time,value` header, CRLF line ends, text values quoted. */
export function pointsCsv(points: DataPoint[]): string {
  const lines = ['time,value'];
  for (const p of points) {
    const v = typeof p.value === 'number' ? String(p.value) : `"${p.value.replace(/"/g, '""')}"`;
    lines.push(`${p.time},${v}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}
