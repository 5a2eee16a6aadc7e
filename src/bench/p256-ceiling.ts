/**
 * The P-256 ceiling: how many full public-key handshakes per second the elliptic-curve operations
 * ALONE would allow on this machine, from `openssl speed ecdhp256 ecdsap256` (one core, OpenSSL's
 * own assembly) — the limit our DTLS engine can approach but not pass, printed beside its measured
 * handshakes/s by the dtls benchmark.
 *
 * How the operations are counted (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, RFC 7251; RFC 5246 §7.4):
 *
 *   server, per full handshake                  client, per full handshake
 *   1 ECDH key generation (ServerKeyExchange)   1 ECDH key generation (ClientKeyExchange)
 *   1 ECDSA sign   (ServerKeyExchange params)   1 ECDSA verify (ServerKeyExchange params)
 *   1 ECDH derive  (premaster, RFC 8422 §5.10)  1 ECDH derive
 *   1 ECDSA verify (client's CertificateVerify) 1 ECDSA sign   (CertificateVerify)
 *   x509 only: + 1 ECDSA verify per certificate signature on the client's chain up to the anchor
 *              (client side: the same for the server's chain)
 *
 * Both modes are counted with client authentication (RPK: the client proves its raw key; X.509:
 * mutual), since that is what the dtls benchmark runs. `openssl speed` has no separate key-
 * generation figure; an ECDH key generation is one fixed-base scalar multiplication, the same core
 * work as an ECDSA signature, so it is charged at the signing rate. ECDH derive is charged at
 * OpenSSL's ecdh rate, sign and verify at its ecdsa rates. Hashing, the PRF, AES-CCM and the
 * certificate parsing are left out: they are small next to the scalar multiplications, and leaving
 * them out keeps this a true upper bound.
 *
 * `bothSides` is for our client and our server in one process on one core (as the benchmark runs
 * them): the ops of both sides add up. `serverOnly` is what a server whose clients run elsewhere
 * could do on one core.
 */
import { spawnSync } from 'node:child_process';
import { createECDH, generateKeyPairSync, sign, verify } from 'node:crypto';

export interface P256Rates {
  /** ECDH derivations (shared-secret computations) per second. */
  ecdhPerSec: number;
  signPerSec: number;
  verifyPerSec: number;
}

export interface OpCount {
  keygen: number;
  derive: number;
  sign: number;
  verify: number;
}

export interface ModeCeiling {
  server: OpCount;
  client: OpCount;
  /** Handshakes/s with both sides' operations on one core. */
  bothSides: number;
  /** Handshakes/s for the server's operations alone on one core. */
  serverOnly: number;
}

export interface P256Ceiling extends P256Rates {
  source: string;
  /** Certificate signatures each side verifies on the peer's chain (1 = leaf issued by the anchor). */
  chainSignatures: number;
  rpk: ModeCeiling;
  x509Mutual: ModeCeiling;
}

/** The operations of one side of a full ECDHE-ECDSA handshake with client authentication. */
export function opsPerSide(mode: 'rpk' | 'x509', chainSignatures = 1): OpCount {
  return { keygen: 1, derive: 1, sign: 1, verify: 1 + (mode === 'x509' ? chainSignatures : 0) };
}

function secondsFor(ops: OpCount, r: P256Rates): number {
  // Key generation charged at the signing rate (one fixed-base multiplication each).
  return (ops.keygen + ops.sign) / r.signPerSec + ops.derive / r.ecdhPerSec + ops.verify / r.verifyPerSec;
}

function add(a: OpCount, b: OpCount): OpCount {
  return {
    keygen: a.keygen + b.keygen,
    derive: a.derive + b.derive,
    sign: a.sign + b.sign,
    verify: a.verify + b.verify,
  };
}

/** The ceiling for given operation rates (pure: no measuring). */
export function ceilingFromRates(r: P256Rates, chainSignatures = 1, source = 'given rates'): P256Ceiling {
  const mode = (m: 'rpk' | 'x509'): ModeCeiling => {
    const server = opsPerSide(m, chainSignatures);
    const client = opsPerSide(m, chainSignatures);
    return {
      server,
      client,
      bothSides: 1 / secondsFor(add(server, client), r),
      serverOnly: 1 / secondsFor(server, r),
    };
  };
  return { ...r, source, chainSignatures, rpk: mode('rpk'), x509Mutual: mode('x509') };
}

/**
 * Parses `openssl speed -mr` output: `+F4:<i>:256:<sign/s>:<verify/s>` (ECDSA) and
 * `+F5:<i>:256:<ecdh op/s>:<s/op>` (ECDH).
 */
