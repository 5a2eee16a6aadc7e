/**
 * `securesense device add|list|remove`: manage a resource's device credentials through the
 * platform's HTTP API (so it works against any running platform, local or remote).
 *
 *   securesense device add    --user UID --resource RID MODE-OPTIONS [--label TEXT]
 *   securesense device list   --user UID --resource RID
 *   securesense device remove --user UID --resource RID --id CID
 *
 * Common: --api URL (SECURESENSE_API, default http://127.0.0.1:8080) and --token TOKEN
 * (SECURESENSE_TOKEN): the owner's API token. Output: one JSON line per credential; `add` with a
 * generated PSK prints the key once (`psk_key`), as the API does.
 */

import { readFileSync } from 'node:fs';
import { contextParamsToJson } from '../oscore/context.ts';
import { pskOscoreParams } from '../oscore/psk-binding.ts';
import { helpText, type OptionTable, parse, UsageError } from './args.ts';

const OPTIONS = {
  api: { type: 'string', arg: 'URL', help: 'platform HTTP API (SECURESENSE_API, default http://127.0.0.1:8080)' },
  token: { type: 'string', arg: 'TOKEN', help: "the owner's API token (SECURESENSE_TOKEN)" },
  user: { type: 'string', arg: 'UID', help: "the owner's user id" },
  resource: { type: 'string', arg: 'RID', help: 'the resource the device acts as' },
  'psk-identity': {
    type: 'string',
    arg: 'ID',
    help: 'PSK (a 16-byte key is generated and shown once without --psk-key)',
    group: 'add, one mode',
  },
  'psk-key': { type: 'string', arg: 'HEX', help: 'the PSK, hex', group: 'add, one mode' },
  'psk-text': {
    type: 'boolean',
    help: "generate a printable PSK libcoap's -k takes (24 characters, shown once as psk_key_text)",
    group: 'add, one mode',
  },
  'psk-key-text': {
    type: 'string',
    arg: 'TEXT',
    help: 'a printable PSK of your own (16–64 characters, no spaces)',
    group: 'add, one mode',
  },
  rpk: {
    type: 'string',
    arg: 'FILE',
    help: 'raw public key (PEM SubjectPublicKeyInfo, private key or certificate)',
    group: 'add, one mode',
  },
  'rpk-fingerprint': { type: 'string', arg: 'HEX', help: 'raw public key by its SHA-256', group: 'add, one mode' },
  cert: { type: 'string', arg: 'FILE', help: 'X.509: pin this certificate', group: 'add, one mode' },
  'x509-fingerprint': {
    type: 'string',
    arg: 'HEX',
    help: 'X.509: pin the certificate with this SHA-256',
    group: 'add, one mode',
  },
  'x509-name': {
    type: 'string',
    arg: 'NAME',
    help: 'X.509: subject ("CN=dev1") or SAN ("DNS:dev1.example") under --ca',
    group: 'add, one mode',
  },
  ca: { type: 'string', arg: 'FILE', help: 'the CA of --x509-name', group: 'add, one mode' },
  label: { type: 'string', arg: 'TEXT', help: 'a note for people', group: 'add, one mode' },
  oscore: {
    type: 'boolean',
    help: 'with a PSK: also print the OSCORE context derived from it (for coap --oscore / device run --oscore)',
    group: 'add, one mode',
  },
  id: { type: 'string', arg: 'CID', help: "the credential's id (from list)", group: 'remove' },
} as const satisfies OptionTable;

const USAGES: Record<string, string> = {
  add: '--user UID --resource RID MODE-OPTIONS [--label TEXT] [--api URL] [--token TOKEN]',
  list: '--user UID --resource RID [--api URL] [--token TOKEN]',
  remove: '--user UID --resource RID --id CID [--api URL] [--token TOKEN]',
};

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

const processIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export function run(sub: string, args: string[]): Promise<number> {
  return runWith(sub, args, processIo);
}

