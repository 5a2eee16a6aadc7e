/**
 * Opening a store (which runs the migrations) while another client creates and drops schemas in
 * the same database: Kysely's stock introspector called has_schema_privilege() on every schema's
 * name and failed with "schema … does not exist" when one vanished mid-query (CI saw it once, with
 * parallel test files dropping their schemas). The store's introspection reads its own schema only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { dropPostgresSchema, openStore } from '../../src/platform/store/index.ts';
import { PG_URL } from './engines.ts';

test('migrations are not disturbed by other schemas being dropped at the same time [postgres]', async (t) => {
  if (!PG_URL) return t.skip('SECURESENSE_TEST_PG_URL is not set');
  const url = PG_URL;
  const base = `ss_churn_${process.pid}_${Date.now().toString(36)}`;
  const churn = new pg.Client({ connectionString: url });
  await churn.connect();
  let stop = false;
  let churned = 0;
  const churner = (async () => {
    // Each round makes a handful of schemas with a table (so the catalog scan sees them), then
    // drops them, for as long as the opens below run.
    while (!stop) {
      const names = Array.from({ length: 8 }, (_, i) => `${base}_${churned}_${i}`);
      for (const n of names) await churn.query(`CREATE SCHEMA "${n}"; CREATE TABLE "${n}".t (a int)`);
      for (const n of names) await churn.query(`DROP SCHEMA "${n}" CASCADE`);
      churned++;
    }
  })();
  const mine: string[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const schema = `${base}_open_${i}`;
      mine.push(schema);
      const store = await openStore({ db: url, schema, poolSize: 2 });
      await store.close();
    }
  } finally {
    stop = true;
    await churner;
    await churn.end();
    for (const s of mine) await dropPostgresSchema(url, s);
  }
  assert.ok(churned > 0, 'schemas were dropped while the stores opened');
});
