/**
 * JSON schemas of the HTTP API: they validate every request (Fastify/Ajv), shape every response
 * (fast-json-stringify drops any field not listed), and become the OpenAPI document at /docs/json.
 */

const id = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const;
const nullableString = { type: ['string', 'null'] } as const;
const nullableInt = { type: ['integer', 'null'] } as const;
/** A time: ms since the epoch, or an ISO 8601 string. */
const time = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', maxLength: 40 },
  ],
} as const;

export const errorBody = {
  $id: 'Error',
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

export const user = {
  $id: 'User',
  type: 'object',
  properties: { id, username: { type: 'string' }, created_at: { type: 'integer' } },
} as const;

export const resource = {
  $id: 'Resource',
  type: 'object',
  properties: {
    id,
    owner_id: id,
    label: { type: 'string' },
    polling_url: nullableString,
    polling_period: nullableInt,
    polling_retransmits: nullableInt,
    polling_timeout_ms: nullableInt,
    created_at: { type: 'integer' },
  },
} as const;

export const stream = {
  $id: 'Stream',
  type: 'object',
  properties: {
    id,
    resource_id: id,
    label: { type: 'string' },
    unit: nullableString,
    type: { type: 'string', enum: ['numeric', 'text'] },
    public: { type: 'boolean' },
    retention_max_points: nullableInt,
    retention_max_age_ms: nullableInt,
    created_at: { type: 'integer' },
    last_time: nullableInt,
  },
} as const;

export const parser = {
  $id: 'Parser',
  type: 'object',
  properties: {
    id,
    resource_id: id,
    stream_id: id,
    kind: { type: 'string', enum: ['json-path', 'regex', 'senml'] },
    expression: { type: 'string' },
    time_format: { type: 'string', enum: ['unix-s', 'unix-ms', 'iso8601'] },
    created_at: { type: 'integer' },
  },
} as const;

export const point = {
  $id: 'Point',
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  properties: {
    time,
    value: { type: ['number', 'string', 'boolean'] },
  },
} as const;

export const sharedSchemas = [errorBody, user, resource, stream, parser, point];

// --- params and query strings

export const keyQuery = {
  key: { type: 'string', maxLength: 256, description: 'user token, resource key or stream key' },
};

export const uidParams = { type: 'object', required: ['uid'], properties: { uid: id } } as const;
export const ridParams = { type: 'object', required: ['uid', 'rid'], properties: { uid: id, rid: id } } as const;
export const pidParams = {
  type: 'object',
  required: ['uid', 'rid', 'pid'],
  properties: { uid: id, rid: id, pid: id },
} as const;
export const sidParams = {
  type: 'object',
  required: ['uid', 'rid', 'sid'],
  properties: { uid: id, rid: id, sid: id },
} as const;

export const authQuery = { type: 'object', properties: keyQuery } as const;

/** Paging of list routes: the body stays an array; `X-Total-Count` and `Link: rel="next"` tell the rest. */
const pageProps = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, description: 'at most this many items (default: all)' },
  offset: { type: 'integer', minimum: 0, default: 0, description: 'skip this many items first (id order)' },
} as const;

export const pageQuery = { type: 'object', properties: { ...keyQuery, ...pageProps } } as const;

export const dataQuery = {
  type: 'object',
  properties: {
    ...keyQuery,
    from: { type: 'string', maxLength: 40, description: 'inclusive; ms since the epoch or ISO 8601' },
    until: { type: 'string', maxLength: 40, description: 'inclusive; ms since the epoch or ISO 8601' },
    limit: { type: 'integer', minimum: 1, description: 'the newest N points of the range (default 1000)' },
    format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
  },
} as const;

export const rangeQuery = {
  type: 'object',
  properties: { ...keyQuery, from: dataQuery.properties.from, until: dataQuery.properties.until },
} as const;

// --- bodies

const label = { type: 'string', minLength: 1, maxLength: 200 } as const;
const password = { type: 'string', minLength: 8, maxLength: 1024 } as const;

export const credentialsBody = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password },
} as const;

export const tokenBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { ...label, description: "unique among this user's tokens" } },
} as const;

