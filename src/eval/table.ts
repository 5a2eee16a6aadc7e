/** Plain-text and Markdown rendering of an experiment's table. */
export type Cell = string | number | null;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

export function cellText(c: Cell, digits = 3): string {
  if (c === null) return 'n/a';
  if (typeof c === 'string') return c;
  if (!Number.isFinite(c)) return String(c);
  if (Number.isInteger(c)) return String(c);
  return c.toFixed(digits);
}

export function formatTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map((c) => cellText(c)))];
  const numeric = (i: number, j: number) => i > 0 && typeof t.rows[i - 1][j] === 'number';
  const widths = t.columns.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? '').length)));
  const line = (r: string[], i: number) =>
    r
      .map((c, j) => (numeric(i, j) ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join('  ')
      .trimEnd();
  return [
    line(cells[0], 0),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map((r, i) => line(r, i + 1)),
  ].join('\n');
}

export function markdownTable(t: Table): string {
  const row = (r: string[]) => `| ${r.join(' | ')} |`;
  return [row(t.columns), row(t.columns.map(() => '---')), ...t.rows.map((r) => row(r.map((c) => cellText(c))))].join(
    '\n',
  );
}
