/**
 * The chart: an SVG line of a stream's points (or bucket means, with a min–max band), more
 * streams' lines on the same axes, round ticks, drawn one SVG unit per CSS pixel so that its text
 * keeps its size on a phone. Our own code, no library: at most a few hundred points per line.
 */
import { $, svg } from './dom.js';
import { clock, day, show, stamp } from './format.js';

/** About `count` round tick values, from one at or below `lo` to one at or above `hi`. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const out = [];
  for (let i = first; i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

let drawn = null; // the last draw's arguments, to draw again at a new width

/** The last draw's arguments ({ points, unit, band, span, extra }), or null. */
export const lastDrawn = () => drawn;

/** Draws the last chart again (at the element's new width). */
export function redraw() {
  if (drawn) draw(drawn.points, drawn.unit, drawn.band, drawn.span, drawn.extra);
}

/**
 * Draws `points` as a line; with `band` (series buckets: { time, min, max }) a min–max band under
 * it, and with `span` ({ from, until }) the time axis is that range rather than the points' own.
 */
export function draw(points, unit, band = null, span = null, extra = []) {
  drawn = { points, unit, band, span, extra };
  const chart = $('chart');
  const nums = points.filter((p) => typeof p.value === 'number' && Number.isFinite(p.value));
  chart.replaceChildren();
  chart.dataset.points = String(nums.length);
  // SVG elements have no `hidden` property: the attribute itself (styled in style.css) hides it.
  chart.toggleAttribute('hidden', nums.length === 0);
  if (nums.length === 0) return;
  // The drawing is as wide as the element, one SVG unit per CSS pixel, so that the axis text keeps
  // its size on a phone as on a wide screen.
  const W = Math.round(Math.min(1600, Math.max(280, chart.getBoundingClientRect().width || 800)));
  const H = W < 500 ? 220 : 280;
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const L = 64;
  const R = 16;
  const T = 14;
  const B = 30;
  // Compared streams share the axes: the time axis spans them all, the y axis their values too.
  const others = extra.flatMap((e) => e.points).filter((p) => typeof p.value === 'number' && Number.isFinite(p.value));
  const t0 = span ? span.from : Math.min(nums[0].time, ...others.map((p) => p.time));
  const t1 = span ? span.until : Math.max(nums[nums.length - 1].time, ...others.map((p) => p.time));
  let lo = Math.min(...nums.map((p) => p.value), ...(band ?? []).map((b) => b.min), ...others.map((p) => p.value));
  let hi = Math.max(...nums.map((p) => p.value), ...(band ?? []).map((b) => b.max), ...others.map((p) => p.value));
  if (lo === hi) {
    const d = Math.abs(lo) > 1 ? Math.abs(lo) * 0.05 : 1;
    lo -= d;
    hi += d;
  }
  const ys = ticks(lo, hi, 4);
  lo = Math.min(lo, ys[0]);
  hi = Math.max(hi, ys[ys.length - 1]);
  // One point, or all at one time, sit in the middle rather than on the left edge.
  const x = (t) => (t1 === t0 ? (L + W - R) / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  for (const v of ys) {
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    chart.append(svg('text', { class: 'axis', x: L - 8, y: y(v) + 4, 'text-anchor': 'end' }, show(v)));
  }
  if (unit) chart.append(svg('text', { class: 'axis', x: 4, y: T - 2 }, unit));
  const sameDay = day(t0) === day(t1);
  const label = (t) => (sameDay ? clock(t) : `${day(t)} ${clock(t).slice(0, 5)}`);
  chart.append(svg('text', { class: 'axis', x: L, y: H - 8, 'text-anchor': 'start' }, label(t0)));
  if (t1 !== t0) {
    const tm = (t0 + t1) / 2;
    chart.append(svg('text', { class: 'axis', x: x(tm), y: H - 8, 'text-anchor': 'middle' }, label(tm)));
    chart.append(svg('text', { class: 'axis', x: W - R, y: H - 8, 'text-anchor': 'end' }, label(t1)));
  }
  if (band && band.length > 1) {
    const up = band.map((b) => `${x(b.time).toFixed(1)},${y(b.max).toFixed(1)}`);
    const down = band.map((b) => `${x(b.time).toFixed(1)},${y(b.min).toFixed(1)}`).reverse();
    chart.append(svg('polygon', { class: 'band', points: [...up, ...down].join(' ') }));
  }
  extra.forEach((e, i) => {
    const ps = e.points.filter((p) => typeof p.value === 'number' && Number.isFinite(p.value));
    if (ps.length === 0) return;
    const line = svg('polyline', {
      class: `line c${i}`,
      points: (ps.length > 1 ? ps : [ps[0], ps[0]]).map((p) => `${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '),
    });
    line.append(svg('title', {}, e.label));
    chart.append(line);
    const last = ps[ps.length - 1];
    chart.append(svg('circle', { class: `dot c${i}`, cx: x(last.time), cy: y(last.value), r: 3 }));
  });
  if (nums.length > 1) {
    const pts = nums.map((p) => `${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    chart.append(svg('polyline', { class: 'line', points: pts }));
  }
  // Dots while they can be told apart; always one on the newest point.
  const dots = nums.length <= 60 ? nums : nums.slice(-1);
  dots.forEach((p, i) => {
    const last = i === dots.length - 1;
    const c = svg('circle', { class: last ? 'dot last' : 'dot', cx: x(p.time), cy: y(p.value), r: last ? 4 : 3 });
    c.append(svg('title', {}, `${show(p.value)}${unit ? ` ${unit}` : ''} at ${stamp(p.time)}`));
    chart.append(c);
  });
  chart.setAttribute('aria-label', `line chart of ${nums.length} points from ${stamp(t0)} to ${stamp(t1)}`);
}
