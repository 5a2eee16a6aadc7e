/**
 * The agent's state file: the resumable DTLS session of its push connection, so that an agent
 * restarted within the server's session lifetime resumes with an abbreviated handshake (RFC 5246
 * §7.3: a round trip less, no key exchange, no public-key operation) instead of a full one; and the
 * samples still queued when it stopped, so that a restart loses none.
 *
 * The file holds the master secret: it is written with mode 0600 through a temporary file and a
 * rename (so that a crash never leaves half a file), and a file that others may read is not used.
 * The session is tied to the server (address and port) and to a hash of the credentials it was
 * made with; a state file from another server or other keys is ignored.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { DtlsSession } from '../dtls/index.ts';
import { StateFileError } from './errors.ts';
import type { Reading } from './sensors.ts';

export const STATE_VERSION = 1;

/** The resumable DTLS session of the push connection and what it belongs to. */
export interface SavedSession {
  /** `host:port` of the server the session belongs to. */
  server: string;
  /** `securityKey()` of the credentials the session was made with. */
  credentials: string;
  session: DtlsSession;
}

/** A sample that was not delivered when the agent stopped. */
export interface SavedSample {
  /** When it was measured, ms since the epoch. */
  time: number;
  readings: Reading[];
}

/** What the file says, once decoded. */
export interface AgentState {
  /** When the file was written (ms since the epoch). */
  savedAt: number;
  /** Absent for a `coap://` push, or before the first handshake. */
  session?: SavedSession;
  /** Samples still queued at the last stop, oldest first; sent first after the next start. */
  queue?: SavedSample[];
}

/** Bound on the file: a full default queue (1000 samples of three readings) takes about 150 KB. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;
const MAX_SAVED_SAMPLES = 100_000;

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
        throw new StateFileError('bad base64 value');
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
  return `${JSON.stringify({ version: STATE_VERSION, ...(encodeValue(s) as object) })}\n`;
}

/** Parses the file's text; throws a clear error for anything that is not a state we wrote. */
export function decodeState(text: string): AgentState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new StateFileError('not JSON');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new StateFileError('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.version !== STATE_VERSION) throw new StateFileError(`version ${String(o.version)}, expected ${STATE_VERSION}`);
  const d = decodeValue(o) as Record<string, unknown>;
  if (typeof d.savedAt !== 'number') throw new StateFileError('savedAt missing');
  const out: AgentState = { savedAt: d.savedAt };
  if (d.session !== undefined) out.session = decodeSession(d.session);
  if (d.queue !== undefined) out.queue = decodeQueue(d.queue);
  return out;
}

function decodeSession(v: unknown): SavedSession {
  const d = v as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || typeof d.server !== 'string' || typeof d.credentials !== 'string')
    throw new StateFileError('session: server or credentials missing');
  const session = d.session as Record<string, unknown> | undefined;
  // The engine checks the rest of the session when it is used; the ID must be 1..32 bytes (RFC 5246 §7.4.1.2).
  if (!session || typeof session !== 'object' || !Buffer.isBuffer(session.id))
    throw new StateFileError('session missing or without an ID');
  if (session.id.length === 0 || session.id.length > 32) throw new StateFileError('session ID must be 1..32 bytes');
  return { server: d.server, credentials: d.credentials, session: session as unknown as DtlsSession };
}

function decodeQueue(v: unknown): SavedSample[] {
  if (!Array.isArray(v)) throw new StateFileError('queue is not a list');
  if (v.length > MAX_SAVED_SAMPLES) throw new StateFileError(`queue longer than ${MAX_SAVED_SAMPLES} samples`);
  return v.map((x, i) => {
    const s = x as { time?: unknown; readings?: unknown } | null;
    if (!s || typeof s.time !== 'number' || !Number.isFinite(s.time) || !Array.isArray(s.readings))
      throw new StateFileError(`queue[${i}]: time or readings missing`);
    const readings = s.readings.map((r: unknown, j: number) => {
      const rr = r as Partial<Reading> | null;
      if (!rr || typeof rr.name !== 'string' || typeof rr.value !== 'number' || !Number.isFinite(rr.value))
        throw new StateFileError(`queue[${i}].readings[${j}]: name or value missing`);
      return { name: rr.name, value: rr.value, unit: typeof rr.unit === 'string' ? rr.unit : '' };
    });
    return { time: s.time, readings };
  });
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
    throw new StateFileError(`state file ${path}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new StateFileError(`state file ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0)
    throw new StateFileError(
      `state file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  if (st.size > MAX_STATE_BYTES) throw new StateFileError(`state file ${path} is larger than ${MAX_STATE_BYTES} bytes`);
  const text = await readFile(path, 'utf8');
  try {
    return decodeState(text);
  } catch (err) {
    throw new StateFileError(`state file ${path}: ${(err as Error).message}`);
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

/**
 * Keeps the state file current while the agent runs, so that a crash or `kill -9` loses at most the
 * write in flight. Writes never overlap; requests that arrive during a write are coalesced into
 * one more write after it.
 */
export class StateWriter {
  private writing?: Promise<void>;
  private again = false;
  private stopped = false;
  /** Whether the last write listed unsent samples. */
  hasQueue = false;

  constructor(
    readonly path: string,
    private readonly snapshot: () => { session?: SavedSession; queue: SavedSample[] },
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Writes the current state soon (now, or once after the write in flight). */
  write(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = (async () => {
      do {
        this.again = false;
        const { session, queue } = this.snapshot();
        await saveState(this.path, { savedAt: Date.now(), session, queue }).then(() => {
          this.hasQueue = queue.length > 0;
        }, this.onError);
      } while (this.again && !this.stopped);
      this.writing = undefined;
    })();
  }

  /** No more coalesced rewrites: the agent is stopping and {@link close} writes last. */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves when no write is in flight. */
  async settled(): Promise<void> {
    await this.writing;
  }

  /** Stops coalescing, waits for the write in flight, then writes the final state; resolves the samples saved. */
  async close(): Promise<number> {
    this.stop();
    await this.writing;
    const { session, queue } = this.snapshot();
    await saveState(this.path, { savedAt: Date.now(), session, queue });
    return queue.length;
  }
}
