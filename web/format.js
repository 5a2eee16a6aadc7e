/** Times and values as the page shows them (local time, no float noise). */
const pad2 = (n) => String(n).padStart(2, '0');
export function clock(t) {
  const d = new Date(t);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
export function day(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}
export const stamp = (t) => `${day(t)} ${clock(t)}`;
export function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
/** Numbers as the API gave them, but without float noise such as 0.30000000000000004. */
export const show = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(12))) : String(v));
