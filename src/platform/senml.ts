/**
 * SenML (RFC 8428) for the `senml` parser: a pack in JSON or CBOR read into records (field types
 * checked, §4.2; CBOR labels, §6), then resolved (§4.6): base fields carry forward, relative times
 * count from the receive time, names must be valid (§4.5.1), and a must-understand field that we
 * do not know refuses the pack (§4.4).
 */
import type { CborValue } from '../util/cbor.ts';
import { Invalid } from './errors.ts';
import { MAX_TIME } from './point-values.ts';

const bad = (msg: string) => new Invalid(msg);

export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: string;
  s?: number;
  t?: number;
}

/** SenML CBOR labels (RFC 8428 §6, Table 6). */
const CBOR_LABELS: Record<number, keyof SenmlRecord> = {
  [-1]: 'bver',
  [-2]: 'bn',
  [-3]: 'bt',
  [-4]: 'bu',
  [-5]: 'bv',
  [-6]: 'bs' as keyof SenmlRecord,
  0: 'n',
  1: 'u',
  2: 'v',
  3: 'vs',
  4: 'vb',
  5: 's',
  6: 't',
  7: 'ut' as keyof SenmlRecord,
  8: 'vd',
};

const FIELD_TYPES: Record<string, 'string' | 'number' | 'boolean'> = {
  bn: 'string',
  bt: 'number',
  bu: 'string',
  bv: 'number',
  bs: 'number',
  bver: 'number',
  n: 'string',
  u: 'string',
  v: 'number',
  vs: 'string',
  vb: 'boolean',
  vd: 'string',
  s: 'number',
  t: 'number',
  ut: 'number',
};

function checkRecord(rec: Record<string, unknown>, i: number): SenmlRecord {
  for (const [k, v] of Object.entries(rec)) {
    const type = FIELD_TYPES[k];
    if (!type) {
      // §4.4: a label ending in "_" must be understood, or the whole pack is rejected.
      if (k.endsWith('_')) throw bad(`SenML record ${i}: unsupported must-understand field "${k}"`);
      continue;
    }
    if (typeof v !== type) throw bad(`SenML record ${i}: field "${k}" must be a ${type}`);
  }
  return rec as SenmlRecord;
}

export function senmlFromJson(doc: unknown): SenmlRecord[] {
  if (!Array.isArray(doc)) throw bad('a SenML pack must be a JSON array of records (RFC 8428 §4)');
  return doc.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad(`SenML record ${i} is not an object`);
    return checkRecord(r, i);
  });
}

export function senmlFromCbor(v: CborValue): SenmlRecord[] {
  if (!Array.isArray(v)) throw bad('a SenML-CBOR pack must be an array of maps (RFC 8428 §6)');
  return v.map((r, i) => {
    if (!(r instanceof Map)) throw bad(`SenML-CBOR record ${i} is not a map`);
    const rec: Record<string, unknown> = {};
    for (const [k, x] of r) {
      // §6: labels are integers; text labels are allowed for fields without a number.
      const name = typeof k === 'number' ? CBOR_LABELS[k] : typeof k === 'string' ? k : undefined;
      if (name === undefined) {
        if (typeof k === 'number' && k < -256) continue; // private-use labels are ignored
        throw bad(`SenML-CBOR record ${i}: unknown label ${String(k)}`);
      }
      // vd is a byte string in CBOR (§6); we keep it as base64url text like the JSON form.
      rec[name] = name === 'vd' && Buffer.isBuffer(x) ? x.toString('base64url') : typeof x === 'bigint' ? Number(x) : x;
    }
    return checkRecord(rec, i);
  });
}

export interface ResolvedSenml {
  name: string;
  unit: string | null;
  value: number | string | boolean;
  time: number;
}

/** Resolves a pack (RFC 8428 §4.6): base fields carry forward; relative times count from `now`. */
export function resolveSenml(records: SenmlRecord[], now: number): ResolvedSenml[] {
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  const out: ResolvedSenml[] = [];
  records.forEach((r, i) => {
    if (r.bver !== undefined && r.bver > 10) throw bad(`SenML record ${i}: version ${r.bver} is not supported`);
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    let value: number | string | boolean;
    if (r.v !== undefined) value = bv + r.v;
    else if (r.vs !== undefined) value = r.vs;
    else if (r.vb !== undefined) value = r.vb;
    else if (r.vd !== undefined) value = r.vd;
    else if (r.bv !== undefined && r.n !== undefined) value = bv;
    else return; // a record with only base fields or a sum carries no value for a stream
    const name = bn + (r.n ?? '');
    // §4.5.1: the name must be non-empty and use only these characters.
    if (name === '' || !/^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/.test(name)) {
      throw bad(`SenML record ${i}: invalid name ${JSON.stringify(name)}`);
    }
    const t = bt + (r.t ?? 0);
    // §4.5.3: values below 2^28 are relative to now (seconds); others are absolute seconds.
    const ms = Math.round(t < 2 ** 28 ? now + t * 1000 : t * 1000);
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME) throw bad(`SenML record ${i}: time out of range`);
    out.push({ name, unit: r.u ?? bu ?? null, value, time: ms });
  });
  return out;
}