export const tidParams = {
  type: 'object',
  required: ['uid', 'tid'],
  properties: { uid: id, tid: id },
} as const;

export const userPatchBody = {
  type: 'object',
  additionalProperties: false,
  properties: { password, rotate_token: { type: 'boolean' } },
} as const;

const pollingProps = {
  polling_url: { type: ['string', 'null'], maxLength: 2048 },
  polling_period: { type: ['integer', 'null'], minimum: 1 },
  polling_retransmits: {
    type: ['integer', 'null'],
    minimum: 0,
    maximum: 20,
    description: 'CoAP MAX_RETRANSMIT of a poll',
  },
  polling_timeout_ms: {
    type: ['integer', 'null'],
    minimum: 100,
    maximum: 60000,
    description: 'CoAP ACK_TIMEOUT (and HTTP timeout) of a poll, ms',
  },
} as const;

export const resourceBody = {
  type: 'object',
  required: ['label'],
  additionalProperties: false,
  properties: { label, ...pollingProps },
} as const;

export const resourcePatchBody = {
  type: 'object',
  additionalProperties: false,
  properties: { label, ...pollingProps, rotate_key: { type: 'boolean' } },
} as const;

const streamProps = {
  label,
  unit: { type: ['string', 'null'], maxLength: 64 },
  public: { type: 'boolean' },
  retention_max_points: { type: ['integer', 'null'], minimum: 1 },
  retention_max_age_ms: { type: ['integer', 'null'], minimum: 1 },
} as const;

export const streamBody = {
  type: 'object',
  required: ['label'],
  additionalProperties: false,
  properties: { ...streamProps, type: { type: 'string', enum: ['numeric', 'text'] } },
} as const;

export const streamPatchBody = {
  type: 'object',
  additionalProperties: false,
  properties: { ...streamProps, rotate_key: { type: 'boolean' } },
} as const;

const parserProps = {
  stream_id: id,
  kind: { type: 'string', enum: ['json-path', 'regex', 'senml'] },
  expression: { type: 'string', maxLength: 1000 },
  time_format: { type: 'string', enum: ['unix-s', 'unix-ms', 'iso8601'] },
} as const;

export const parserBody = {
  type: 'object',
  required: ['stream_id', 'kind', 'expression'],
  additionalProperties: false,
  properties: parserProps,
} as const;

export const parserPatchBody = { type: 'object', additionalProperties: false, properties: parserProps } as const;

/** One point, an array of points, or `{ points: [...] }`. */
export const pointsBody = {
  anyOf: [
    { $ref: 'Point#' },
    { type: 'array', items: { $ref: 'Point#' }, minItems: 1, maxItems: 10_000 },
    {
      type: 'object',
      required: ['points'],
      additionalProperties: false,
      properties: { points: { type: 'array', items: { $ref: 'Point#' }, minItems: 1, maxItems: 10_000 } },
    },
  ],
} as const;

// --- responses

export const errors = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
} as const;

export const userWithToken = {
  type: 'object',
  properties: { ...user.properties, token: { type: 'string', description: 'the API token: shown only now' } },
} as const;
export const sessionResponse = {
  type: 'object',
  properties: {
    ...user.properties,
    token: {
      type: 'string',
      description: 'the session token (ssn_…): send it as Bearer; the API tokens are unchanged',
    },
    expires_at: { type: 'integer', description: 'ms since the epoch; after it the token gets 401 "session expired"' },
  },
} as const;
const apiTokenProps = {
  id,
  user_id: id,
  name: { type: 'string' },
  created_at: { type: 'integer' },
  last_used_at: { ...nullableInt, description: 'last request it authenticated, to within a minute' },
} as const;
/** A listed token: the schema has no secret field, so none can be serialized by mistake. */
export const apiToken = { type: 'object', properties: apiTokenProps } as const;
export const apiTokenList = { type: 'array', items: apiToken } as const;
export const apiTokenCreated = {
  type: 'object',
  properties: { ...apiTokenProps, token: { type: 'string', description: 'the API token (sst_…): shown only now' } },
} as const;
export const infoResponse = {
  type: 'object',
  required: ['version', 'coap', 'coaps', 'modes'],
  properties: {
    version: { type: 'string' },
    coap: { type: ['object', 'null'], properties: { port: { type: 'integer' } } },
    coaps: { type: ['object', 'null'], properties: { port: { type: 'integer' } } },
    modes: { type: 'array', items: { type: 'string', enum: ['psk', 'rpk', 'x509'] } },
  },
} as const;