export function parseOpensslSpeed(out: string): P256Rates {
  const f4 = /^\+F4:\d+:256:([\d.]+):([\d.]+)/m.exec(out);
  const f5 = /^\+F5:\d+:256:([\d.]+):/m.exec(out);
  if (!f4 || !f5) throw new Error(`unexpected 'openssl speed -mr' output:\n${out.slice(0, 500)}`);
  return { signPerSec: Number(f4[1]), verifyPerSec: Number(f4[2]), ecdhPerSec: Number(f5[1]) };
}

/** Runs `openssl speed -seconds N -mr ecdhp256 ecdsap256` (about 3·N seconds) and computes the ceiling. */
export function measureP256Ceiling(opts: { seconds?: number; chainSignatures?: number } = {}): P256Ceiling {
  const seconds = opts.seconds ?? 2;
  const args = ['speed', '-seconds', String(seconds), '-mr', 'ecdhp256', 'ecdsap256'];
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: (seconds * 3 + 30) * 1000 });
  if (r.error) throw new Error(`cannot run openssl: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl speed failed: ${r.stderr}`);
  const version = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  return ceilingFromRates(parseOpensslSpeed(r.stdout), opts.chainSignatures ?? 1, `openssl speed (${version})`);
}

/**
 * The same operations through node:crypto as ecc.ts performs them, for `ms` milliseconds each:
 * shows what Node's call overhead costs against OpenSSL's raw figures. ECDH here is keygen+derive
 * per op (one createECDH, as a handshake does); reported as derive rate after subtracting nothing.
 */
export function measureNodeP256(ms = 500): P256Rates & { ecdhKeygenPerSec: number } {
  const rate = (fn: () => void) => {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < 20; i++) fn();
      n += 20;
      now = performance.now();
    }
    return (n * 1000) / (now - start);
  };
  const peer = createECDH('prime256v1');
  const peerPoint = peer.generateKeys();
  const own = createECDH('prime256v1');
  own.generateKeys();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const data = Buffer.alloc(130, 7);
  const sig = sign('sha256', data, privateKey);
  return {
    ecdhKeygenPerSec: rate(() => createECDH('prime256v1').generateKeys()),
    ecdhPerSec: rate(() => own.computeSecret(peerPoint)),
    signPerSec: rate(() => sign('sha256', data, privateKey)),
    verifyPerSec: rate(() => verify('sha256', data, publicKey, sig)),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A small table of the ceiling (for the dtls benchmark, or `run` below). */
export function formatCeiling(c: P256Ceiling, node?: P256Rates & { ecdhKeygenPerSec: number }): string {
  const lines = [
    `P-256 ceiling from ${c.source}, one core:`,
    `  ecdh derive/s ${fmt(c.ecdhPerSec)}   ecdsa sign/s ${fmt(c.signPerSec)}   ecdsa verify/s ${fmt(c.verifyPerSec)}`,
  ];
  if (node) {
    lines.push(
      `  node:crypto:  ecdh derive/s ${fmt(node.ecdhPerSec)}   ecdh keygen/s ${fmt(node.ecdhKeygenPerSec)}   sign/s ${fmt(node.signPerSec)}   verify/s ${fmt(node.verifyPerSec)}`,
    );
  }
  const ops = (o: OpCount) => `${o.keygen} keygen + ${o.derive} derive + ${o.sign} sign + ${o.verify} verify`;
  lines.push(
    `  rpk (client auth)   per side: ${ops(c.rpk.server)}   ceiling: ${fmt(c.rpk.bothSides)} handshakes/s both sides on one core, ${fmt(c.rpk.serverOnly)} server side only`,
    `  x509 mutual         per side: ${ops(c.x509Mutual.server)}   ceiling: ${fmt(c.x509Mutual.bothSides)} handshakes/s both sides on one core, ${fmt(c.x509Mutual.serverOnly)} server side only`,
  );
  return lines.join('\n');
}

/** Prints the ceiling; `--seconds N` (default 2), `--chain N` certificate signatures per chain (default 1). */
export async function run(args: string[]): Promise<number> {
  const get = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    const v = i >= 0 ? Number(args[i + 1]) : dflt;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
    return v;
  };
  const c = measureP256Ceiling({ seconds: get('--seconds', 2), chainSignatures: get('--chain', 1) });
  process.stdout.write(`${formatCeiling(c, measureNodeP256(300))}\n`);
  return 0;
}
