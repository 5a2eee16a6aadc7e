/**
 * `npm start` (`securesense start`): the main job on the embedded default — the platform on
 * SQLite under ./data with its HTTP, CoAP and CoAPs APIs and the poller, a demo user, and a small
 * fleet of simulated devices in this process:
 *
 * - three devices push their readings over coaps://, one per DTLS mode: PSK, raw public key
 *   (RFC 7250) and X.509 — each bound to its own resource by its credentials;
 * - one device serves its sensors over coaps:// (PSK) and the platform's poller pulls them,
 *   keeping one DTLS session between polls.
 *
 * It prints the URLs and the demo user's token (the same one after a restart: DATA/demo-token.json),
 * then every 10 s one line per device with the points that arrived from it. Ctrl-C stops the devices (close_notify) and the platform cleanly.
 *
 * The platform's demo PKI (a CA, the server's certificate and raw public key, the devices' keys)
 * is made once under DATA/pki and reused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { CoapsSecurity } from '../coap/index.ts';
import { DeviceAgent } from '../device/agent.ts';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../dtls/credentials/index.ts';
import { createCa, generateKeyPem, issueCertificate, rawPublicKey } from '../pki/index.ts';
import { ConfigError, type ConfigInput, loadConfig } from '../platform/config.ts';
import { Conflict, createPlatform, type Platform } from '../platform/index.ts';
import { command, type OptionTable, type Parsed } from './args.ts';
import { demoToken, keepDemoToken } from './demo-token.ts';
import { platformPortFlags, portInUseHint } from './errors.ts';
import { stopOnSignal } from './serve.ts';

const OPTIONS = {
  data: { type: 'string', arg: 'DIR', help: 'where the SQLite file and the demo PKI live (default ./data)' },
  db: { type: 'string', arg: 'URL|PATH', help: 'another store (default DIR/securesense.db)' },
  host: { type: 'string', arg: 'HOST', help: 'address to bind (default ::, dual-stack; the fleet talks to 127.0.0.1)' },
  'http-port': { type: 'string', arg: 'N', help: 'HTTP API port (default 8080; 0 = any free port)' },
  'coap-port': { type: 'string', arg: 'N', help: 'coap:// port (default 5683)' },
  'coaps-port': { type: 'string', arg: 'N', help: 'coaps:// port (default 5684)' },
  interval: { type: 'string', arg: 'S', help: "seconds between a device's readings (default 5)" },
  report: { type: 'string', arg: 'S', help: 'seconds between the per-device lines (default 10)' },
  'log-level': { type: 'string', arg: 'LEVEL', help: 'platform log level on stderr (default warn)' },
} as const satisfies OptionTable;

const DEMO_USER = { username: 'demo', password: 'securesense-demo' };

interface DemoPki {
  caPem: string;
  server: { certPem: string; keyPem: string; rpkKeyPem: string; rpkSpkiPem: string };
  x509Device: { certPem: string; keyPem: string; subject: string };
  rpkDevice: { keyPem: string; spkiPem: string };
}

/** The demo PKI, made on the first start and kept (the devices' trust in the server survives restarts). */
async function demoPki(dir: string): Promise<DemoPki> {
  const file = join(dir, 'demo-pki.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoPki;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa({ cn: 'SecureSense Demo CA' });
  const server = await issueCertificate({
    ca,
    cn: 'localhost',
    dns: ['localhost'],
    ip: ['127.0.0.1', '::1'],
    usage: 'server',
  });
  const device = await issueCertificate({ ca, cn: 'demo-x509', usage: 'client' });
  const serverRpk = await generateKeyPem();
  const deviceRpk = await generateKeyPem();
  const pki: DemoPki = {
    caPem: ca.certPem,
    server: {
      certPem: server.certPem,
      keyPem: server.keyPem as string,
      rpkKeyPem: serverRpk,
      rpkSpkiPem: rawPublicKey(serverRpk).spkiPem,
    },
    x509Device: { certPem: device.certPem, keyPem: device.keyPem as string, subject: 'CN=demo-x509' },
    rpkDevice: { keyPem: deviceRpk, spkiPem: rawPublicKey(deviceRpk).spkiPem },
  };
  writeFileSync(file, JSON.stringify(pki, null, 2), { mode: 0o600 });
  return pki;
}

interface DemoDevice {
  name: string;
  mode: string;
  how: string;
  rid: number;
  agent: DeviceAgent;
  total: number;
}

/**
 * The demo user's id and token (created on the first start, signed in to afterwards); the token
 * is kept under DATA and reused, so that it survives restarts (demo-token.ts).
 */
async function demoUser(platform: Platform, dataDir: string): Promise<{ uid: number; token: string }> {
  const file = join(dataDir, 'demo-token.json');
  try {
    const { user, token } = await platform.service.createUser({ kind: 'anonymous' }, DEMO_USER);
    keepDemoToken(file, user.username, user.id, token);
    return { uid: user.id, token };
  } catch (err) {
    if (!(err instanceof Conflict)) throw err;
    const { user } = await platform.service.login(DEMO_USER);
    return { uid: user.id, token: (await demoToken(platform.service, file, user)).token };
  }
}

/** Points stored in all streams of a resource. */
async function pointsOf(platform: Platform, rid: number): Promise<number> {
  let n = 0;
  for (const s of await platform.store.listStreams(rid))
    n += (await platform.store.queryPoints(s.id, { limit: 10_000_000 })).length;
  return n;
}

export const run = command(
  {
    name: 'start',
    usage: '[options]',
    about:
      'The main job: the platform on SQLite under --data with its HTTP, CoAP and CoAPs APIs and the poller,\n' +
      'a demo user, and four simulated devices (PSK, RPK and X.509 pushes; one polled over coaps://).',
    options: OPTIONS,
  },
  start,
);

async function start({ values: v }: Parsed<typeof OPTIONS>): Promise<number> {
  const dataDir = v.data ?? './data';
  const seconds = (name: 'interval' | 'report', dflt: number): number => {
    const raw = v[name];
    const n = raw === undefined ? dflt : Number(raw);
    if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new ConfigError([`--${name} must be 0.1–3600 seconds`]);
    return n;
  };
  let config: ReturnType<typeof loadConfig>;
  let intervalS: number;
  let reportS: number;
  try {
    intervalS = seconds('interval', 5);
    reportS = seconds('report', 10);
    const overrides: ConfigInput = {
      db: v.db ?? join(dataDir, 'securesense.db'),
      logLevel: v['log-level'] ?? 'warn',
      http: { ...(v.host ? { host: v.host } : {}), ...(v['http-port'] ? { port: v['http-port'] } : {}) },
      coap: {
        ...(v.host ? { host: v.host } : {}),
        ...(v['coap-port'] ? { port: v['coap-port'] } : {}),
        ...(v['coaps-port'] ? { coapsPort: v['coaps-port'] } : {}),
      },
    };
    config = loadConfig({ overrides });
    if (config.coap.coapsPort === null) throw new ConfigError(['the demo fleet needs coaps:// (--coaps-port)']);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`securesense start: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const logger = pino({ level: config.logLevel }, pino.destination(2));
  if (!config.db.startsWith('postgres')) mkdirSync(dataDir, { recursive: true });
  const pki = await demoPki(join(dataDir, 'pki'));
  let platform: Platform;
  try {
    platform = await createPlatform(config, {
      logger,
      coap: {
        dtls: {
          certificate: ownCertificate(pki.server.keyPem, pki.server.certPem),
          rpk: ownRawPublicKey(pki.server.rpkKeyPem),
        },
      },
      poller: true,
    });
  } catch (err) {
    const hint = portInUseHint(err, platformPortFlags(config, { https: false }));
    if (hint === undefined) throw err;
    process.stderr.write(`securesense start: ${(err as Error).message}\n${hint ? `${hint}\n` : ''}`);
    return 1;
  }
  const devices: DemoDevice[] = [];
  let timer: NodeJS.Timeout | undefined;
  let done: Promise<number> | undefined;
  // The platform stops first: its poller waits for a poll in flight, and a polled device already
  // gone would hold that poll (and the stop) until the handshake's or request's retransmissions
  // run out, up to a minute (one stop in eight hung so under `npm start` on a loaded machine).
  const stopAll = async () => {
    if (timer) clearInterval(timer);
    await platform.close();
    await Promise.allSettled(devices.map((d) => d.agent.stop()));
  };

  try {
    const { uid, token } = await demoUser(platform, dataDir);
    const owner = { kind: 'user' as const, userId: uid };
    const coapsPort = platform.coap?.coaps?.port as number;
    const cloud = `coaps://127.0.0.1:${coapsPort}`;

    /** The demo resource with this label, its old device credentials replaced by `cred`. */
    const resource = async (label: string, cred: Parameters<Platform['service']['addDeviceCredential']>[3]) => {
      const existing = (await platform.service.listResources(owner, uid)).find((r) => r.label === label);
      const rid = existing?.id ?? (await platform.service.createResource(owner, uid, { label })).resource.id;
      for (const c of await platform.service.listDeviceCredentials(owner, uid, rid))
        await platform.service.deleteDeviceCredential(owner, uid, rid, c.id);
      await platform.service.addDeviceCredential(owner, uid, rid, cred);
      return rid;
    };
    const agentLog = logger.child({ component: 'demo-device' });
    const pushAgent = (rid: number, security: CoapsSecurity) =>
      new DeviceAgent({
        push: `${cloud}/users/${uid}/resources/${rid}/data`,
        security,
        intervalMs: intervalS * 1000,
        logger: agentLog,
      });

    // Push, PSK (RFC 4279): a fresh key every start; the platform looks it up per handshake.
    const pskKey = randomBytes(16);
    const ridPsk = await resource('demo-psk', {
      mode: 'psk',
      pskIdentity: 'demo-psk',
      pskKey: pskKey.toString('hex'),
      label: 'demo fleet',
    });
    devices.push({
      name: 'demo-psk',
      mode: 'psk',
      how: 'pushes',
      rid: ridPsk,
      total: 0,
      agent: pushAgent(ridPsk, { psk: { identity: 'demo-psk', key: pskKey } }),
    });

    // Push, raw public key (RFC 7250): the device pins the server's key, the platform the device's.
    const ridRpk = await resource('demo-rpk', { mode: 'rpk', rpk: pki.rpkDevice.spkiPem, label: 'demo fleet' });
    devices.push({
      name: 'demo-rpk',
      mode: 'rpk',
      how: 'pushes',
      rid: ridRpk,
      total: 0,
      agent: pushAgent(ridRpk, {
        rpk: ownRawPublicKey(pki.rpkDevice.keyPem),
        trust: { pinnedKeys: new PinnedKeys([pki.server.rpkSpkiPem]) },
      }),
    });

    // Push, X.509: the device's certificate from the demo CA, bound by its subject under that CA.
    const ridX509 = await resource('demo-x509', {
      mode: 'x509',
      x509Name: pki.x509Device.subject,
      x509Ca: pki.caPem,
      label: 'demo fleet',
    });
    devices.push({
      name: 'demo-x509',
      mode: 'x509',
      how: 'pushes',
      rid: ridX509,
      total: 0,
      agent: pushAgent(ridX509, {
        certificate: ownCertificate(pki.x509Device.keyPem, pki.x509Device.certPem),
        trust: { anchors: loadTrustAnchors(pki.caPem) },
      }),
    });

    // Pull: a device serving /sensors over coaps:// (PSK); the poller keeps one session to it.
    const pollKey = randomBytes(16);
    const puller = new DeviceAgent({
      serveDtls: { host: '127.0.0.1', port: 0, psk: [{ identity: 'demo-poller', key: pollKey }] },
      intervalMs: intervalS * 1000,
      logger: agentLog,
    });
    await puller.start();
    // The poller refuses loopback (no SSRF); the demo allows exactly its own simulated device.
    platform.service.netGuard.allow(`127.0.0.1:${puller.addresses().serveDtls?.port}`);
    const ridPoll = await resource('demo-polled', {
      mode: 'psk',
      pskIdentity: 'demo-poller',
      pskKey: pollKey.toString('hex'),
      label: 'the platform polls with this PSK',
    });
    const pollUrl = `coaps://127.0.0.1:${puller.addresses().serveDtls?.port}/sensors`;
    await platform.service.updateResource(owner, uid, ridPoll, {
      pollingUrl: pollUrl,
      pollingPeriod: Math.max(1, Math.round(intervalS)),
    });
    devices.push({ name: 'demo-polled', mode: 'psk', how: 'is polled', rid: ridPoll, total: 0, agent: puller });

    for (const d of devices) d.total = await pointsOf(platform, d.rid);
    for (const d of devices) if (d.how === 'pushes') await d.agent.start();

    // Listening for Ctrl-C before the first line is printed: a stop sent on seeing the token is heard
    // (with no listener, a signal would end the process between two of the lines below).
    done = stopOnSignal(logger, stopAll, () => {
      process.stdout.write('stopped\n');
    });
    const http = platform.http.plain?.url.replace(/0\.0\.0\.0|\[::\]/, '127.0.0.1');
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out('SecureSense is running (Ctrl-C stops it).');
    out(`  HTTP API   ${http ?? '(off)'}    reference ${http ? `${http}/docs` : '-'}`);
    if (http) out(`  dashboard  ${http}/    (sign in with the token below)`);
    out(
      `  CoAP API   ${platform.coap?.coap?.url.replace(/0\.0\.0\.0|\[::\]/, '127.0.0.1') ?? '(off)'}    CoAPs API ${platform.coap?.coaps?.url.replace(/0\.0\.0\.0|\[::\]/, '127.0.0.1')}`,
    );
    out(`  store      ${platform.store.engine === 'sqlite' ? config.db : 'postgres'}`);
    out(`  demo user  ${DEMO_USER.username} / ${DEMO_USER.password}   id ${uid}`);
    out(`  token      ${token}`);
    out(`  try        curl -H 'Authorization: Bearer ${token}' ${http ?? ''}/users/${uid}/resources`);
    out('  devices');
    for (const d of devices)
      out(
        `    ${d.name.padEnd(12)} ${d.mode.padEnd(5)} ${d.how.padEnd(10)} → resource ${d.rid}${d.how === 'is polled' ? `  (${pollUrl})` : ''}`,
      );

    timer = setInterval(() => {
      void (async () => {
        const time = new Date().toISOString().slice(11, 19);
        for (const d of devices) {
          const now = await pointsOf(platform, d.rid);
          const s = d.agent.stats();
          const extra = d.how === 'pushes' ? `${s.sent} pushes, ${s.handshakes} handshake(s)` : 'pulled by the poller';
          out(`${time}  ${d.name.padEnd(12)} ${d.mode.padEnd(5)} +${now - d.total} points (total ${now}; ${extra})`);
          d.total = now;
        }
      })().catch((err: unknown) => logger.error({ err }, 'report failed'));
    }, reportS * 1000);
  } catch (err) {
    await stopAll();
    throw err;
  }

  if (!done) throw new Error('start: the platform stopped before it was running');
  return done;
}