export const resourceWithKey = {
  type: 'object',
  properties: { ...resource.properties, key: { type: 'string', description: 'the secret key: shown only now' } },
} as const;
export const streamWithKey = {
  type: 'object',
  properties: { ...stream.properties, key: { type: 'string', description: 'the secret key: shown only now' } },
} as const;

export const pointsResponse = {
  type: 'object',
  properties: {
    stream_id: id,
    label: { type: 'string' },
    unit: nullableString,
    points: {
      type: 'array',
      items: { type: 'object', properties: { time: { type: 'integer' }, value: { type: ['number', 'string'] } } },
    },
  },
} as const;

export const ingestResponse = {
  type: 'object',
  properties: {
    stored: { type: 'integer', description: 'points written' },
    created: { type: 'array', items: { $ref: 'Stream#' }, description: 'streams made from a first payload' },
  },
} as const;

export const countResponse = {
  type: 'object',
  properties: { stored: { type: 'integer' }, deleted: { type: 'integer' } },
} as const;

// --- device credentials and the poll log (issue 6)

export const cidParams = {
  type: 'object',
  required: ['uid', 'rid', 'cid'],
  properties: { uid: id, rid: id, cid: id },
} as const;

export const deviceCredential = {
  $id: 'DeviceCredential',
  type: 'object',
  properties: {
    id,
    resource_id: id,
    mode: { type: 'string', enum: ['psk', 'rpk', 'x509'] },
    label: nullableString,
    psk_identity: nullableString,
    rpk_fingerprint: nullableString,
    x509_fingerprint: nullableString,
    x509_name: nullableString,
    x509_ca: nullableString,
    x509_certificate: nullableString,
    created_at: { type: 'integer' },
  },
} as const;

export const deviceCredentialBody = {
  type: 'object',
  required: ['mode'],
  additionalProperties: false,
  properties: {
    mode: { type: 'string', enum: ['psk', 'rpk', 'x509'] },
    label: { type: ['string', 'null'], maxLength: 200 },
    psk_identity: { type: 'string', minLength: 1, maxLength: 128 },
    psk_key: {
      type: 'string',
      maxLength: 200,
      description: 'hex, 16–64 bytes; generated (and shown once) when absent',
    },
    rpk_fingerprint: { type: 'string', maxLength: 100, description: 'hex SHA-256 of the SubjectPublicKeyInfo' },
    rpk: { type: 'string', maxLength: 4096, description: 'PEM SubjectPublicKeyInfo (its fingerprint is kept)' },
    x509_fingerprint: { type: 'string', maxLength: 100, description: 'hex SHA-256 of the pinned certificate (DER)' },
    x509_certificate: { type: 'string', maxLength: 16384, description: 'PEM certificate to pin' },
    x509_name: { type: 'string', maxLength: 512, description: 'subject ("CN=dev1") or SAN ("DNS:dev1.example")' },
    x509_ca: { type: 'string', maxLength: 16384, description: 'PEM CA certificate that issued the device' },
  },
} as const;

export const deviceCredentialCreated = {
  type: 'object',
  properties: {
    ...deviceCredential.properties,
    psk_key: { type: 'string', description: 'the generated PSK (hex): shown only now' },
  },
} as const;

export const pollLogQuery = {
  type: 'object',
  properties: {
    ...keyQuery,
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    offset: pageProps.offset,
  },
} as const;

export const pollLogResponse = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      id,
      time: { type: 'integer' },
      url: { type: 'string' },
      ok: { type: 'boolean' },
      status: { type: 'string' },
      message: nullableString,
      points: { type: 'integer' },
      new_session: { type: 'boolean' },
      duration_ms: { type: 'integer' },
    },
  },
} as const;
