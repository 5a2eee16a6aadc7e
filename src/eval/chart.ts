/**
 * A small dependency-free SVG chart writer: grouped or stacked bars and lines over named categories,
 * with a value axis of round ticks (linear or log10), a legend, and explicit gaps for missing values
 * ("n/a" — e.g. a mode the engine cannot run yet). Output is deterministic text, fit to commit.
 */
export interface Series {
  name: string;
  /** One value per category; null for "not measured". */
  values: (number | null)[];
  /** Optional low–high range per value, drawn as a whisker (a spread or an input range). */
  ranges?: ([number, number] | null)[];
  /** Draw as an estimate: hatched bars, dashed lines (name it "… (estimate)" too). */
  estimate?: boolean;
  /** A dashed line, to tell a variant apart (not an estimate). */
  dashed?: boolean;
  /** Per value: draw this bar as an estimate (hatched) even if the series is not one. */
  estimateAt?: boolean[];
}

/**
 * A stated value to compare against — the paper's, as a rule — drawn dashed in dark red with its
 * label: a line across the plot, a band (`to`), or a short mark over one category (`category`).
 */
export interface Reference {
  label: string;
  value: number;
  to?: number;
  category?: number;
}

/** Several charts under one title, stacked (each with its own axis). */
export interface PanelSpec {
  title: string;
  panels: ChartSpec[];
  note?: string;
  width?: number;
}

export interface ChartSpec {
  title: string;
  kind: 'bar' | 'stacked' | 'line';
  categories: string[];
  series: Series[];
  yLabel: string;
  xLabel?: string;
  logY?: boolean;
  /** A line of small print under the chart (source, model caveats). */
  note?: string;
  /** Stated values (the paper's) drawn beside ours; their labels should say "paper". */
  refs?: Reference[];
  width?: number;
  height?: number;
}

const REF_COLOR = '#8b0000';
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick values covering 0..max: steps of 1, 2 or 5 × 10^k, about five of them. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 0.01) return v.toExponential(1).replace('e+', 'e');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
}

/** A chart, or panels of charts stacked under one title, as SVG text. */
export function renderChart(spec: ChartSpec | PanelSpec): string {
  if ('panels' in spec) return renderPanels(spec);
  return renderOne(spec);
}

