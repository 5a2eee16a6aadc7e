/** The Alert message (RFC 5246 §7.2): level(1) description(1). */
import type { AlertDescription, AlertLevel } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';

export interface Alert {
  level: AlertLevel;
  description: AlertDescription;
}

export function parseAlert(data: Buffer): Alert {
  const r = new Reader(data, 'alert');
  const level = r.u8('level');
  const description = r.u8('description');
  r.end();
  return { level, description };
}

export function encodeAlert(a: Alert): Buffer {
  return new Writer().u8(a.level).u8(a.description).finish();
}
