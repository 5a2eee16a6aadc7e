/**
 * Runs a test on both store engines (SQLite and PostgreSQL), so that every store test holds for both.
 * SQLite always, on a temporary file. PostgreSQL when SECURESENSE_TEST_PG_URL is set, in a fresh
 * schema per test that is dropped afterwards, so parallel test files never see each other's rows.
 * Without the URL the PostgreSQL half is skipped with a message, except under CI where it fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { dropPostgresSchema, type Engine } from '../../src/platform/store/index.ts';

export interface EngineTarget {
  engine: Engine;
  /** A SQLite file path or the PostgreSQL URL. */
  db: string;
  /** PostgreSQL: the schema to open the store in. */
  schema?: string;
}

let counter = 0;

export const PG_URL = process.env.SECURESENSE_TEST_PG_URL;

/** Prepares a fresh target for the given engine, or returns undefined when the test was skipped. */
export async function target(t: TestContext, engine: Engine): Promise<EngineTarget | undefined> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'ss-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return { engine, db: join(dir, 'test.db') };
  }
  if (!PG_URL) {
    if (process.env.CI === 'true' || process.env.CI === '1') {
      throw new Error('SECURESENSE_TEST_PG_URL is not set under CI: the PostgreSQL half must run');
    }
    t.skip('PostgreSQL half not run: SECURESENSE_TEST_PG_URL is not set');
    return undefined;
  }
  const schema = `ss_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  t.after(() => dropPostgresSchema(PG_URL, schema));
  return { engine, db: PG_URL, schema };
}

/** Declares `title [sqlite]` and `title [postgres]`. */
export function bothEngines(title: string, fn: (t: TestContext, target: EngineTarget) => Promise<void>): void {
  for (const engine of ['sqlite', 'postgres'] as const) {
    test(`${title} [${engine}]`, async (t) => {
      const tg = await target(t, engine);
      if (tg) await fn(t, tg);
    });
  }
}
