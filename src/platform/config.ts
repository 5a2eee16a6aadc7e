/**
 * The one typed configuration object (DESIGN.md, "Conventions"). Layers, later wins:
 * built-in defaults < a JSON file (`--config FILE` or `SECURESENSE_CONFIG`) < `SECURESENSE_*`
 * environment variables < explicit overrides (command-line flags).
 *
 * Everything is validated at start; every bad value gets its own line in the thrown
 * {@link ConfigError}, naming where it came from (file key or environment variable).
 */
import { readFileSync } from 'node:fs';
import { parseAllowList } from '../util/net-allow.ts';
import {
  adminToken,
  bool,
  db,
  type HostPort,
  handOverPeers,
  handOverToken,
  nonEmpty,
  nonNegativeInt,
  oneOf,
  optionalCidNode,
  optionalFile,
  optionalHostPort,
  type Parse,
  port,
  positiveInt,
  sessionKey,
} from './config-values.ts';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
export type SignupPolicy = 'open' | 'admin';

export interface SecureSenseConfig {
  /** A SQLite file path (default `./data/securesense.db`, `:memory:` for a throw-away store) or a `postgres://` URL. */
  db: string;
  http: {
    host: string;
    /** TCP port of the plain HTTP API; null turns it off; 0 picks a free port. */
    port: number | null;
  };
  https: {
    host: string;
    /** TCP port of the HTTPS API; null (the default) turns it off. Needs `cert` and `key`. */
    port: number | null;
    /** PEM certificate chain file. */
    cert: string | null;
    /** PEM private key file. */
    key: string | null;
  };
  /** The CoAP/CoAPs API for devices; null turns a listener off. */
  coap: {
    host: string;
    port: number | null;
    coapsPort: number | null;
    /**
     * The platform's own DTLS credentials for devices in the public-key modes: a PEM certificate
     * (chain) and its key for X.509, a PEM P-256 key for raw public keys (RFC 7250). Without them
     * only PSK devices can connect over coaps://.
     */
    cert: string | null;
    key: string | null;
    rpkKey: string | null;
    /**
     * Several hosts (docs/deployment.md "Several hosts"): this host's node number (0–255), the first
     * byte of every Connection ID it hands out, so that another host that receives the record after
     * the device's address changed knows whose it is. Null (the default): one host.
     */
    cidNode: number | null;
    /** Where this host takes hand-overs from its peers (an internal address); default its own `handOverPeers` entry. */
    handOverAddress: HostPort | null;
    /** Where each node takes hand-overs, by node number (this host's own entry may be listed too). */
    handOverPeers: Record<number, HostPort>;
    /** 32 hex digits shared by the hosts: the key that authenticates hand-overs (HMAC). A secret. */
    handOverToken: string | null;
  };
  /** DTLS sessions of the coaps:// API shared between front ends through the store (docs/platform-coap.md). */
  dtls: {
    /**
     * Hex secret (at least 32 hex digits = 128 bits) from which the key that seals stored sessions
     * is derived. Every front end over one store needs the same one. Null (the default) keeps the
     * session cache in memory, per process.
     */
    sessionKey: string | null;
    /** How long a session may be resumed after its full handshake, seconds (default 24 h). */
    sessionLifetime: number;
    /** New shared sessions are written to the store in batches this often, ms (default 20; 0 = each at once). */
    sessionWriteBatch: number;
    /** coaps:// sessions held at once; past it the session idle longest is evicted (docs/dtls.md "Limits"). */
    maxSessions: number;
    /** Resumable coaps:// sessions kept in memory (without a session key); past it the oldest is dropped. */
    sessionCache: number;
    /** coaps:// half-open handshakes at once; past it the oldest is dropped for a new verified ClientHello. */
    maxHandshakes: number;
    /** A coaps:// handshake not finished after this long is dropped, ms. */
    handshakeTimeout: number;
    /** A coaps:// session silent for this long is dropped, ms (0 = never). */
    idleTimeout: number;
    /** Receive buffer requested for the coaps:// socket, bytes (the kernel may grant less). */
    recvBuffer: number;
  };
  /** The poller that pulls resources' polling URLs. */
  poller: {
    enabled: boolean;
    /**
     * Lab addresses the platform may fetch although they are loopback, private or otherwise
     * special-purpose (refused by default: src/platform/net-guard.ts): addresses, CIDR blocks or
     * host names, each optionally with a port (src/util/net-allow.ts). Default none.
     */
    allow: string[];
  };
  api: {
    /** Largest request body in bytes (JSON or raw payload). */
    bodyLimit: number;
    /** `open`: anyone may POST /users. `admin`: only a caller with `adminToken`. */
    signup: SignupPolicy;
    adminToken: string | null;
    /** Upper bound of `limit` on stream-data reads. */
    maxReadLimit: number;
    /** How long a sign-in session (`POST /login`) is accepted, seconds (default 12 h). */
    sessionLifetime: number;
    /** Requests per second per credential (token, session, key, or client IP) on the HTTP API; 0 = off. */
    rateLimit: number;
    /** How many requests a credential may make at once before `rateLimit` applies (token bucket size). */
    rateBurst: number;
    /**
     * Failed authentications (bad token or key, wrong password) per minute per client address, on
     * HTTP and CoAP; once spent, the address is refused (429 / 4.29) until its bucket refills. 0 = off.
     */
    authFailureLimit: number;
    /**
     * How often (ms) the rate limits are synced with the store, so that every front end on one
     * database shares them; 0 keeps them per process.
     */
    rateLimitSync: number;
  };
  logLevel: LogLevel;
}

