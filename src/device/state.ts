/**
 * The agent's state file: the resumable DTLS session of its push connection, so that an agent
 * restarted within the server's session lifetime resumes with an abbreviated handshake (RFC 5246
 * §7.3; RFC 6347 §4.2.4 flights 1–3 of 3 instead of 6) instead of a full one.
 *
 * The file holds the master secret: it is written with mode 0600 through a temporary file and a
 * rename (so that a crash never leaves half a file), and a file that others may read is not used.
 * The session is tied to the server (address and port) and to a hash of the credentials it was
 * made with; a state file from another server or other keys is ignored.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { DtlsSession } from '../dtls/index.ts';

export const STATE_VERSION = 1;

/** What the file says, once decoded. */
export interface AgentState {
  /** `host:port` of the server the session belongs to. */
  server: string;
  /** `securityKey()` of the credentials the session was made with. */
  credentials: string;
  /** When the session was saved (ms since the epoch). */
  savedAt: number;
  session: DtlsSession;
}

const MAX_STATE_BYTES = 64 * 1024;

/**
 * Buffers become `{ "$base64": "…" }` so that any field the engine keeps in a session (today the
 * session ID, master secret, suite, extended-master-secret flag and the peer identity) survives.
 */
function encodeValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { $base64: v.toString('base64') };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = encodeValue(x);
    return out;
  }
  return v;
}

function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$base64') {
      if (typeof o.$base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.$base64))
        throw new Error('bad base64 value');
      return Buffer.from(o.$base64, 'base64');
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = decodeValue(x);
    return out;
  }
  return v;
}

/** The file's text for a state. */
export function encodeState(s: AgentState): string {
  return `${JSON.stringify({ version: STATE_VERSION, ...(encodeValue(s) as object) }, null, 2)}\n`;
}

/** Parses the file's text; throws a clear error for anything that is not a state we wrote. */
export function decodeState(text: string): AgentState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.version !== STATE_VERSION) throw new Error(`version ${String(o.version)}, expected ${STATE_VERSION}`);
  const d = decodeValue(o) as Record<string, unknown>;
  if (typeof d.server !== 'string' || typeof d.credentials !== 'string' || typeof d.savedAt !== 'number')
    throw new Error('server, credentials or savedAt missing');
  const session = d.session as Record<string, unknown> | undefined;
  // The engine checks the rest of the session when it is used; the ID must be 1..32 bytes (RFC 5246 §7.4.1.2).
  if (!session || typeof session !== 'object' || !Buffer.isBuffer(session.id))
    throw new Error('session missing or without an ID');
  if (session.id.length === 0 || session.id.length > 32) throw new Error('session ID must be 1..32 bytes');
  return {
    server: d.server,
    credentials: d.credentials,
    savedAt: d.savedAt,
    session: session as unknown as DtlsSession,
  };
}

/**
 * Reads the state file. Resolves undefined when there is none; rejects with a message when it is
 * unreadable, malformed, too large, or readable by group or others (it holds a master secret).
 */
export async function loadState(path: string): Promise<AgentState | undefined> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`state file ${path}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new Error(`state file ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0)
    throw new Error(`state file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  if (st.size > MAX_STATE_BYTES) throw new Error(`state file ${path} is larger than ${MAX_STATE_BYTES} bytes`);
  const text = await readFile(path, 'utf8');
  try {
    return decodeState(text);
  } catch (err) {
    throw new Error(`state file ${path}: ${(err as Error).message}`);
  }
}

/** Writes the state file atomically with mode 0600. */
export async function saveState(path: string, s: AgentState): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  // 'wx' with mode 0600 creates the file with its final permissions: the secret is never readable by others.
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(encodeState(s));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, 0o600); // in case the umask is unusual
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Removes the state file (a session the server refused is not worth keeping). */
export async function clearState(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
