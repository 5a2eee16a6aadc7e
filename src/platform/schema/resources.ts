/** Resources: the wire shape and the bodies that create and change one. */
import { type Static, Type } from '@sinclair/typebox';
import type { Resource } from '../model.ts';
import { Id, Label, Millis, Nullable, Strict } from './common.ts';

export const ResourceView = Type.Object({
  id: Id,
  owner_id: Id,
  label: Type.String(),
  polling_url: Nullable(Type.String()),
  polling_period: Nullable(Type.Integer()),
  polling_retransmits: Nullable(Type.Integer()),
  polling_timeout_ms: Nullable(Type.Integer()),
  created_at: Millis,
});
export type ResourceView = Static<typeof ResourceView>;

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

const polling = {
  polling_url: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  polling_period: Type.Optional(Nullable(Type.Integer({ minimum: 1, description: 'seconds between polls' }))),
  polling_retransmits: Type.Optional(
    Nullable(Type.Integer({ minimum: 0, maximum: 20, description: 'CoAP MAX_RETRANSMIT of a poll' })),
  ),
  polling_timeout_ms: Type.Optional(
    Nullable(
      Type.Integer({ minimum: 100, maximum: 60000, description: 'CoAP ACK_TIMEOUT (and HTTP timeout) of a poll, ms' }),
    ),
  ),
};

export const ResourceCreate = Type.Object({ label: Label, ...polling }, Strict);
export type ResourceCreate = Static<typeof ResourceCreate>;

export const ResourcePatch = Type.Object(
  { label: Type.Optional(Label), ...polling, rotate_key: Type.Optional(Type.Boolean()) },
  Strict,
);
export type ResourcePatch = Static<typeof ResourcePatch>;

/** What the service takes from either body (absent fields stay absent: unchanged on a patch). */
export interface ResourceInput {
  label?: string;
  pollingUrl?: string | null;
  pollingPeriod?: number | null;
  /** CoAP MAX_RETRANSMIT of each poll (0–20), null for the default. */
  pollingRetransmits?: number | null;
  /** CoAP ACK_TIMEOUT / HTTP timeout of each poll in ms (100–60000), null for the default. */
  pollingTimeoutMs?: number | null;
  /** Issue a new secret key; the old one stops working. */
  rotateKey?: boolean;
}

/** The service's input from a body; a create body's label stays required. */
export function resourceInput(b: ResourceCreate): ResourceInput & { label: string };
export function resourceInput(b: ResourcePatch): ResourceInput;
export function resourceInput(b: ResourcePatch): ResourceInput {
  return {
    label: b.label,
    pollingUrl: b.polling_url,
    pollingPeriod: b.polling_period,
    pollingRetransmits: b.polling_retransmits,
    pollingTimeoutMs: b.polling_timeout_ms,
    rotateKey: b.rotate_key,
  };
}

export const ResourceWithKey = Type.Object({
  ...ResourceView.properties,
  key: Type.Optional(Type.String({ description: 'the secret key: shown only now' })),
});
