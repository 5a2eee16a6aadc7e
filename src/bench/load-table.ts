/**
 * The table of `bench load` (Markdown): one line per (work, concurrency, server), with the work per
 * server CPU-second and ours ÷ this server's figure for the same work and concurrency.
 */

/** One measured (or not measured) line. */
export interface LoadResult {
  /** Row id (`psk`, `coap-udp`, …) and its human label. */
  row: string;
  label: string;
  concurrency: number;
  target: string;
  /** Completed operations (handshakes or 2.05 responses) per wall-clock second in the window. */
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** The server's CPU in the window, as a share of one core. */
  serverCpu?: number;
  /** Operations per second of server CPU (utime + stime): the figure compared. */
  perCpuSecond?: number;
  /** The generator processes' CPU, as a share of one core: near 1 per process means it was the bottleneck. */
  genCpu?: number;
  /** The server's RSS once it answered, before any load, and at the window's end. */
  serverIdleRssMb?: number;
  serverRssMb?: number;
  ok: number;
  /** Failed handshakes, error responses, timeouts, handshakes that did not resume. */
  errors: number;
  note?: string;
}

const fixed = (v: number | undefined, digits: number) => (v === undefined ? '-' : v.toFixed(digits));
const pct = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 100)} %`);
const thousands = (v: number | undefined) =>
  v === undefined ? '-' : Math.round(v).toLocaleString('en-US').replaceAll(',', ' ');

/** ours ÷ this, for the same row and concurrency; blank on our own line. */
export function ratio(results: readonly LoadResult[], r: LoadResult): string {
  if (r.target === 'ours') return '';
  const ours = results.find((o) => o.target === 'ours' && o.row === r.row && o.concurrency === r.concurrency);
  if (!ours?.perCpuSecond || !r.perCpuSecond) return '-';
  return (ours.perCpuSecond / r.perCpuSecond).toFixed(2);
}

export function formatTable(results: readonly LoadResult[]): string {
  const header = [
    'work',
    'c',
    'server',
    'rate /s',
    'p50 ms',
    'p99 ms',
    'server CPU',
    'work /CPU-s',
    'ours ÷ this',
    'gen CPU',
    'RSS MB idle→end',
    'errors',
    'note',
  ];
  const rows = results.map((r) => [
    r.label,
    String(r.concurrency),
    r.target,
    thousands(r.rate),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    pct(r.serverCpu),
    thousands(r.perCpuSecond),
    ratio(results, r),
    pct(r.genCpu),
    r.serverRssMb === undefined ? '-' : `${fixed(r.serverIdleRssMb, 0)}→${fixed(r.serverRssMb, 0)}`,
    String(r.errors),
    (r.note ?? '').replaceAll('|', '/'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |\n`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`, ...rows.map(line)].join('');
}
