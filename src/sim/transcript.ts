import type { SecurityMode } from '../dtls/credentials/identity.ts';
import type { CryptoOp, CryptoPurpose, Direction, DtlsMeter } from '../dtls/meter.ts';

/**
 * A transcript: what one real DTLS handshake and one application-data exchange of our engine put on
 * the wire and computed, flight by flight, recorded through the meter (src/dtls/meter.ts) on both
 * sides. The device model replays it on a constrained profile; nothing in it is estimated.
 */
export type Side = 'client' | 'server';

export interface TranscriptRecord {
  contentType: string;
  epoch: number;
  /** Whole record on the wire, 13-byte header included. */
  bytes: number;
}

export interface TranscriptMessage {
  /** RFC 5246 HandshakeType name, e.g. 'client_hello'; 'change_cipher_spec' for the CCS record. */
  type: string;
  bodyBytes: number;
}

export interface CryptoUse {
  side: Side;
  /** Preparing the flight (its sender) or processing it (its receiver). */
  phase: 'prepare' | 'process';
  op: CryptoOp;
  count: number;
  /** The handshake message the engine named, when it named one. */
  message?: string;
  /** What the operation computes, when the engine said (master secret, key block, cookie …). */
  purpose?: CryptoPurpose;
}

export interface TranscriptFlight {
  /** 1-based, in order of occurrence (with a cookie exchange: 1 CH, 2 HVR, 3 CH, 4 …, 5 …, 6 …). */
  number: number;
  from: Side;
  records: TranscriptRecord[];
  messages: TranscriptMessage[];
  crypto: CryptoUse[];
}

export interface Transcript {
  mode: SecurityMode;
  /** 'engine' for a recording of our DTLS engine; 'fixture' only in tests. */
  source: 'engine' | 'fixture';
  cipherSuite?: string;
  flights: TranscriptFlight[];
  /** Application records after the handshake (client → server, then the echo back). */
  application: TranscriptFlight[];
}

type LogEvent =
  | { side: Side; kind: 'hs'; dir: Direction; type: string; bytes: number }
  | { side: Side; kind: 'record'; dir: Direction; contentType: string; epoch: number; bytes: number }
  | { side: Side; kind: 'crypto'; op: CryptoOp; count: number; context?: string; purpose?: CryptoPurpose }
  | { kind: 'mark' };

/**
 * Collects the meter calls of both sides in one ordered log (both endpoints run in one process, so
 * the order of calls is the order of events) and turns them into flights.
 */
export class TranscriptRecorder {
  private readonly log: LogEvent[] = [];

  meter(side: Side): DtlsMeter {
    return {
      handshakeMessage: (dir, type, bodyBytes) => this.log.push({ side, kind: 'hs', dir, type, bytes: bodyBytes }),
      record: (dir, contentType, epoch, bytes) =>
        this.log.push({ side, kind: 'record', dir, contentType, epoch, bytes }),
      crypto: (op, count, context, purpose) => this.log.push({ side, kind: 'crypto', op, count, context, purpose }),
    };
  }

  /** Marks the end of the handshake: later records are application exchanges. */
  markHandshakeDone(): void {
    this.log.push({ kind: 'mark' });
  }

  /** Forgets everything recorded so far (a resumption recording drops its first, full handshake). */
  clear(): void {
    this.log.length = 0;
  }

  build(mode: SecurityMode, source: Transcript['source'], cipherSuite?: string): Transcript {
    return buildTranscript(this.log, mode, source, cipherSuite);
  }
}

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

