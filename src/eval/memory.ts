import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { PAPER_STATIC_RAM_KB } from '../sim/profiles/index.ts';
import {
  credentialMaterial,
  credentialsFrom,
  EngineUnavailableError,
  type Side,
  type Transcript,
} from '../sim/transcript.ts';
import { type Experiment, MODES, NOT_MEASURED, resultOf } from './experiment.ts';

/**
 * The counterpart of the paper's Fig. 18 (static RAM per firmware image): what each mode must keep
 * per session on a device, what it must hold while a handshake runs (derived from the RFCs and from
 * our engine's largest handshake message), and our cloud side's measured heap per session.
 */

/** Per-session state after the handshake, bytes (RFC 5246 §6.1/§8.1, RFC 6347 §4.1, RFC 6655 §3). */
export const SESSION_STATE_BYTES = {
  masterSecret: 48,
  // client_write_key + server_write_key (AES-128) + the two 4-byte implicit nonce salts (CCM).
  keyBlock: 16 + 16 + 4 + 4,
  // write epoch (2) + next sequence number (6)
  writeState: 2 + 6,
  // read epoch (2) + highest sequence number seen (6) + 64-bit replay window (RFC 6347 §4.1.2.6)
  readState: 2 + 6 + 8,
  sessionId: 32,
  cipherSuite: 2,
  // IPv6 address + UDP port of the peer
  peerAddress: 16 + 2,
} as const;

/** What names the peer after the handshake, per mode. */
export const PEER_IDENTITY_BYTES: Record<SecurityMode, number> = {
  // the PSK identity of our recording, 'securesense-sim', with its 2-byte length (RFC 4279 §2)
  psk: 2 + 15,
  // the peer's raw P-256 public key, uncompressed point without the 0x04 prefix (RFC 7250)
  rpk: 64,
  // the peer certificate's public key plus its SHA-256 fingerprint
  x509: 64 + 32,
};

/** Transient handshake state besides the reassembly buffer. */
export const HANDSHAKE_STATE_BYTES = {
  // SHA-256 context over the handshake messages: 32 state + 64 block buffer + 8 length
  transcriptHash: 32 + 64 + 8,
  randoms: 32 + 32,
  cookie: 32,
} as const;
/** ECDHE: own ephemeral private key (32) and public point (64), the peer's point (64). */
export const ECDHE_STATE_BYTES = 32 + 64 + 64;

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

export function sessionBytes(mode: SecurityMode): number {
  return sum(SESSION_STATE_BYTES) + PEER_IDENTITY_BYTES[mode];
}

/** Largest handshake message a device in `role` must reassemble (it receives from the other side). */
export function largestReceived(t: Transcript, role: Side): number {
  let max = 0;
  for (const f of t.flights) if (f.from !== role) for (const m of f.messages) max = Math.max(max, m.bodyBytes + 12);
  return max;
}

export function handshakeBytes(t: Transcript, role: Side): number {
  const ecdhe = t.mode === 'psk' ? 0 : ECDHE_STATE_BYTES;
  return sessionBytes(t.mode) + sum(HANDSHAKE_STATE_BYTES) + ecdhe + largestReceived(t, role);
}

/**
 * Heap per session of our DTLS server, measured in a child process (so the clients' own memory is
 * not counted): it listens with the mode's credentials, we open `sessions` connections, it reports
 * heapUsed after a full GC before and after. Resolves to bytes per session, or an
 * EngineUnavailableError when the engine cannot run the mode.
 */
/** Sessions opened before the first reading (one-time allocations otherwise inflate the average). */
const WARM_UP_SESSIONS = 10;