export const DEFAULT_CONFIG: SecureSenseConfig = {
  db: './data/securesense.db',
  // '::' is dual-stack: IPv6 clients, and IPv4 ones as IPv4-mapped addresses (platform/dual-stack.ts).
  http: { host: '::', port: 8080 },
  https: { host: '::', port: null, cert: null, key: null },
  coap: {
    host: '::',
    port: 5683,
    coapsPort: 5684,
    cert: null,
    key: null,
    rpkKey: null,
    cidNode: null,
    handOverAddress: null,
    handOverPeers: {},
    handOverToken: null,
  },
  dtls: {
    sessionKey: null,
    sessionLifetime: 86_400,
    sessionWriteBatch: 20,
    maxSessions: 100_000,
    sessionCache: 100_000,
    maxHandshakes: 1000,
    handshakeTimeout: 10_000,
    idleTimeout: 300_000,
    recvBuffer: 4 * 1024 * 1024,
  },
  poller: { enabled: true, allow: [] },
  api: {
    bodyLimit: 1_048_576,
    signup: 'open',
    adminToken: null,
    maxReadLimit: 100_000,
    sessionLifetime: 43_200,
    rateLimit: 200,
    rateBurst: 400,
    authFailureLimit: 60,
    rateLimitSync: 250,
  },
  logLevel: 'info',
};

export type { HostPort } from './config-values.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** A deep-partial config as found in a file or built from flags. */
export type ConfigInput = {
  [K in keyof SecureSenseConfig]?: SecureSenseConfig[K] extends object
    ? { [J in keyof SecureSenseConfig[K]]?: unknown }
    : unknown;
};

interface Field {
  path: [keyof SecureSenseConfig] | [keyof SecureSenseConfig, string];
  env: string;
  parse: Parse;
}

