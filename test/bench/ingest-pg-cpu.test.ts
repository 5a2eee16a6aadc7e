/**
 * The ingest bench's count of PostgreSQL's own CPU: a backend opened with the bench's
 * application_name is found and its CPU for a query is counted; another client's is left out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { pgCpu, withApplicationName } from '../../src/bench/ingest-pg-cpu.ts';

test("bench ingest: PostgreSQL's CPU for the bench's backends only", async (t) => {
  const url = process.env.SECURESENSE_TEST_PG_URL;
  if (!url) {
    t.skip('SECURESENSE_TEST_PG_URL is not set');
    return;
  }
  const app = `ss_cpu_test_${process.pid}`;
  const ours = new pg.Client({ connectionString: withApplicationName(url, app) });
  const other = new pg.Client({ connectionString: withApplicationName(url, `${app}_other`) });
  await ours.connect();
  await other.connect();
  const probe = await pgCpu(url, app);
  try {
    const pidOf = async (c: pg.Client) =>
      (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const ourPid = await pidOf(ours);
    const otherPid = await pidOf(other);
    const before = await probe.sample();
    await ours.query('SELECT count(*) FROM generate_series(1, 3000000)');
    const after = await probe.sample();
    assert.ok(before.has(ourPid) && after.has(ourPid), 'the bench backend is sampled');
    assert.ok(!after.has(otherPid), "another client's backend is not");
    const spent = (after.get(ourPid) ?? 0) - (before.get(ourPid) ?? 0);
    assert.ok(spent > 0, `the query's CPU is counted (${spent} ms)`);
  } finally {
    await probe.close();
    await ours.end();
    await other.end();
  }
});
