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
import { parseArgs } from 'node:util';

const USAGE = `usage: securesense device add|list|remove [options]

  --api URL              platform HTTP API (SECURESENSE_API, default http://127.0.0.1:8080)
  --token TOKEN          the owner's API token (SECURESENSE_TOKEN)
  --user UID             the owner's user id
  --resource RID         the resource the device acts as

add, one mode:
  --psk-identity ID [--psk-key HEX]      PSK (a 16-byte key is generated and shown once without --psk-key)
      [--psk-text | --psk-key-text TEXT] a printable key libcoap's -k takes: generated (24 characters,
                                         shown once as psk_key_text) or given (16–64, no spaces)
  --rpk FILE | --rpk-fingerprint HEX     raw public key (PEM SubjectPublicKeyInfo, private key or certificate)
  --cert FILE | --x509-fingerprint HEX   X.509: pin this certificate
  --x509-name NAME --ca FILE             X.509: subject ("CN=dev1") or SAN ("DNS:dev1.example") under this CA
  --label TEXT                           a note for people

remove:
  --id CID               the credential's id (from list)
`;

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
  let v: Record<string, string | boolean | undefined>;
  try {
    ({ values: v } = parseArgs({
      args,
      options: {
        api: { type: 'string' },
        token: { type: 'string' },
        user: { type: 'string' },
        resource: { type: 'string' },
        id: { type: 'string' },
        label: { type: 'string' },
        'psk-identity': { type: 'string' },
        'psk-key': { type: 'string' },
        'psk-text': { type: 'boolean' },
        'psk-key-text': { type: 'string' },
        rpk: { type: 'string' },
        'rpk-fingerprint': { type: 'string' },
        cert: { type: 'string' },
        'x509-fingerprint': { type: 'string' },
        'x509-name': { type: 'string' },
        ca: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    io.err(`securesense device ${sub}: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    io.out(USAGE);
    return 0;
  }
  const api = ((v.api as string | undefined) ?? env.SECURESENSE_API ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = (v.token as string | undefined) ?? env.SECURESENSE_TOKEN;
  const uid = v.user as string | undefined;
  const rid = v.resource as string | undefined;
  const usage = (why: string) => {
    io.err(`securesense device ${sub}: ${why}\n${USAGE}`);
    return 2;
  };
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
      const id = v.id as string | undefined;
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
    } else if (v.rpk !== undefined) body = { mode: 'rpk', rpk: file(v.rpk as string) };
    else if (v['rpk-fingerprint'] !== undefined) body = { mode: 'rpk', rpk_fingerprint: v['rpk-fingerprint'] };
    else if (v.cert !== undefined) body = { mode: 'x509', x509_certificate: file(v.cert as string) };
    else if (v['x509-fingerprint'] !== undefined) body = { mode: 'x509', x509_fingerprint: v['x509-fingerprint'] };
    else {
      if (v.ca === undefined) return usage('--x509-name needs --ca FILE');
      body = { mode: 'x509', x509_name: v['x509-name'], x509_ca: file(v.ca as string) };
    }
    if (v.label !== undefined) body.label = v.label;
    const r = await request('POST', base, body);
    if (r.status !== 201) return failed(r);
    io.out(JSON.stringify(r.json));
    return 0;
  } catch (err) {
    io.err(`securesense device ${sub}: ${(err as Error).message}`);
    return 1;
  }
}
