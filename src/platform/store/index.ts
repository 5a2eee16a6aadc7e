/** The storage layer: one Store interface, SQLite and PostgreSQL engines, versioned migrations. */
export { dropPostgresSchema, isPostgresUrl, type OpenStoreOptions, openStore } from './open.ts';
export type { Engine } from './schema.ts';
export type {
  DtlsSessionRecord,
  ListName,
  NewApiToken,
  NewDeviceCredential,
  NewParser,
  NewPollLogEntry,
  NewResource,
  NewStream,
  NewUser,
  NewUserSession,
  PointQuery,
  ResourceUpdate,
  Store,
  StorePage,
} from './store.ts';