/** The command with its output sink (tests pass their own). */
export async function runWith(
  sub: string,
  args: string[],
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const spec = { name: `device ${sub}`, usage: USAGES[sub] ?? '[options]', options: OPTIONS };
  const usage = (why: string) => {
    io.err(`securesense device ${sub}: ${why}\n(see 'securesense device ${sub} --help')`);
    return 2;
  };
  let parsed: ReturnType<typeof parse<typeof OPTIONS>>;
  try {
    parsed = parse(spec, args);
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    throw err;
  }
  if (parsed === 'help') {
    io.out(helpText(spec).trimEnd());
    return 0;
  }
  const v = parsed.values;
  const api = (v.api ?? env.SECURESENSE_API ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = v.token ?? env.SECURESENSE_TOKEN;
  const uid = v.user;
  const rid = v.resource;
  if (!token) return usage('--token (or SECURESENSE_TOKEN) is required');
  if (!uid || !/^\d+$/.test(uid)) return usage('--user UID is required');
  if (!rid || !/^\d+$/.test(rid)) return usage('--resource RID is required');
  const base = `${api}/users/${uid}/resources/${rid}/devices`;

  const request = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
  const failed = (r: { status: number; json: unknown }) => {
    const msg = (r.json as { message?: string } | undefined)?.message ?? JSON.stringify(r.json);
    io.err(`securesense device ${sub}: HTTP ${r.status}: ${msg}`);
    return 1;
  };

  try {
    if (sub === 'list') {
      const r = await request('GET', base);
      if (r.status !== 200) return failed(r);
      for (const c of r.json as unknown[]) io.out(JSON.stringify(c));
      return 0;
    }
    if (sub === 'remove') {
      const id = v.id;
      if (!id || !/^\d+$/.test(id)) return usage('--id CID is required');
      const r = await request('DELETE', `${base}/${id}`);
      if (r.status !== 204) return failed(r);
      io.out(JSON.stringify({ event: 'removed', id: Number(id) }));
      return 0;
    }
    if (sub !== 'add') return usage(`unknown sub-command ${sub}`);
    let body: Record<string, unknown>;
    const file = (f: string) => readFileSync(f, 'utf8');
    const modes = [
      v['psk-identity'],
      v.rpk ?? v['rpk-fingerprint'],
      v.cert ?? v['x509-fingerprint'] ?? v['x509-name'],
    ].filter((x) => x !== undefined);
    if (modes.length !== 1)
      return usage('give exactly one mode: --psk-identity, --rpk/--rpk-fingerprint or --cert/--x509-*');
    if (v['psk-identity'] !== undefined) {
      body = { mode: 'psk', psk_identity: v['psk-identity'] };
      if (v['psk-key'] !== undefined) body.psk_key = v['psk-key'];
      if (v['psk-key-text'] !== undefined) body.psk_key_text = v['psk-key-text'];
      if (v['psk-text'] === true) body.psk_key_format = 'text';
    } else if (v.rpk !== undefined) body = { mode: 'rpk', rpk: file(v.rpk) };
    else if (v['rpk-fingerprint'] !== undefined) body = { mode: 'rpk', rpk_fingerprint: v['rpk-fingerprint'] };
    else if (v.cert !== undefined) body = { mode: 'x509', x509_certificate: file(v.cert) };
    else if (v['x509-fingerprint'] !== undefined) body = { mode: 'x509', x509_fingerprint: v['x509-fingerprint'] };
    else {
      if (v.ca === undefined) return usage('--x509-name needs --ca FILE');
      body = { mode: 'x509', x509_name: v['x509-name'], x509_ca: file(v.ca) };
    }
    if (v.label !== undefined) body.label = v.label;
    if (v.oscore && v['psk-identity'] === undefined) return usage('--oscore goes with --psk-identity');
    const r = await request('POST', base, body);
    if (r.status !== 201) return failed(r);
    io.out(JSON.stringify(r.json));
    if (v.oscore && v['psk-identity'] !== undefined) {
      const generated = (r.json as { psk_key?: string }).psk_key;
      const keyHex =
        generated ??
        v['psk-key'] ??
        (v['psk-key-text'] !== undefined ? Buffer.from(v['psk-key-text'], 'ascii').toString('hex') : undefined);
      if (keyHex === undefined) return usage('--oscore: no PSK to derive the context from');
      const params = pskOscoreParams(v['psk-identity'], Buffer.from(keyHex, 'hex'), 'device');
      io.out(JSON.stringify({ event: 'oscore', context: contextParamsToJson(params) }));
    }
    return 0;
  } catch (err) {
    io.err(`securesense device ${sub}: ${(err as Error).message}`);
    return 1;
  }
}
