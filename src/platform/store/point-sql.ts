/**
 * The SQLite point upserts, written once for the two places that run them: the writer thread
 * (`sqlite-point-thread.ts`, batches outside a transaction) and `points.ts` (points inside a
 * transaction, and `:memory:` databases). Fixed texts, so that each is prepared once.
 */

/** Rows per multi-row INSERT: 4 parameters each, well under SQLite's limit of 32 766. */
export const SQLITE_ROWS = 50;
// (stream, time) is unique; a repeated time replaces the value (an idempotent retry).
const UPSERT = 'ON CONFLICT (stream_id, time) DO UPDATE SET num = excluded.num, txt = excluded.txt';
export const SQLITE_INSERT_ONE = `INSERT INTO data_points (stream_id, time, num, txt) VALUES (?, ?, ?, ?) ${UPSERT}`;
export const SQLITE_INSERT_MANY = `INSERT INTO data_points (stream_id, time, num, txt) VALUES ${Array(SQLITE_ROWS).fill('(?, ?, ?, ?)').join(', ')} ${UPSERT}`;
