/**
 * Loads one of our native modules (native/NAME.c, built into dist/native/NAME.node by
 * scripts/build-native.mjs), or undefined where it is not built, fails to load, or the operator
 * turned it off with `envVar=off` (then the caller takes its JavaScript path).
 */
import { createRequire } from 'node:module';

export function loadNative<T>(name: string, envVar: string, off: string): T | undefined {
  if (process.env[envVar] === off) return undefined;
  try {
    // From src/util/ under tsx and from dist/util/ when compiled, dist/native is two levels up.
    return createRequire(import.meta.url)(new URL(`../../dist/native/${name}.node`, import.meta.url).pathname) as T;
  } catch {
    return undefined;
  }
}