function buildTranscript(log: LogEvent[], mode: SecurityMode, source: Transcript['source'], cipherSuite?: string) {
  // Pass 1: flights from what each side sent ('out'), in order; crypto calls remembered with the
  // flight that was current when they happened.
  const all: { flight: TranscriptFlight; handshake: boolean }[] = [];
  const calls: { side: Side; op: CryptoOp; count: number; context?: string; purpose?: CryptoPurpose; at: number }[] =
    [];
  let inHandshake = true;
  let current = -1;
  for (const e of log) {
    if (e.kind === 'mark') {
      inHandshake = false;
      continue;
    }
    if (e.kind === 'crypto') {
      calls.push({ side: e.side, op: e.op, count: e.count, context: e.context, purpose: e.purpose, at: current });
      continue;
    }
    const cur = current >= 0 ? all[current] : undefined;
    if (e.dir === 'in') {
      // The sender's 'out' describes the bytes; an 'in' only fills in a message the sender did not
      // report (an engine that predates the endpoint's report of its stateless HelloVerifyRequest).
      if (
        e.kind === 'hs' &&
        cur &&
        cur.flight.from === other(e.side) &&
        !cur.flight.messages.some((m) => m.type === e.type)
      ) {
        cur.flight.messages.push({ type: e.type, bodyBytes: e.bytes });
      }
      continue;
    }
    let f = cur?.flight;
    if (!cur || cur.flight.from !== e.side || cur.handshake !== inHandshake) {
      f = { number: 0, from: e.side, records: [], messages: [], crypto: [] };
      all.push({ flight: f, handshake: inHandshake });
      current = all.length - 1;
    }
    if (!f) continue;
    if (e.kind === 'hs') f.messages.push({ type: e.type, bodyBytes: e.bytes });
    else {
      f.records.push({ contentType: e.contentType, epoch: e.epoch, bytes: e.bytes });
      if (e.contentType === 'change_cipher_spec') {
        // ChangeCipherSpec precedes Finished on the wire (RFC 5246 §7.1), even when the engine
        // reported Finished first.
        const fin = f.messages.findIndex((m) => m.type === 'finished');
        f.messages.splice(fin >= 0 ? fin : f.messages.length, 0, { type: 'change_cipher_spec', bodyBytes: 1 });
      }
    }
  }

  // Pass 2: each crypto call prepares the side's own flight or processes the one it received.
  // Between receiving flight k and sending its next flight a side may do either; the message the
  // engine named decides: one only in the received flight → processing, one only in the side's next
  // flight → preparing. A message type in both (Finished) goes to processing the first time each
  // operation is seen and to preparing when the same operation repeats (verify the peer's Finished,
  // then compute one's own). Unnamed calls process the received flight, except a repeated AES use
  // (decrypt the peer's record, then encrypt one's own).
  const seen = new Map<number, Set<string>>();
  for (const c of calls) {
    const use = {
      op: c.op,
      count: c.count,
      ...(c.context ? { message: c.context } : {}),
      ...(c.purpose ? { purpose: c.purpose } : {}),
    };
    const cur = c.at >= 0 ? all[c.at] : undefined;
    const nextIdx = all.findIndex((x, i) => i > c.at && x.flight.from === c.side);
    const next = nextIdx >= 0 ? all[nextIdx] : undefined;
    const prepareNext = () => next?.flight.crypto.push({ side: c.side, phase: 'prepare', ...use });
    if (!cur) {
      prepareNext();
      continue;
    }
    if (cur.flight.from === c.side) {
      cur.flight.crypto.push({ side: c.side, phase: 'prepare', ...use });
      continue;
    }
    const has = (f: TranscriptFlight | undefined) => !!c.context && !!f?.messages.some((m) => m.type === c.context);
    const inReceived = has(cur.flight);
    const inNext = has(next?.flight);
    const key = `${c.side}:${c.op}:${c.context ?? ''}`;
    let set = seen.get(c.at);
    if (!set) {
      set = new Set();
      seen.set(c.at, set);
    }
    let process: boolean;
    if (inReceived && !inNext) process = true;
    else if (inNext && !inReceived) process = false;
    else if (inReceived && inNext) process = !set.has(key);
    else if (!c.context && c.op === 'aes_block') process = !set.has(key);
    else process = true;
    if (!process && next) prepareNext();
    else {
      cur.flight.crypto.push({ side: c.side, phase: 'process', ...use });
      set.add(key);
    }
  }

  const flights = all.filter((x) => x.handshake).map((x) => x.flight);
  const application = all.filter((x) => !x.handshake).map((x) => x.flight);
  flights.forEach((f, i) => {
    f.number = i + 1;
  });
  application.forEach((f, i) => {
    f.number = i + 1;
  });
  return { mode, source, ...(cipherSuite ? { cipherSuite } : {}), flights, application } satisfies Transcript;
}

/** Total count of `op` performed by `side` over the handshake flights. */
export function cryptoCount(t: Transcript, side: Side, op: CryptoOp): number {
  let n = 0;
  for (const f of t.flights) for (const c of f.crypto) if (c.side === side && c.op === op) n += c.count;
  return n;
}

