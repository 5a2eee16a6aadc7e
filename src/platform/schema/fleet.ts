/** The dashboard's fleet console: the overview, the live events and downsampled series. */
import { type Static, Type } from '@sinclair/typebox';
import { Id, Millis, Nullable } from './common.ts';
import { DeviceMode } from './devices.ts';

const Count = Type.Integer({ minimum: 0 });

export const OverviewDevice = Type.Object({
  id: Id,
  mode: DeviceMode,
  /** PSK identity, RPK fingerprint, X.509 pinned fingerprint or bound name. */
  identity: Type.String(),
  label: Nullable(Type.String()),
});

export const OverviewHandshake = Type.Object({
  time: Millis,
  mode: DeviceMode,
  identity: Type.String(),
  resumed: Type.Boolean(),
});

export const OverviewPoller = Type.Object({
  url: Type.String(),
  period: Nullable(Type.Integer()),
  /** ok: the last poll worked; failing: it did not; waiting: no poll yet. */
  state: Type.Union([Type.Literal('ok'), Type.Literal('failing'), Type.Literal('waiting')]),
  last_poll: Nullable(Millis),
  last_error: Nullable(Type.String()),
});

export const OverviewStream = Type.Object({
  id: Id,
  label: Type.String(),
  unit: Nullable(Type.String()),
  type: Type.String(),
  last_time: Nullable(Millis),
  points_last_hour: Count,
});

export const OverviewResource = Type.Object({
  id: Id,
  label: Type.String(),
  online: Type.Boolean(),
  /** The last datagram, point or successful poll, ms; null if never. */
  last_seen: Nullable(Millis),
  devices: Type.Array(OverviewDevice),
  last_handshake: Nullable(OverviewHandshake),
  points_last_hour: Count,
  streams: Type.Array(OverviewStream),
  poller: Nullable(OverviewPoller),
});

export const OverviewView = Type.Object({
  time: Millis,
  online_window_ms: Count,
  counts: Type.Object({
    resources: Count,
    devices: Count,
    devices_online: Count,
    points_per_min: Count,
    handshakes_per_min: Count,
    /** Handshakes that failed in the last minute plus resources whose last poll failed. */
    errors: Count,
  }),
  resources: Type.Array(OverviewResource),
});
export type OverviewView = Static<typeof OverviewView>;

export const SeriesQuery = Type.Object({
  key: Type.Optional(Type.String({ maxLength: 256 })),
  from: Type.String({ maxLength: 40, description: 'inclusive; ms since the epoch or ISO 8601' }),
  until: Type.Optional(Type.String({ maxLength: 40, description: 'inclusive; default now' })),
  buckets: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 300 })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' })),
});

export const SeriesView = Type.Object({
  stream_id: Id,
  from: Millis,
  until: Millis,
  bucket_ms: Count,
  buckets: Type.Array(
    Type.Object({ time: Millis, min: Type.Number(), max: Type.Number(), mean: Type.Number(), count: Count }),
  ),
});
export type SeriesView = Static<typeof SeriesView>;
