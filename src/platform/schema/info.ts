/** What `GET /info` tells a client (the dashboard) about this platform: no secrets, no auth. */
import { type Static, Type } from '@sinclair/typebox';
import { Nullable } from './common.ts';
import { DeviceMode } from './devices.ts';

const Listener = Nullable(Type.Object({ port: Type.Integer() }));

export const PlatformInfo = Type.Object({
  version: Type.String(),
  /** The plain coap:// listener, or null when there is none. */
  coap: Listener,
  /** The coaps:// listener, or null when there is none. */
  coaps: Listener,
  /** DTLS modes the coaps:// listener accepts: always psk; rpk and x509 when it has their credentials. */
  modes: Type.Array(DeviceMode),
});
export type PlatformInfo = Static<typeof PlatformInfo>;