const FIELDS: Field[] = [
  { path: ['db'], env: 'SECURESENSE_DB', parse: db },
  { path: ['http', 'host'], env: 'SECURESENSE_HTTP_HOST', parse: nonEmpty },
  { path: ['http', 'port'], env: 'SECURESENSE_HTTP_PORT', parse: port },
  { path: ['https', 'host'], env: 'SECURESENSE_HTTPS_HOST', parse: nonEmpty },
  { path: ['https', 'port'], env: 'SECURESENSE_HTTPS_PORT', parse: port },
  { path: ['https', 'cert'], env: 'SECURESENSE_HTTPS_CERT', parse: optionalFile },
  { path: ['https', 'key'], env: 'SECURESENSE_HTTPS_KEY', parse: optionalFile },
  { path: ['coap', 'host'], env: 'SECURESENSE_COAP_HOST', parse: nonEmpty },
  { path: ['coap', 'port'], env: 'SECURESENSE_COAP_PORT', parse: port },
  { path: ['coap', 'coapsPort'], env: 'SECURESENSE_COAPS_PORT', parse: port },
  { path: ['coap', 'cert'], env: 'SECURESENSE_COAPS_CERT', parse: optionalFile },
  { path: ['coap', 'key'], env: 'SECURESENSE_COAPS_KEY', parse: optionalFile },
  { path: ['coap', 'rpkKey'], env: 'SECURESENSE_COAPS_RPK_KEY', parse: optionalFile },
  { path: ['coap', 'cidNode'], env: 'SECURESENSE_COAPS_CID_NODE', parse: optionalCidNode },
  { path: ['coap', 'handOverAddress'], env: 'SECURESENSE_COAPS_HANDOVER_ADDRESS', parse: optionalHostPort },
  { path: ['coap', 'handOverPeers'], env: 'SECURESENSE_COAPS_HANDOVER_PEERS', parse: handOverPeers },
  { path: ['coap', 'handOverToken'], env: 'SECURESENSE_COAPS_HANDOVER_TOKEN', parse: handOverToken },
  { path: ['dtls', 'sessionKey'], env: 'SECURESENSE_SESSION_KEY', parse: sessionKey },
  { path: ['dtls', 'sessionLifetime'], env: 'SECURESENSE_SESSION_LIFETIME', parse: positiveInt(365 * 86_400) },
  { path: ['dtls', 'sessionWriteBatch'], env: 'SECURESENSE_SESSION_WRITE_BATCH', parse: nonNegativeInt(10_000) },
  { path: ['dtls', 'maxSessions'], env: 'SECURESENSE_COAPS_MAX_SESSIONS', parse: positiveInt(10_000_000) },
  { path: ['dtls', 'sessionCache'], env: 'SECURESENSE_COAPS_SESSION_CACHE', parse: positiveInt(10_000_000) },
  { path: ['dtls', 'maxHandshakes'], env: 'SECURESENSE_COAPS_MAX_HANDSHAKES', parse: positiveInt(1_000_000) },
  { path: ['dtls', 'handshakeTimeout'], env: 'SECURESENSE_COAPS_HANDSHAKE_TIMEOUT', parse: positiveInt(3_600_000) },
  { path: ['dtls', 'idleTimeout'], env: 'SECURESENSE_COAPS_IDLE_TIMEOUT', parse: nonNegativeInt(30 * 86_400_000) },
  { path: ['dtls', 'recvBuffer'], env: 'SECURESENSE_COAPS_RECV_BUFFER', parse: positiveInt(1 << 30) },
  { path: ['poller', 'enabled'], env: 'SECURESENSE_POLLER', parse: bool },
  { path: ['poller', 'allow'], env: 'SECURESENSE_POLLER_ALLOW', parse: parseAllowList },
  { path: ['api', 'bodyLimit'], env: 'SECURESENSE_BODY_LIMIT', parse: positiveInt(64 * 1024 * 1024) },
  { path: ['api', 'signup'], env: 'SECURESENSE_SIGNUP', parse: oneOf(['open', 'admin'] as const) },
  { path: ['api', 'adminToken'], env: 'SECURESENSE_ADMIN_TOKEN', parse: adminToken },
  { path: ['api', 'maxReadLimit'], env: 'SECURESENSE_MAX_READ_LIMIT', parse: positiveInt(10_000_000) },
  { path: ['api', 'sessionLifetime'], env: 'SECURESENSE_SESSION_TTL', parse: positiveInt(365 * 86_400) },
  { path: ['api', 'rateLimit'], env: 'SECURESENSE_RATE_LIMIT', parse: nonNegativeInt(1_000_000) },
  { path: ['api', 'rateBurst'], env: 'SECURESENSE_RATE_BURST', parse: positiveInt(10_000_000) },
  { path: ['api', 'authFailureLimit'], env: 'SECURESENSE_AUTH_FAILURE_LIMIT', parse: nonNegativeInt(1_000_000) },
  { path: ['api', 'rateLimitSync'], env: 'SECURESENSE_RATE_LIMIT_SYNC', parse: nonNegativeInt(60_000) },
  { path: ['logLevel'], env: 'SECURESENSE_LOG_LEVEL', parse: oneOf(LOG_LEVELS) },
];