export async function measureCloudHeap(mode: SecurityMode, sessions = 300): Promise<number | EngineUnavailableError> {
  // Beside this module: heap-probe.ts under tsx, heap-probe.js in the compiled dist/.
  const probe = fileURLToPath(
    new URL(`./heap-probe${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  // --no-flush-bytecode: V8 drops the bytecode of functions idle over a few collections, which
  // moved heapUsed by more than 30 sessions' worth between the two readings on a busy machine
  // (a CI run measured −1 547 bytes per session where a quiet one measures ~4 900).
  const child = spawn(process.execPath, ['--expose-gc', '--no-flush-bytecode', '--import', 'tsx', probe], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const lines: string[] = [];
  let buf = '';
  const waiters: ((l: string) => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const next = (ms = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      const timer = setTimeout(() => reject(new Error('heap probe did not answer')), ms);
      waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  try {
    const material = await credentialMaterial(mode);
    child.stdin.write(`${JSON.stringify(material)}\n`);
    const hello = JSON.parse(await next()) as { port?: number; error?: string };
    if (!hello.port) return new EngineUnavailableError(mode, hello.error ?? 'heap probe failed');
    const creds = await credentialsFrom(material);
    const spec = '../dtls/index.ts';
    const { connect } = (await import(spec)) as {
      connect(o: Record<string, unknown>): Promise<{ close(): Promise<void>; identity?: { mode: string } }>;
    };
    const conns: { close(): Promise<void> }[] = [];
    const open = async (n: number): Promise<EngineUnavailableError | undefined> => {
      for (let i = 0; i < n; i++) {
        const c = await connect({ host: '127.0.0.1', port: hello.port, ...creds.client });
        conns.push(c);
        if (c.identity?.mode !== mode) {
          return new EngineUnavailableError(mode, `the handshake negotiated ${c.identity?.mode ?? 'no'} mode`);
        }
      }
      return undefined;
    };
    // Warm-up sessions first, so that one-time allocations (module state, cookie secret, caches)
    // are not averaged into the per-session figure. (Waiting a few seconds before each reading, for
    // retransmission state to go, changed nothing measurable.)
    const failed = await open(WARM_UP_SESSIONS);
    if (failed) {
      await Promise.all(conns.map((x) => x.close().catch(() => {})));
      return failed;
    }
    child.stdin.write('heap\n');
    const before = (JSON.parse(await next()) as { heap: number }).heap;
    const failed2 = await open(sessions);
    if (failed2) {
      await Promise.all(conns.map((x) => x.close().catch(() => {})));
      return failed2;
    }
    child.stdin.write('heap\n');
    const after = (JSON.parse(await next()) as { heap: number }).heap;
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    return Math.round((after - before) / sessions);
  } catch (err) {
    return new EngineUnavailableError(mode, (err as Error).message);
  } finally {
    child.stdin.end();
    child.kill();
  }
}

/** The paper's Fig. 18 bars as far as its text gives them (PAPER_STATIC_RAM_KB), in its order. */
const PAPER_RAM_BARS: [string, number | undefined][] = [
  ['UDP', PAPER_STATIC_RAM_KB.udp],
  ['UDP+DTLS-PSK', PAPER_STATIC_RAM_KB['udp+dtls-psk']],
  ['UDP+DTLS-RPK', PAPER_STATIC_RAM_KB['udp+dtls-rpk']],
  ['UDP+DTLS-cert', PAPER_STATIC_RAM_KB['udp+dtls-x509']],
  ['CoAP', PAPER_STATIC_RAM_KB.coap],
  ['CoAPs-PSK', PAPER_STATIC_RAM_KB['coap+dtls-psk']],
  ['CoAPs-RPK', PAPER_STATIC_RAM_KB['coap+dtls-rpk']],
  ['CoAPs-cert', PAPER_STATIC_RAM_KB['coap+dtls-x509']],
];

export const memory: Experiment = {
  name: 'memory',
  title: 'Memory per session and per handshake, device and cloud — counterpart of Fig. 18',
  async run(ctx) {
    const rows: (string | number | null)[][] = [];
    const notes: string[] = [];
    const session: (number | null)[] = [];
    const hsClient: (number | null)[] = [];
    const cloud: (number | null)[] = [];
    for (const mode of MODES) {
      const t = await ctx.transcript(mode);
      const heap = await measureCloudHeap(mode);
      const s = sessionBytes(mode);
      const hc = t instanceof EngineUnavailableError ? null : handshakeBytes(t, 'client');
      const hs = t instanceof EngineUnavailableError ? null : handshakeBytes(t, 'server');
      rows.push([
        mode,
        s,
        hc ?? NOT_MEASURED,
        hs ?? NOT_MEASURED,
        heap instanceof EngineUnavailableError ? NOT_MEASURED : heap,
        PAPER_STATIC_RAM_KB[`coap+dtls-${mode}`] ?? 'not stated',
      ]);
      session.push(s);
      hsClient.push(hc);
      cloud.push(heap instanceof EngineUnavailableError ? null : heap);
      if (t instanceof EngineUnavailableError) notes.push(`${mode}: ${t.message}`);
      if (heap instanceof EngineUnavailableError) notes.push(`${mode} cloud heap: ${heap.message}`);
    }
    notes.push(
      `paper static RAM (KB, §5.4): UDP ${PAPER_STATIC_RAM_KB.udp}, CoAP ${PAPER_STATIC_RAM_KB.coap}, ` +
        `UDP+DTLS-PSK ${PAPER_STATIC_RAM_KB['udp+dtls-psk']?.toFixed(1)}, UDP+DTLS-cert ${PAPER_STATIC_RAM_KB['udp+dtls-x509']?.toFixed(1)} (derived from the text).`,
    );
    return resultOf(this, {
      table: {
        columns: [
          'mode',
          'device session state B',
          'device handshake peak B (client)',
          'device handshake peak B (server)',
          'cloud heap per session B',
          'paper CoAPs static RAM KB',
        ],
        rows,
      },
      chart: {
        title: 'Memory by mode: device bytes, cloud heap, and the paper’s firmware RAM',
        panels: [
          {
            title: 'Device: per-session state and handshake peak (bytes, modelled from RFC state sizes + our engine)',
            kind: 'bar',
            categories: MODES,
            series: [
              { name: 'session state', values: session },
              { name: 'handshake peak (client)', values: hsClient },
            ],
            refs: [
              { label: 'paper: DTLS-PSK adds 3.3 KB static', value: 3300, category: 0 },
              { label: 'paper: DTLS-cert adds 6.6 KB', value: 6600, category: 2 },
            ],
            yLabel: 'bytes',
            height: 320,
          },
          {
            title: 'Cloud: heap per session (bytes, measured on our DTLS server)',
            kind: 'bar',
            categories: MODES,
            series: [{ name: 'cloud heap per session', values: cloud }],
            yLabel: 'bytes',
            height: 300,
          },
          {
            title: 'Paper Fig. 18: static RAM of the firmware images (KB, derived from its text)',
            kind: 'bar',
            categories: PAPER_RAM_BARS.map(([k]) => k),
            series: [{ name: 'paper: static RAM', values: PAPER_RAM_BARS.map(([, v]) => v ?? null) }],
            refs: [{ label: 'CC2538 RAM: 32 KB (≈ 8 KB left with a 4 KB stack, paper)', value: 32 }],
            yLabel: 'KB',
            height: 320,
          },
        ],
        note: 'Separate axes: device bytes and cloud heap differ by an order of magnitude; RPK static RAM is not stated in the paper (n/a).',
      },
      notes,
    });
  },
};
