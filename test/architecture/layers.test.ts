/**
 * The dependency direction of `src/` (docs/architecture.md):
 *
 *   cli → bench → platform | device | eval → edhoc → coap | sim → dtls | pki → net → util
 *
 * OSCORE (src/oscore) is CoAP's object security (RFC 8613): it reads and writes CoAP messages and
 * the CoAP client and server call it, so it is one layer with coap, kept in its own directory.
 * EDHOC (src/edhoc) runs over the CoAP client and keys OSCORE, so it sits above coap.
 *
 * A module may import from its own layer directory or from a lower layer, never from a higher one
 * or a sibling of the same rank (platform does not import device), and no files import each other
 * in a cycle, type-only imports included.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cycles, type ImportEdge, importGraph } from './imports.ts';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Rank of each top-level directory of src/: higher may import lower. */
const RANK: Record<string, number> = {
  cli: 6,
  bench: 5,
  platform: 4,
  device: 4,
  eval: 4,
  edhoc: 3.5,
  coap: 3,
  sim: 3,
  dtls: 2,
  pki: 2,
  net: 1.5,
  util: 1,
};

/** Directories that belong to another's layer. */
const SAME_LAYER: Record<string, string> = { oscore: 'coap' };

const layerOf = (file: string) => {
  const dir = file.split('/')[0];
  return SAME_LAYER[dir] ?? dir;
};

/** The imports that go sideways or up, as `from → to`. */
function slips(edges: ImportEdge[]): string[] {
  return edges
    .filter((e) => layerOf(e.from) !== layerOf(e.to) && !(RANK[layerOf(e.from)] > RANK[layerOf(e.to)]))
    .map((e) => `${e.from} → ${e.to}`);
}

test('every import goes down the layers: cli → bench → platform | device | eval → edhoc → coap (+oscore) | sim → dtls | pki → net → util', () => {
  const edges = importGraph(SRC);
  assert.ok(edges.length > 500, `only ${edges.length} imports found: the scan is broken`);
  const layers = new Set(edges.map((e) => layerOf(e.from)));
  for (const l of layers) assert.ok(l in RANK, `src/${l} has no rank in this test`);
  assert.deepEqual(slips(edges), []);
});

test('no import cycle between files of src/', () => {
  assert.deepEqual(cycles(importGraph(SRC)), []);
});

test('the scan sees a layering slip and a cycle when there is one', () => {
  const edges = [
    { from: 'util/a.ts', to: 'platform/b.ts', typeOnly: true },
    { from: 'platform/b.ts', to: 'device/c.ts', typeOnly: false },
    { from: 'platform/b.ts', to: 'coap/d.ts', typeOnly: false },
  ];
  assert.deepEqual(slips(edges), ['util/a.ts → platform/b.ts', 'platform/b.ts → device/c.ts']);
  const loop: ImportEdge[] = [
    { from: 'coap/a.ts', to: 'coap/b.ts', typeOnly: false },
    { from: 'coap/b.ts', to: 'coap/c.ts', typeOnly: true },
    { from: 'coap/c.ts', to: 'coap/a.ts', typeOnly: false },
  ];
  assert.deepEqual(cycles(loop), [['coap/a.ts', 'coap/b.ts', 'coap/c.ts']]);
});