export interface LoadConfigOptions {
  /** JSON config file; defaults to `env.SECURESENSE_CONFIG` when set. */
  file?: string;
  /** The environment to read `SECURESENSE_*` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Highest-priority values (e.g. from command-line flags). */
  overrides?: ConfigInput;
}

function get(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || !(k in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Builds and validates the configuration. Throws {@link ConfigError} listing every bad value. */
export function loadConfig(opts: LoadConfigOptions = {}): SecureSenseConfig {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  let fileInput: unknown = {};
  const file = opts.file ?? env.SECURESENSE_CONFIG;
  if (file) {
    try {
      fileInput = JSON.parse(readFileSync(file, 'utf8'));
      if (fileInput === null || typeof fileInput !== 'object' || Array.isArray(fileInput)) {
        problems.push(`${file}: must hold a JSON object`);
        fileInput = {};
      }
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
    }
    // Unknown keys are most likely typos: say so rather than silently ignoring them.
    const known = new Set(FIELDS.map((f) => f.path.join('.')));
    const sections = new Set(FIELDS.filter((f) => f.path.length === 2).map((f) => f.path[0] as string));
    for (const [k, v] of Object.entries(fileInput as Record<string, unknown>)) {
      if (sections.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const j of Object.keys(v)) if (!known.has(`${k}.${j}`)) problems.push(`${file}: unknown key "${k}.${j}"`);
      } else if (!known.has(k)) problems.push(`${file}: unknown key "${k}"`);
    }
  }

  const cfg = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, Record<string, unknown> | unknown>;
  for (const f of FIELDS) {
    const key = f.path.join('.');
    const layers: Array<[string, unknown]> = [
      [`${file}: "${key}"`, get(fileInput, f.path as string[])],
      [f.env, env[f.env]],
      [`option ${key}`, get(opts.overrides, f.path as string[])],
    ];
    for (const [where, raw] of layers) {
      if (raw === undefined) continue;
      try {
        const v = f.parse(raw);
        if (f.path.length === 1) cfg[f.path[0]] = v;
        else (cfg[f.path[0]] as Record<string, unknown>)[f.path[1]] = v;
      } catch (err) {
        problems.push(`${where} ${(err as Error).message}`);
      }
    }
  }
  const out = cfg as unknown as SecureSenseConfig;
  if (out.https.port !== null && (!out.https.cert || !out.https.key)) {
    problems.push('https.port is set but https.cert and https.key (SECURESENSE_HTTPS_CERT/KEY) are not both given');
  }
  if ((out.coap.cert === null) !== (out.coap.key === null)) {
    problems.push('coap.cert and coap.key (SECURESENSE_COAPS_CERT/KEY) must be given together');
  }
  const node = out.coap.cidNode;
  if (node !== null) {
    if (!out.coap.handOverToken) {
      problems.push('coap.cidNode is set but coap.handOverToken (SECURESENSE_COAPS_HANDOVER_TOKEN) is not');
    }
    if (!out.coap.handOverAddress && !out.coap.handOverPeers[node]) {
      problems.push(
        `coap.cidNode is ${node} but neither coap.handOverAddress (SECURESENSE_COAPS_HANDOVER_ADDRESS) nor coap.handOverPeers["${node}"] says where it takes hand-overs`,
      );
    }
  } else if (out.coap.handOverAddress || Object.keys(out.coap.handOverPeers).length > 0) {
    problems.push('coap.handOverAddress/handOverPeers are set but coap.cidNode (SECURESENSE_COAPS_CID_NODE) is not');
  }
  if (out.api.signup === 'admin' && !out.api.adminToken) {
    problems.push('api.signup is "admin" but api.adminToken (SECURESENSE_ADMIN_TOKEN) is not set');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
