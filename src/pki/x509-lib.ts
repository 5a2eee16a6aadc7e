/**
 * Loads @peculiar/x509 (certificate creation over WebCrypto) ready to use.
 *
 * The library resolves its algorithm providers through tsyringe, which refuses to load unless a
 * `Reflect.getMetadata` polyfill is present; it only needs the four metadata functions below, and
 * only for classes whose constructors take no parameters, so a small WeakMap-backed stand-in does
 * instead of another dependency. It is installed only when no polyfill is there already, and the
 * library is loaded with `require` after it so that no import ordering can defeat it.
 */
import { webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as X509Lib from '@peculiar/x509';

type MetadataKey = unknown;
type Target = object;

function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  const store = new WeakMap<Target, Map<string | symbol | undefined, Map<MetadataKey, unknown>>>();
  const own = (target: Target, prop: string | symbol | undefined, create: boolean) => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let map = byProp.get(prop);
    if (!map && create) {
      map = new Map();
      byProp.set(prop, map);
    }
    return map;
  };
  const getOwnMetadata = (key: MetadataKey, target: Target, prop?: string | symbol) =>
    own(target, prop, false)?.get(key);
  const getMetadata = (key: MetadataKey, target: Target, prop?: string | symbol): unknown => {
    // Like reflect-metadata: walk the prototype chain.
    for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
      const m = own(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  const defineMetadata = (key: MetadataKey, value: unknown, target: Target, prop?: string | symbol) => {
    own(target, prop, true)!.set(key, value);
  };
  R.getOwnMetadata = getOwnMetadata;
  R.getMetadata = getMetadata;
  R.defineMetadata = defineMetadata;
  R.hasMetadata = (key: MetadataKey, target: Target, prop?: string | symbol) =>
    getMetadata(key, target, prop) !== undefined;
  R.metadata = (key: MetadataKey, value: unknown) => (target: Target, prop?: string | symbol) =>
    defineMetadata(key, value, target, prop);
}

let lib: typeof X509Lib | undefined;

/** The @peculiar/x509 module with Node's WebCrypto as its provider. */
export function x509(): typeof X509Lib {
  if (!lib) {
    installReflectMetadata();
    const require = createRequire(import.meta.url);
    lib = require('@peculiar/x509') as typeof X509Lib;
    lib.cryptoProvider.set(webcrypto as unknown as Crypto);
  }
  return lib;
}
