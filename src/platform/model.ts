/**
 * The platform's data model (SicsthSense's, kept where it works): users own resources; a resource
 * has parsers that split its raw payloads into points of its streams.
 *
 * Times are milliseconds since the Unix epoch everywhere inside the platform.
 */

export { PlatformError } from './errors.ts';

export interface User {
  id: number;
  username: string;
  createdAt: number;
}

/** A user row as stored: the password as an scrypt record, the API token only as its SHA-256. */
export interface UserRecord extends User {
  /** `scrypt$N$r$p$salt(base64)$hash(base64)`. */
  passwordHash: string;
  /** Lower-case hex SHA-256 of the `default` API token (a copy; the api_tokens table decides). */
  tokenHash: string;
}

/** A named API token of a user, without its secret (`GET /users/:uid/tokens`). */
export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  createdAt: number;
  /** Last request it authenticated (to within a minute), or null. */
  lastUsedAt: number | null;
}
export interface ApiTokenRecord extends ApiToken {
  /** Lower-case hex SHA-256 of the token. */
  tokenHash: string;
}

/** A sign-in session (`POST /login`), stored only as the SHA-256 of its token. */
export interface UserSessionRecord {
  id: number;
  userId: number;
  tokenHash: string;
  createdAt: number;
  expiresAt: number;
}

export interface Resource {
  id: number;
  ownerId: number;
  label: string;
  /** `http://`, `https://`, `coap://` or `coaps://` URL pulled by the poller, or null. */
  pollingUrl: string | null;
  /** Seconds between polls, or null. */
  pollingPeriod: number | null;
  /** CoAP MAX_RETRANSMIT of a poll (RFC 7252 §4.8), or null for the default 4. */
  pollingRetransmits: number | null;
  /** CoAP ACK_TIMEOUT of a poll in ms (RFC 7252 §4.8; the DTLS handshake's first timeout too), or null for 2000. */
  pollingTimeoutMs: number | null;
  createdAt: number;
}

export interface ResourceRecord extends Resource {
  /** Lower-case hex SHA-256 of the resource's secret key (`?key=`). */
  keyHash: string;
}

export type StreamType = 'numeric' | 'text';

export interface Stream {
  id: number;
  resourceId: number;
  label: string;
  unit: string | null;
  type: StreamType;
  public: boolean;
  /** Keep at most this many points (the newest), or null for no limit. */
  retentionMaxPoints: number | null;
  /** Keep only points younger than this many milliseconds (by their time), or null. */
  retentionMaxAgeMs: number | null;
  createdAt: number;
  /** Time of the newest point, or null when the stream is empty. */
  lastTime: number | null;
}

export interface StreamRecord extends Stream {
  keyHash: string;
}

export type ParserKind = 'json-path' | 'regex' | 'senml';
/** How a time found in a payload is read (SenML has its own rules, RFC 8428 §4.5.3, and ignores this). */
export type TimeFormat = 'unix-s' | 'unix-ms' | 'iso8601';

export interface Parser {
  id: number;
  resourceId: number;
  streamId: number;
  kind: ParserKind;
  /**
   * json-path: a JSON Pointer-like path (`/room1/sensors/temp`, RFC 6901 escaping).
   * regex: a JavaScript regular expression; named groups `value` and `time`, or groups 1 and 2.
   * senml: the resolved SenML name (base name + name, RFC 8428 §4.5.1) to take records from.
   */
  expression: string;
  timeFormat: TimeFormat;
  createdAt: number;
}

/** How a device proves itself in the DTLS handshake (the modes of PeerIdentity). */
export type DeviceMode = 'psk' | 'rpk' | 'x509';

/**
 * A device identity bound to one resource. A request over coaps:// whose handshake
 * proved this identity acts as that resource (Caller `resource`, `via: 'device'`).
 * - `psk`: `pskIdentity` (the key is kept for the handshake but never shown again);
 * - `rpk`: `rpkFingerprint`, SHA-256 of the device's SubjectPublicKeyInfo;
 * - `x509`: a pinned leaf `x509Fingerprint`, or `x509Name` (subject or SAN) under `x509Ca`.
 */
export interface DeviceCredential {
  id: number;
  resourceId: number;
  mode: DeviceMode;
  label: string | null;
  pskIdentity: string | null;
  rpkFingerprint: string | null;
  x509Fingerprint: string | null;
  x509Name: string | null;
  /** PEM of the issuing CA (public). */
  x509Ca: string | null;
  /** PEM of the pinned certificate (public), when it was given rather than its fingerprint. */
  x509Certificate: string | null;
  createdAt: number;
}

export interface DeviceCredentialRecord extends DeviceCredential {
  pskKey: Buffer | null;
}

/** One poll of a resource's `pollingUrl` and its outcome. */
export interface PollLogEntry {
  id: number;
  resourceId: number;
  time: number;
  url: string;
  ok: boolean;
  /** "2.05", "200", or the failure kind: "timeout", "handshake", "network", "parse", "http", "coap". */
  status: string;
  message: string | null;
  /** Points stored from this poll. */
  points: number;
  /** True when this poll made a new DTLS session (the first poll over coaps://, or after a change). */
  newSession: boolean;
  durationMs: number;
}

export type PointValue = number | string;

export interface DataPoint {
  /** Milliseconds since the epoch; (stream, time) is unique. */
  time: number;
  value: PointValue;
}

export interface StreamPoint extends DataPoint {
  streamId: number;
}

/**
 * Who is asking. Every service function takes one; the HTTP API builds it from
 * `Authorization: Bearer` or `?key=`, the CoAP API from the same or from the DTLS
 * `PeerIdentity` bound to a resource.
 *
 * - `anonymous`: nothing presented; may read public streams, and create a user when signup is open.
 * - `admin`: presented the configured admin token; may create users when signup is admin-gated.
 * - `user`: one of a user's API tokens or a sign-in session; owns everything under `/users/:uid`
 *   for its own id.
 * - `resource`: a resource's secret key (`via: 'key'`) or a device bound to it (`via: 'device'`):
 *   may read the resource, its streams and their data, and post data (raw and points) to it.
 * - `stream`: a stream's secret key: may read the stream and its data and post points to it.
 */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'admin' }
  | { kind: 'user'; userId: number }
  | { kind: 'resource'; resourceId: number; via: 'key' | 'device' }
  | { kind: 'stream'; streamId: number };

/** Limits that bound the work one request can cause. */
export const LIMITS = {
  labelLength: 200,
  expressionLength: 1000,
  /** Leaves of a first JSON payload that become streams; beyond this the payload is refused. */
  autoStreams: 100,
  /** Points one request may store. */
  pointsPerBatch: 10_000,
  textValueLength: 4096,
  usernameLength: 64,
  passwordMinLength: 8,
  passwordMaxLength: 1024,
} as const;