/** The engine cannot run this mode yet: experiments print "not yet measured" instead of numbers. */
export class EngineUnavailableError extends Error {
  constructor(
    readonly mode: SecurityMode,
    reason: string,
  ) {
    super(`not yet measured (engine lacks mode ${mode}: ${reason})`);
    this.name = 'EngineUnavailableError';
  }
}

/** The slice of the DTLS engine's public API (src/dtls/index.ts) that a recording needs. */
interface EngineConnection {
  readonly cipherSuite: string;
  readonly identity?: { mode: string };
  readonly resumed?: boolean;
  readonly session?: unknown;
  send(data: Buffer): void;
  close(): Promise<void>;
  on(event: 'data', cb: (d: Buffer) => void): unknown;
  once(event: 'data', cb: (d: Buffer) => void): unknown;
}
interface EngineServer {
  address(): { address: string; port: number };
  on(event: 'connection', cb: (c: EngineConnection) => void): unknown;
  close(): Promise<void>;
}
interface Engine {
  DtlsServer: { listen(opts: Record<string, unknown>): Promise<EngineServer> };
  connect(opts: Record<string, unknown>): Promise<EngineConnection>;
}

export interface RecordOptions {
  /** Application payload of the one data exchange. Default 64 bytes. */
  payloadBytes?: number;
  timeoutMs?: number;
  /**
   * Record a session resumption (RFC 5246 §7.3 abbreviated handshake) instead: a full handshake
   * first, unrecorded, then a second connection offering its session.
   */
  resume?: boolean;
  /** Handshake profile of both sides ('lean': fewest bytes on the air). Default: the engine's default. */
  profile?: 'default' | 'lean';
}

export type Credentials = { server: Record<string, unknown>; client: Record<string, unknown> };

/** PEM material for one recording, serialisable (the memory experiment hands it to a child process). */
export interface CredentialMaterial {
  mode: SecurityMode;
  serverKeyPem?: string;
  clientKeyPem?: string;
  serverCertPem?: string;
  clientCertPem?: string;
  rootPem?: string;
}

export const SIM_PSK = { identity: 'securesense-sim', keyHex: '000102030405060708090a0b0c0d0e0f' } as const;

/**
 * Key material per mode: nothing to generate for PSK; for RPK a P-256 key pair per side; for X.509 a
 * root CA issuing one cloud and one device certificate directly (one signature to check per chain).
 */
export async function credentialMaterial(mode: SecurityMode): Promise<CredentialMaterial> {
  if (mode === 'psk') return { mode };
  const pki = await import('../pki/index.ts');
  if (mode === 'rpk')
    return { mode, serverKeyPem: await pki.generateKeyPem(), clientKeyPem: await pki.generateKeyPem() };
  const ca = await pki.createCa({ cn: 'SecureSense Sim Root' });
  const server = await pki.issueCertificate({ ca, cn: 'cloud', ip: ['127.0.0.1'], usage: 'server' });
  const device = await pki.issueCertificate({ ca, cn: 'device', usage: 'client' });
  return {
    mode,
    serverKeyPem: server.keyPem,
    serverCertPem: server.certPem,
    clientKeyPem: device.keyPem,
    clientCertPem: device.certPem,
    rootPem: ca.rootPem,
  };
}

function need(v: string | undefined, what: string): string {
  if (!v) throw new Error(`credential material lacks ${what}`);
  return v;
}

/**
 * Engine options of both sides for `material`: a PSK; for RPK each side pins the other's key; for
 * X.509 both trust the root and the server requires a client certificate (clientAuth 'need'). The
 * option names are those of src/dtls/credentials (PublicKeyCredentials), which the engine takes for
 * every mode.
 */
