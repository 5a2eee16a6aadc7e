/**
 * X.509 devices over EDHOC on the platform, on both store engines: a certificate chain sent by
 * value (x5chain) is validated against the platform's DTLS trust anchors and bound by name under
 * the CA, exactly as a DTLS handshake's identity is; a pinned certificate is referenced by its
 * hash (x5t). The device then pushes over OSCORE to its own resource (4.03 elsewhere). A chain
 * that validates but is bound to nothing, an x5t of no pinned certificate and a chain under an
 * untrusted CA all end in EDHOC error 3, separately and in the EDHOC + OSCORE request; and the
 * `coap post --edhoc --cert` command does the same from the command line.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CoapClient } from '../../src/coap/client.ts';
import { certificatesFromPem, ownCertificate, ownRawPublicKey } from '../../src/dtls/credentials/index.ts';
import { edhocPeerErrorOf } from '../../src/edhoc/coap.ts';
import {
  type EdhocCredential,
  knownCredentials,
  rpkCredential,
  x5chainCredential,
  x509Credential,
} from '../../src/edhoc/credentials.ts';
import { EdhocPeerError, ErrCode } from '../../src/edhoc/errors.ts';
import { edhocClientContext } from '../../src/edhoc/oscore-binding.ts';
import { startCoapPlatform } from '../platform/coap/helpers.ts';
import { bothEngines } from '../platform/engines.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';
import { jsonLines, runCli } from '../support/cli.ts';
import { type IssuedFiles, makeTempPki } from '../support/pki.ts';

bothEngines(
  'X.509 devices over EDHOC: x5chain under a bound CA, x5t of a pinned certificate, refusals',
  async (t, tg) => {
    const pki = await makeTempPki(t);
    const p = await startCoapPlatform(t, tg, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
    const { uid, token } = await newUser(p.base, `edhoc-x509-${tg.engine}`);
    const { rid } = await newResource(p.base, uid, token, 'certified room');
    const { rid: pinnedRid } = await newResource(p.base, uid, token, 'pinned room');
    const bind = async (r: number, body: Record<string, string>) => {
      const res = await call(p.base, 'POST', `/users/${uid}/resources/${r}/devices`, {
        token,
        body: { mode: 'x509', ...body },
      });
      assert.equal(res.status, 201, res.text);
    };
    const data = (r: number) => `${p.coapBase}/users/${uid}/resources/${r}/data`;
    const edhoc = (files: IssuedFiles, ref: 'x5chain' | 'x5t') => {
      const own = ownCertificate(files.keyPem, files.chainPem);
      const credential: EdhocCredential =
        ref === 'x5chain' ? x5chainCredential(own.chain) : x509Credential(own.chain[0], 'x5t');
      return {
        method: 0,
        suites: [2],
        credential,
        authKey: { kind: 'signature', key: own.key } as const,
        peers: knownCredentials([rpkCredential(pki.rpkServer.spkiPem)]),
      };
    };
    const refusedWith3 = (e: unknown) => {
      const peer = e instanceof EdhocPeerError ? e : edhocPeerErrorOf(e);
      assert.equal(peer?.errCode, ErrCode.unknownCredential, String(e));
      return true;
    };

    // The root is a trust anchor (bound CA) but no binding names device-1: validated, then refused.
    await bind(rid, { x509_name: 'CN=somebody-else', x509_ca: pki.root.certPem });
    await assert.rejects(edhocClientContext({ uri: data(rid), edhoc: edhoc(pki.device, 'x5chain') }), refusedWith3);

    // Bound by name under the root, as for DTLS: the device sends its chain (leaf + intermediate).
    await bind(rid, { x509_name: 'CN=device-1', x509_ca: pki.root.certPem });
    const client = new CoapClient();
    t.after(() => client.close());
    const body = { contentFormat: 50 } as const;
    for (const combined of [false, true]) {
      const oscore = await edhocClientContext({ uri: data(rid), edhoc: edhoc(pki.device, 'x5chain'), combined });
      const pushed = await client.post(data(rid), '{"temperature":20.5}', { ...body, oscore });
      assert.equal(pushed.ok, true, `${pushed.status} ${pushed.payload.toString()}`);
      const elsewhere = await client.post(data(pinnedRid), '{"temperature":1}', { ...body, oscore });
      assert.equal(elsewhere.status, '4.03', elsewhere.payload.toString());
    }

    // A pinned certificate (issued by a CA the platform does not trust) referenced by its hash.
    await bind(pinnedRid, { x509_certificate: pki.untrusted.certPem });
    const pinned = await edhocClientContext({ uri: data(pinnedRid), edhoc: edhoc(pki.untrusted, 'x5t') });
    const viaX5t = await client.post(data(pinnedRid), '{"humidity":40}', { ...body, oscore: pinned });
    assert.equal(viaX5t.ok, true, `${viaX5t.status} ${viaX5t.payload.toString()}`);

    // An x5t no pinned certificate has, and a chain under an untrusted CA: error 3, also combined.
    const stranger = await pki.issue('edhoc-stranger', { usage: 'client' });
    await assert.rejects(edhocClientContext({ uri: data(rid), edhoc: edhoc(stranger, 'x5t') }), refusedWith3);
    const untrustedChain = { ...pki.untrusted, chainPem: pki.untrusted.certPem };
    const combined = await edhocClientContext({
      uri: data(rid),
      edhoc: edhoc(untrustedChain, 'x5chain'),
      combined: true,
    });
    // Pinned as a leaf, but by x5chain it validates (the pinned leaf is an anchor): it is bound to pinnedRid only.
    const other = await client.post(data(rid), '{"t":1}', { ...body, oscore: combined });
    assert.equal(other.status, '4.03', other.payload.toString());
    const unboundCombined = await edhocClientContext({ uri: data(rid), edhoc: edhoc(stranger, 'x5t'), combined: true });
    await assert.rejects(client.post(data(rid), '{"t":1}', { ...body, oscore: unboundCombined }), refusedWith3);

    for (const s of ['temperature', 'humidity']) {
      const r = s === 'temperature' ? rid : pinnedRid;
      const streams = await call(p.base, 'GET', `/users/${uid}/resources/${r}/streams`, { token });
      assert.deepEqual(
        (streams.json as Array<{ label: string }>).map((x) => x.label),
        [s],
      );
    }

    // The command line: coap post --edhoc with the certificate, by value and by hash.
    const cli = ['--edhoc', '--trust-rpk', pki.rpkServer.spki, '-t', 'json'];
    const byChain = await runCli([
      'coap',
      'post',
      data(rid),
      '-e',
      '{"temperature":21}',
      ...cli,
      '--cert',
      pki.device.chain,
      '--key',
      pki.device.key,
    ]);
    assert.equal(byChain.code, 0, byChain.stderr);
    const byHash = await runCli([
      'coap',
      'post',
      data(pinnedRid),
      '-e',
      '{"humidity":41}',
      ...cli,
      '--cert',
      pki.untrusted.cert,
      '--key',
      pki.untrusted.key,
      '--edhoc-x5t',
      '--edhoc-combined',
    ]);
    assert.equal(byHash.code, 0, byHash.stderr);
    const refused = await runCli([
      'coap',
      'post',
      data(rid),
      '-e',
      '{}',
      ...cli,
      '--cert',
      stranger.cert,
      '--key',
      stranger.key,
      '--edhoc-x5t',
    ]);
    assert.equal(refused.code, 1);
    assert.match(String(jsonLines(refused.stdout).find((l) => l.event === 'error')?.message), /EDHOC error 3/);
    assert.equal(
      certificatesFromPem(readFileSync(pki.device.chain)).length,
      2,
      'the device chain holds its intermediate',
    );

    // The device agent with its certificate: device run --oscore --edhoc --cert --key.
    const agent = await runCli([
      'device',
      'run',
      '--push',
      data(rid),
      '--oscore',
      '--edhoc',
      '--cert',
      pki.device.chain,
      '--key',
      pki.device.key,
      '--trust-rpk',
      pki.rpkServer.spki,
      '--sensors',
      'power',
      '--interval',
      '0.2',
      '--duration',
      '1.2',
    ]);
    assert.equal(agent.code, 0, agent.stderr);
    const events = jsonLines(agent.stdout).map((l) => l.event);
    assert.equal(events[0], 'edhoc');
    assert.ok(events.includes('sent'), agent.stdout);
  },
);