function renderPanels(spec: PanelSpec): string {
  const W = spec.width ?? 900;
  const parts: string[] = [];
  let y = 34;
  for (const p of spec.panels) {
    const h = p.height ?? 360;
    const inner = renderOne({ ...p, width: W, height: h });
    parts.push(inner.replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg x="0" y="${y}"`));
    y += h;
  }
  const H = y + (spec.note ? 22 : 6);
  const head = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  const tail = spec.note ? [`<text x="10" y="${H - 8}" font-size="10" fill="#555">${escapeXml(spec.note)}</text>`] : [];
  return `${[...head, ...parts.map((p) => p.trimEnd()), ...tail, '</svg>'].join('\n')}\n`;
}

function renderOne(spec: ChartSpec): string {
  const W = spec.width ?? 900;
  const H = spec.height ?? 420;
  if (spec.categories.length === 0) throw new RangeError('a chart needs at least one category');
  const n0 = spec.categories.length;
  const rotate = n0 > 6 || spec.categories.some((c) => c.length > 12);
  // Rotated labels need room below the axis: ~6.5 px per character at 35°.
  const longest = Math.max(1, ...spec.categories.map((c) => c.length));
  const labelRoom = rotate ? Math.ceil(longest * 6.5 * Math.sin((35 * Math.PI) / 180)) + 24 : 24;
  // The legend sits right of the plot, never over the data.
  const refs = spec.refs ?? [];
  const legendNames = [...spec.series.map((x) => x.name), ...(refs.length ? ['paper (stated value)'] : [])];
  const legendWidth = Math.max(...legendNames.map((x) => x.length)) * 6.6 + 30;
  const legendRight = true;
  const m = {
    top: 40,
    right: legendRight ? legendWidth + 10 : 20,
    bottom: labelRoom + (spec.xLabel ? 22 : 0) + (spec.note ? 20 : 0) + 8,
    left: rotate ? 110 : 70,
  };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const n = spec.categories.length;
  for (const s of spec.series) {
    if (s.values.length !== n)
      throw new RangeError(`series '${s.name}' has ${s.values.length} values for ${n} categories`);
  }
  const present = [
    ...spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v))),
    ...spec.series.flatMap((s) => (s.ranges ?? []).flatMap((r) => (r ? [r[0], r[1]] : []))),
    ...refs.flatMap((r) => (r.to === undefined ? [r.value] : [r.value, r.to])),
  ].filter((v) => Number.isFinite(v));
  let max = 0;
  if (spec.kind === 'stacked') {
    for (let i = 0; i < n; i++)
      max = Math.max(
        max,
        spec.series.reduce((a, s) => a + (s.values[i] ?? 0), 0),
      );
  } else max = Math.max(0, ...present);

  // Value → y pixel.
  let ticks: number[];
  let y: (v: number) => number;
  if (spec.logY) {
    const positive = present.filter((v) => v > 0);
    // Keep the smallest bar visible: its decade's floor, one lower when the value sits on it.
    const lo = Math.floor(Math.log10(Math.min(...(positive.length ? positive : [1]))) - 0.2);
    const hi = Math.ceil(Math.log10(Math.max(...(positive.length ? positive : [10]))));
    const top = hi > lo ? hi : lo + 1;
    ticks = [];
    for (let e = lo; e <= top; e++) ticks.push(10 ** e);
    y = (v) => m.top + ph - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (top - lo)) * ph;
  } else {
    ticks = niceTicks(max);
    const tmax = ticks[ticks.length - 1];
    y = (v) => m.top + ph - (v / tmax) * ph;
  }
  const base = spec.logY ? m.top + ph : y(0);

  const color = (k: number) => PALETTE[k % PALETTE.length];
  const whisker = (x: number, ya: number, yb: number, stroke = '#222') =>
    `<path d="M${(x - 4).toFixed(1)},${ya.toFixed(1)}h8M${x.toFixed(1)},${ya.toFixed(1)}V${yb.toFixed(1)}M${(x - 4).toFixed(1)},${yb.toFixed(1)}h8" stroke="${stroke}" stroke-width="1.2" fill="none"/>`;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  const hatches = spec.series
    .map((s, j) =>
      s.estimate || s.estimateAt?.some(Boolean)
        ? `<pattern id="hatch${j}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="${color(j)}" stroke-width="3"/></pattern>`
        : '',
    )
    .join('');
  if (hatches) out.push(`<defs>${hatches}</defs>`);
  out.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  // Grid and value axis.
  for (const t of ticks) {
    const ty = y(t).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${base}" y2="${base}" stroke="#333"/>`);
  out.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}${spec.logY ? ' (log scale)' : ''}</text>`,
  );

  const band = pw / Math.max(1, n);
  const cx = (i: number) => m.left + band * (i + 0.5);
  // Category labels (rotated when many or long).
  spec.categories.forEach((c, i) => {
    const lx = cx(i).toFixed(1);
    const ly = m.top + ph + 14;
    out.push(
      rotate
        ? `<text transform="translate(${lx} ${ly}) rotate(-35)" text-anchor="end">${escapeXml(c)}</text>`
        : `<text x="${lx}" y="${ly}" text-anchor="middle">${escapeXml(c)}</text>`,
    );
  });
  if (spec.xLabel) {
    out.push(
      `<text x="${m.left + pw / 2}" y="${m.top + ph + labelRoom + 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    );
  }

  const na = (x: number) =>
    `<text x="${x.toFixed(1)}" y="${base - 4}" text-anchor="middle" font-size="9" fill="#999">n/a</text>`;
  if (spec.kind === 'bar') {
    const k = spec.series.length;
    const bw = (band * 0.8) / k;
    spec.series.forEach((s, j) => {
      s.values.forEach((v, i) => {
        const x = m.left + band * i + band * 0.1 + bw * j;
        if (v === null || !Number.isFinite(v)) {
          out.push(na(x + bw / 2));
          return;
        }
        const top = y(v);
        const est = s.estimate || s.estimateAt?.[i];
        out.push(
          `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0, base - top).toFixed(1)}" fill="${est ? `url(#hatch${j})` : color(j)}"${est ? ` stroke="${color(j)}"` : ''}><title>${escapeXml(`${s.name} · ${spec.categories[i]}: ${fmt(v)}`)}</title></rect>`,
        );
        const r = s.ranges?.[i];
        if (r) out.push(whisker(x + bw / 2, y(r[0]), y(r[1])));
      });
    });
  } else if (spec.kind === 'stacked') {
    const bw = band * 0.6;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const x = m.left + band * i + band * 0.2;
      if (spec.series.every((s) => s.values[i] === null)) {
        out.push(na(x + bw / 2));
        continue;
      }
      spec.series.forEach((s, j) => {
        const v = s.values[i] ?? 0;
        const y0 = y(acc);
        const y1 = y(acc + v);
        acc += v;
        out.push(
          `<rect x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0, y0 - y1).toFixed(1)}" fill="${color(j)}"><title>${escapeXml(`${s.name} · ${spec.categories[i]}: ${fmt(v)}`)}</title></rect>`,
        );
      });
    }
  } else {
    spec.series.forEach((s, j) => {
      const pts = s.values
        .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${cx(i).toFixed(1)},${y(v).toFixed(1)}`))
        .filter((p): p is string => p !== null);
      if (pts.length)
        out.push(
          `<polyline points="${pts.join(' ')}" fill="none" stroke="${color(j)}" stroke-width="2"${s.estimate || s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
        );
      // Whiskers of a line chart in the series' colour, nudged apart so that they do not overlap.
      const nudge = (j - (spec.series.length - 1) / 2) * 4;
      s.ranges?.forEach((r, i) => {
        if (r) out.push(whisker(cx(i) + nudge, y(r[0]), y(r[1]), color(j)));
      });
      for (const p of pts) {
        const [px, py] = p.split(',');
        out.push(`<circle cx="${px}" cy="${py}" r="3.5" fill="${color(j)}"/>`);
      }
    });
  }

  // The paper's stated values: dashed lines, bands, or marks over one category.
  for (const r of refs) {
    const x0 = r.category === undefined ? m.left : m.left + band * r.category + band * 0.05;
    const x1 = r.category === undefined ? m.left + pw : m.left + band * (r.category + 1) - band * 0.05;
    const y0 = y(r.value);
    if (r.to !== undefined) {
      const y1 = y(r.to);
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${Math.min(y0, y1).toFixed(1)}" width="${(x1 - x0).toFixed(1)}" height="${Math.abs(y0 - y1).toFixed(1)}" fill="${REF_COLOR}" fill-opacity="0.12" stroke="${REF_COLOR}" stroke-dasharray="5 3"/>`,
      );
    } else {
      out.push(
        `<line x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${y0.toFixed(1)}" y2="${y0.toFixed(1)}" stroke="${REF_COLOR}" stroke-width="2" stroke-dasharray="6 3"/>`,
      );
    }
    const ty = (r.to !== undefined ? Math.min(y0, y(r.to)) : y0) - 4;
    out.push(
      `<text x="${(r.category === undefined ? x1 - 4 : (x0 + x1) / 2).toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="${r.category === undefined ? 'end' : 'middle'}" font-size="10" fill="${REF_COLOR}">${escapeXml(r.label)}</text>`,
    );
  }

  // Legend, right of the plot.
  const lx = legendRight ? m.left + pw + 14 : m.left + pw - legendWidth;
  spec.series.forEach((s, j) => {
    const ly = m.top + 6 + j * 16;
    out.push(
      `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.estimate ? `url(#hatch${j})` : color(j)}"${s.estimate ? ` stroke="${color(j)}"` : ''}/>`,
    );
    out.push(`<text x="${lx + 18}" y="${ly + 10}">${escapeXml(s.name)}</text>`);
  });
  if (refs.length) {
    const ly = m.top + 6 + spec.series.length * 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 12}" y1="${ly + 6}" y2="${ly + 6}" stroke="${REF_COLOR}" stroke-width="2" stroke-dasharray="4 2"/>`,
    );
    out.push(`<text x="${lx + 18}" y="${ly + 10}" fill="${REF_COLOR}">paper (stated value)</text>`);
  }
  if (spec.note)
    out.push(`<text x="${m.left}" y="${H - 10}" font-size="10" fill="#555">${escapeXml(spec.note)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