export async function credentialsFrom(material: CredentialMaterial): Promise<Credentials> {
  if (material.mode === 'psk') {
    const key = Buffer.from(SIM_PSK.keyHex, 'hex');
    return {
      server: { psk: (id: string) => (id === SIM_PSK.identity ? key : undefined) },
      client: { psk: { identity: SIM_PSK.identity, key } },
    };
  }
  const creds = await import('../dtls/credentials/index.ts');
  if (material.mode === 'rpk') {
    const serverRpk = creds.ownRawPublicKey(need(material.serverKeyPem, 'the server key'));
    const clientRpk = creds.ownRawPublicKey(need(material.clientKeyPem, 'the client key'));
    return {
      server: { rpk: serverRpk, trust: { pinnedKeys: new creds.PinnedKeys([clientRpk.spki]) }, clientAuth: 'need' },
      client: {
        rpk: clientRpk,
        trust: { pinnedKeys: new creds.PinnedKeys([serverRpk.spki]) },
        serverName: '127.0.0.1',
      },
    };
  }
  const anchors = creds.loadTrustAnchors(need(material.rootPem, 'the root'));
  const certificateOf = (side: 'server' | 'client') =>
    creds.ownCertificate(
      need(material[`${side}KeyPem`], `the ${side} key`),
      need(material[`${side}CertPem`], `the ${side} certificate`),
    );
  return {
    server: { certificate: certificateOf('server'), trust: { anchors }, clientAuth: 'need' },
    client: { certificate: certificateOf('client'), trust: { anchors }, serverName: '127.0.0.1' },
  };
}

async function loadEngine(): Promise<Engine> {
  // Resolved at run time so that the model builds and tests before the engine lands.
  const spec = '../dtls/index.ts';
  return (await import(spec)) as Engine;
}

/**
 * Runs a real in-process handshake of our engine on loopback in `mode`, then one application
 * exchange (client sends `payloadBytes`, server echoes), with a meter on each side.
 * Rejects with EngineUnavailableError when the engine cannot do `mode` yet.
 */
export async function recordTranscript(mode: SecurityMode, opts: RecordOptions = {}): Promise<Transcript> {
  const material = await credentialMaterial(mode);
  const creds = await credentialsFrom(material);
  const payload = Buffer.alloc(opts.payloadBytes ?? 64, 0x5a);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let engine: Engine;
  try {
    engine = await loadEngine();
  } catch (err) {
    throw new EngineUnavailableError(mode, `cannot load src/dtls/index.ts (${(err as Error).message})`);
  }
  const rec = new TranscriptRecorder();
  let server: EngineServer | undefined;
  let client: EngineConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  const run = async (): Promise<Transcript> => {
    try {
      server = await engine.DtlsServer.listen({
        host: '127.0.0.1',
        port: 0,
        meter: rec.meter('server'),
        profile: opts.profile,
        ...creds.server,
      });
    } catch (err) {
      throw new EngineUnavailableError(mode, (err as Error).message);
    }
    server.on('connection', (c) => c.on('data', (d) => c.send(d)));
    const { port } = server.address();
    const clientOpts = { host: '127.0.0.1', port, meter: rec.meter('client'), profile: opts.profile, ...creds.client };
    try {
      client = await engine.connect(clientOpts);
      if (opts.resume) {
        const session = client.session;
        await client.close();
        // Let the server finish with the first connection (its close_notify) before recording.
        await new Promise((r) => setTimeout(r, 100));
        rec.clear();
        client = await engine.connect({ ...clientOpts, session });
        if (!client.resumed) throw new Error('the server did not resume the session');
      }
    } catch (err) {
      throw new EngineUnavailableError(mode, (err as Error).message);
    }
    rec.markHandshakeDone();
    const c = client;
    // An engine without the mode may still complete some other handshake: only a real one counts.
    if (c.identity?.mode !== mode) {
      throw new EngineUnavailableError(
        mode,
        `the handshake negotiated ${c.identity?.mode ?? 'no'} mode (${c.cipherSuite})`,
      );
    }
    const echoed = new Promise<Buffer>((resolve) => c.once('data', resolve));
    c.send(payload);
    const back = await echoed;
    if (!back.equals(payload)) throw new Error('recording: the echoed payload differs from the one sent');
    return rec.build(mode, 'engine', c.cipherSuite);
  };
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`recording a ${mode} handshake timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
    await client?.close().catch(() => {});
    await server?.close().catch(() => {});
  }
}

const cache = new Map<string, Promise<Transcript>>();

/** recordTranscript, once per mode per process (the experiments share one recording per mode). */
export function transcriptFor(
  mode: SecurityMode,
  opts: { resume?: boolean; profile?: 'default' | 'lean' } = {},
): Promise<Transcript> {
  const key = `${mode}${opts.resume ? '+resume' : ''}${opts.profile === 'lean' ? '+lean' : ''}`;
  let p = cache.get(key);
  if (!p) {
    p = recordTranscript(mode, { resume: opts.resume, profile: opts.profile });
    cache.set(key, p);
  }
  return p;
}
