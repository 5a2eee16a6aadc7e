#!/usr/bin/env node
// Measures the third-party peers' bytes per full DTLS 1.2 handshake and rewrites
// src/eval/peer-handshake-bytes.json (shown by `eval whatif` beside our own transcripts).
//
//   node eval/peer-bytes/measure.mjs      (needs openssl, gnutls-bin and libcoap3-bin on PATH)
//
// Each pair runs once, on loopback, through a UDP relay that parses the DTLS records of every
// datagram both ways and sums the bytes (13-byte record header + fragment) of the handshake:
// content types 22/20/21 from the first ClientHello until each side has sent ChangeCipherSpec
// and its encrypted Finished. The cookie exchange (HelloVerifyRequest and the second ClientHello)
// is included; application data, close_notify and CoAP are not. Keys and certificates come from
// our own PKI tool (`securesense pki`). `npm run eval` reads the committed JSON and needs none of this.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outFile = join(root, 'src', 'eval', 'peer-handshake-bytes.json');
const tmp = mkdtempSync(join(tmpdir(), 'peer-bytes-'));
const p = (f) => join(tmp, f);
const pki = (...args) =>
  execFileSync(process.execPath, [join(root, 'bin', 'securesense.mjs'), 'pki', ...args], { encoding: 'utf8' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PSK = { identity: 'dev1', keyHex: '00112233445566778899aabbccddeeff' };
const GNUTLS = {
  psk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8',
  x509: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1',
  rpk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1:-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK',
};

/** A free UDP port on 127.0.0.1 (and, with `pair`, port + 1 free too: libcoap serves coaps there). */
async function freePort(pair = false) {
  for (let i = 0; i < 50; i++) {
    const s = createSocket('udp4');
    const port = await new Promise((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));
    let ok = true;
    if (pair) {
      const s2 = createSocket('udp4');
      ok = await new Promise((r) => {
        s2.once('error', () => r(false));
        s2.bind(port + 1, '127.0.0.1', () => s2.close(() => r(true)));
      });
    }
    await new Promise((r) => s.close(r));
    if (ok) return port;
  }
  throw new Error('no free UDP port');
}

/**
 * A relay 127.0.0.1:port → 127.0.0.1:target counting handshake record bytes per direction.
 * Resolves `done` once both sides have sent ChangeCipherSpec followed by a handshake record (Finished).
 */
async function relay(target) {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let client = null;
  const dir = { c2s: mkDir(), s2c: mkDir() };
  let finish;
  const done = new Promise((r) => {
    finish = r;
  });
  function mkDir() {
    return { bytes: 0, datagrams: 0, records: 0, retransmitted: 0, seen: new Set(), ccs: false, finished: false, helloVerify: false };
  }
  function count(d, buf) {
    if (d.finished) return;
    let off = 0;
    let counted = false;
    while (off + 13 <= buf.length) {
      const type = buf[off];
      const len = buf.readUInt16BE(off + 11);
      if (type === 23) break;
      // A retransmitted flight repeats (epoch, message type, message_seq, fragment_offset): not counted.
      const key =
        type === 22 && buf.readUInt16BE(off + 3) === 0
          ? `hs:${buf[off + 13]}:${buf.readUInt16BE(off + 17)}:${buf.readUIntBE(off + 19, 3)}`
          : type === 20
            ? 'ccs'
            : null;
      if (key !== null && d.seen.has(key)) d.retransmitted++;
      else if (type === 20 || type === 21 || type === 22) {
        if (key !== null) d.seen.add(key);
        d.bytes += 13 + len;
        d.records++;
        counted = true;
        if (type === 22 && buf[off + 13] === 3 && !d.ccs) d.helloVerify = true;
        if (type === 20) d.ccs = true;
        else if (type === 22 && d.ccs) d.finished = true;
      }
      off += 13 + len;
    }
    if (counted) d.datagrams++;
    if (dir.c2s.finished && dir.s2c.finished) finish();
  }
  front.on('message', (m, r) => {
    client = r;
    count(dir.c2s, m);
    back.send(m, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    count(dir.s2c, m);
    if (client) front.send(m, client.port, client.address);
  });
  await new Promise((r) => back.bind(0, '127.0.0.1', r));
  const port = await new Promise((r) => front.bind(0, '127.0.0.1', () => r(front.address().port)));
  return { port, dir, done, close: () => (front.close(), back.close()) };
}

function launch(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  child.on('error', () => {});
  return { child, output: () => out, kill: () => child.exitCode === null && child.kill('SIGKILL') };
}

async function waitFor(proc, re, ms) {
  const end = Date.now() + ms;
  while (!re.test(proc.output())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}`);
    await sleep(50);
  }
}

/** One handshake: server(port) started and ready, client(relayPort) started; counted until both Finished. */
async function measure(name, peer, serverUp, clientArgs) {
  const pairPort = peer === 'libcoap';
  const port = await freePort(pairPort);
  const server = await serverUp(port);
  const r = await relay(pairPort ? port + 1 : port);
  const client = clientArgs(r.port);
  try {
    await Promise.race([
      r.done,
      sleep(15_000).then(() => {
        throw new Error(`${name}: no complete handshake in 15 s\n${client.output()}\n${server.output()}`);
      }),
    ]);
  } finally {
    client.kill();
    server.kill();
    r.close();
  }
  const { c2s, s2c } = r.dir;
  if (!(c2s.helloVerify || s2c.helloVerify)) throw new Error(`${name}: no cookie exchange seen`);
  return {
    name,
    peer,
    bytes: c2s.bytes + s2c.bytes,
    clientToServer: c2s.bytes,
    serverToClient: s2c.bytes,
    datagrams: c2s.datagrams + s2c.datagrams,
    records: c2s.records + s2c.records,
    retransmittedRecordsLeftOut: c2s.retransmitted + s2c.retransmitted,
  };
}

const ossl = (args, ready = /ACCEPT/) => async (port) => {
  const s = launch('openssl', ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`, ...args]);
  await waitFor(s, ready, 10_000);
  return s;
};
const osslCli = (args) => (port) =>
  launch('openssl', ['s_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, ...args]);
const gserv = (args) => async (port) => {
  const s = launch('gnutls-serv', ['--udp', '--echo', '-p', String(port), ...args]);
  await waitFor(s, /UDP server ready|Echo Server listening|listening/i, 10_000);
  await sleep(300); // it prints before its socket loop runs
  return s;
};
const gcli = (args) => (port) => launch('gnutls-cli', ['--udp', '-p', String(port), '127.0.0.1', ...args]);

function version(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.match(re)?.[0]?.trim() ?? 'unknown';
}

try {
  pki('ca', '--out', p('root'), '--cn', 'Bytes Root');
  pki('issue', '--ca', p('root'), '--cn', 'localhost', '--ip', '127.0.0.1', '--server', '--out', p('srv'));
  pki('issue', '--ca', p('root'), '--cn', 'sensor-1', '--client', '--out', p('cli'));
  for (const n of ['rsrv', 'rcli']) {
    pki('keygen', '--out', p(`${n}.key`));
    pki('rpk', '--key', p(`${n}.key`), '--out', p(`${n}.pub`));
  }
  writeFileSync(p('psk.txt'), `${PSK.identity}:${PSK.keyHex}\n`);
  const ca = join(p('root'), 'ca.pem');
  const srvCert = ['-cert', p('srv.pem'), '-key', p('srv.key')];
  const cliCert = ['-cert', p('cli.pem'), '-key', p('cli.key')];
  const osslPsk = ['-psk', PSK.keyHex, '-psk_identity', PSK.identity, '-cipher', 'PSK-AES128-CCM8'];
  const ecdsa = ['-cipher', 'ECDHE-ECDSA-AES128-CCM8', '-groups', 'P-256'];
  const gPsk = ['--priority', GNUTLS.psk];
  const results = [];
  results.push(await measure('psk', 'openssl', ossl(['-nocert', ...osslPsk]), osslCli(osslPsk)));
  results.push(
    await measure('x509-server-auth', 'openssl', ossl([...ecdsa, ...srvCert]), osslCli([...ecdsa, '-verifyCAfile', ca])),
  );
  results.push(
    await measure(
      'x509-mutual',
      'openssl',
      ossl([...ecdsa, ...srvCert, '-verifyCAfile', ca, '-Verify', '1', '-verify_return_error']),
      osslCli([...ecdsa, '-verifyCAfile', ca, ...cliCert]),
    ),
  );
  results.push(
    await measure(
      'psk',
      'gnutls',
      gserv([...gPsk, '--pskpasswd', p('psk.txt')]),
      gcli([...gPsk, '--pskusername', PSK.identity, '--pskkey', PSK.keyHex]),
    ),
  );
  const rpk = (n) => ['--priority', GNUTLS.rpk, '--rawpkkeyfile', p(`${n}.key`), '--rawpkfile', p(`${n}.pub`)];
  results.push(
    await measure('rpk-mutual', 'gnutls', gserv([...rpk('rsrv'), '--require-client-cert']), gcli([...rpk('rcli'), '--insecure'])),
  );
  results.push(
    await measure(
      'x509-server-auth',
      'gnutls',
      gserv(['--priority', GNUTLS.x509, '--x509certfile', p('srv.pem'), '--x509keyfile', p('srv.key')]),
      gcli(['--priority', GNUTLS.x509, '--x509cafile', ca]),
    ),
  );
  const coapKey = 'secretPSK';
  results.push(
    await measure(
      'psk',
      'libcoap',
      async (port) => {
        const s = launch('coap-server-gnutls', ['-A', '127.0.0.1', '-p', String(port), '-k', coapKey, '-v', '6']);
        await sleep(800);
        return s;
      },
      (port) => launch('coap-client-gnutls', ['-u', PSK.identity, '-k', coapKey, `coaps://127.0.0.1:${port}/`]),
    ),
  );
  const data = {
    description:
      'Bytes per full DTLS 1.2 handshake of third-party peer pairs (both sides the same implementation), measured here by eval/peer-bytes/measure.mjs: DTLS record bytes (header + fragment) of content types 22/20/21 both ways, cookie exchange included, until both Finished; AES-128-CCM-8, P-256, keys and certificates from securesense pki (a leaf issued by a root; each tool sends the certificates it chooses with these options).',
    measured: new Date().toISOString().slice(0, 10),
    versions: {
      openssl: version('openssl', ['version'], /OpenSSL [^ ]+/),
      gnutls: version('gnutls-cli', ['--version'], /gnutls-cli [^ \n]+/),
      libcoap: version('coap-client-gnutls', ['-h'], /coap-client-gnutls v[^ ]+/),
    },
    handshakes: results,
  };
  writeFileSync(outFile, `${JSON.stringify(data, null, 2)}\n`);
  for (const r of results) console.log(`${r.peer.padEnd(8)} ${r.name.padEnd(17)} ${r.bytes} B in ${r.datagrams} datagrams`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
