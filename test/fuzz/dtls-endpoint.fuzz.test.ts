/**
 * Mutation fuzzing of the DTLS endpoint end to end (src/dtls/endpoint.ts and what it drives): a
 * real DtlsServer on loopback, real PSK and X.509 handshakes recorded datagram by datagram through
 * a relay, then raw UDP sockets on many source ports sending mutated copies of those flights:
 *
 *  - blind: any recorded datagram, damaged, spliced, duplicated, from one of many ports;
 *  - deep: a mutated ClientHello taken through the cookie exchange (RFC 6347 §4.2.1) so that the
 *    mutated ClientKeyExchange / Certificate / CertificateVerify / Finished of the recorded flight
 *    reach the handshake state machine;
 *  - established: mutated and replayed epoch-1 records injected from the address of an
 *    ESTABLISHED session, which must be dropped silently (§4.1.2.7) — no alert, no data delivered
 *    twice or damaged, the session goes on.
 *
 * Throughout, nothing may throw out of the process (uncaughtException / unhandledRejection), the
 * server's handshake and session counts stay bounded, and afterwards a legitimate client completes
 * a handshake and an echo and the established session still works.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { test } from 'node:test';
import {
  AlertDescription,
  connect,
  type DtlsConnection,
  DtlsServer,
  loadTrustAnchors,
  ownCertificate,
} from '../../src/dtls/index.ts';
import { type ClientHello, encodeClientHello, parseClientHello } from '../../src/dtls/wire/client-hello.ts';
import { encodeHandshakeMessage, HandshakeType, parseHandshakeFragments } from '../../src/dtls/wire/handshake.ts';
import { parseHelloVerifyRequest } from '../../src/dtls/wire/hello-verify-request.ts';
import { ContentType, DTLS1_2, encodeRecord, parseRecords } from '../../src/dtls/wire/record.ts';
import { IDENTITY, KEY, nextData } from '../dtls/helpers.ts';
import { makeTempPki } from '../support/pki.ts';
import { sleep } from '../support/ports.ts';
import { fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

/** A raw UDP socket with a queue of what it received. */
class RawSocket {
  readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private constructor(readonly socket: Socket) {
    socket.on('message', (m) => {
      this.queue.push(m);
      this.waiter?.();
    });
  }
  static async open(): Promise<RawSocket> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new RawSocket(s);
  }
  send(d: Buffer, port: number): void {
    this.socket.send(d, port, '127.0.0.1');
  }
  /** The next datagram within `ms`, or undefined. */
  async next(ms: number): Promise<Buffer | undefined> {
    if (this.queue.length > 0) return this.queue.shift();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve();
      }, ms);
      this.waiter = () => {
        clearTimeout(t);
        this.waiter = undefined;
        resolve();
      };
    });
    return this.queue.shift();
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/**
 * A relay that records every datagram between one client and the server, and can inject datagrams
 * to the server from the address the server knows the client by.
 */
async function recordingRelay(targetPort: number) {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  let client: RemoteInfo | undefined;
  let holder: ((d: Buffer) => void) | undefined;
  front.on('message', (m, r) => {
    client = r;
    toServer.push(m);
    if (holder) {
      holder(m);
      holder = undefined;
    } else back.send(m, targetPort, '127.0.0.1');
  });
  back.on('message', (m) => {
    toClient.push(m);
    if (client) front.send(m, client.port, client.address);
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', () => r()));
  return {
    port: front.address().port,
    toServer,
    toClient,
    /** The client's next datagram, kept from the server. */
    hold: () =>
      new Promise<Buffer>((resolve) => {
        holder = resolve;
      }),
    /** Sends to the server as the client (from the relay's back socket). */
    inject: (d: Buffer) => back.send(d, targetPort, '127.0.0.1'),
    close: async () => {
      await new Promise<void>((r) => front.close(() => r()));
      await new Promise<void>((r) => back.close(() => r()));
    },
  };
}

/** The records of a datagram as [type, epoch] pairs, for the assertions. */
const recordKinds = (d: Buffer) => parseRecords(d).map((r) => [r.type, r.epoch] as const);

/** The ClientHello in a recorded datagram (first record, whole message), if it is one. */
function clientHelloOf(d: Buffer): ClientHello | undefined {
  try {
    const [rec] = parseRecords(d);
    if (!rec || rec.type !== ContentType.handshake || rec.epoch !== 0) return undefined;
    const [f] = parseHandshakeFragments(rec.fragment);
    if (f?.msgType !== HandshakeType.client_hello || f.fragment.length !== f.length) return undefined;
    return parseClientHello(f.fragment);
  } catch {
    return undefined;
  }
}

function clientHelloDatagram(body: Buffer, messageSeq: number, seq: number): Buffer {
  return encodeRecord({
    type: ContentType.handshake,
    version: DTLS1_2,
    epoch: 0,
    seq,
    fragment: encodeHandshakeMessage(HandshakeType.client_hello, messageSeq, body),
  });
}

test('a DtlsServer fed mutated copies of real PSK and X.509 flights from many ports: nothing throws, counts stay bounded, sessions go on', async (t) => {
  const uncaught: unknown[] = [];
  const onError = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });

  const pki = await makeTempPki(t);
  const MAX_HANDSHAKES = 400;
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    clientAuth: 'want',
    // Half-open handshakes of the attack give up after ~0.7 s instead of a minute.
    retransmitInitialMs: 100,
    maxRetransmits: 2,
    maxHandshakes: MAX_HANDSHAKES,
  });
  t.after(() => server.close());
  const port = server.address().port;
  const received: Buffer[] = [];
  const alerts = new Map<string, number>();
  server.on('connection', (c: DtlsConnection) => {
    c.on('data', (d: Buffer) => {
      received.push(Buffer.from(d));
      c.send(d);
    });
  });
  server.on('handshakeError', (e: Error & { description?: number }) => {
    const name = e.description !== undefined ? (AlertDescription[e.description] ?? String(e.description)) : e.name;
    alerts.set(name, (alerts.get(name) ?? 0) + 1);
  });

  // --- record real handshakes --------------------------------------------------------------------
  const pskRelay = await recordingRelay(port);
  t.after(() => pskRelay.close());
  const psk = await connect({ host: '127.0.0.1', port: pskRelay.port, psk: { identity: IDENTITY, key: KEY } });
  t.after(() => psk.close());
  psk.send(Buffer.from('psk hello'));
  assert.equal((await nextData(psk)).toString(), 'psk hello');

  const x509Relay = await recordingRelay(port);
  t.after(() => x509Relay.close());
  const x509 = await connect({
    host: '127.0.0.1',
    port: x509Relay.port,
    serverName: 'localhost',
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  x509.send(Buffer.from('x509 hello'));
  assert.equal((await nextData(x509)).toString(), 'x509 hello');
  await x509.close();

  const flights = { psk: [...pskRelay.toServer], x509: [...x509Relay.toServer] };
  for (const f of Object.values(flights)) {
    // ClientHello, ClientHello with cookie, then the client's key exchange flight and data.
    assert.ok(f.length >= 4, `recorded ${f.length} datagrams`);
    assert.ok(clientHelloOf(f[0]) && clientHelloOf(f[1]), 'the flights start with two ClientHellos');
  }
  // The client's flight after the cookie: everything up to the first application_data record.
  const keyFlight = (f: Buffer[]) =>
    f.slice(2).filter((d) => !recordKinds(d).some(([ty]) => ty === ContentType.application_data));
  const all = [...flights.psk, ...flights.x509];
  // The X.509 client's close_notify reaches the server shortly.
  for (let i = 0; i < 40 && server.counts().sessions > 1; i++) await sleep(25);
  assert.equal(server.counts().sessions, 1);
  assert.equal(received.length, 2);

  const sockets = await Promise.all(Array.from({ length: 24 }, () => RawSocket.open()));
  t.after(async () => {
    for (const s of sockets) await s.close();
  });
  let peakHandshakes = 0;
  const watch = setInterval(() => {
    peakHandshakes = Math.max(peakHandshakes, server.counts().handshakes);
  }, 5);
  t.after(() => clearInterval(watch));

  const blindPerSeed = fuzzIterations(600);
  const deepPerSeed = Math.max(1, Math.round(blindPerSeed / 6));
  let blind = 0;
  let deep = 0;
  let deepReached = 0;
  let injected = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0xd715);

    // --- blind: mutated datagrams, duplicated records, splices, from many ports ---------------------
    for (let i = 0; i < blindPerSeed; i++) {
      let d = mutate(rng, rng.pick(all), { others: all, lengthFields: [{ offset: 11, width: 2 }] });
      if (rng.chance(0.1)) d = Buffer.concat([d, rng.chance(0.5) ? d : rng.pick(all)]); // duplicated records
      rng.pick(sockets).send(d, port);
      blind++;
      if (i % 25 === 24) await sleep(1);
    }

    // --- deep: through the cookie exchange, then the mutated key-exchange flight ----------------------
    // Planned from the seed up front, then run four at a time on distinct sockets.
    const plans = Array.from({ length: deepPerSeed }, () => {
      const mode = rng.chance(0.5) ? ('psk' as const) : ('x509' as const);
      const ch = clientHelloOf(flights[mode][0]);
      assert.ok(ch);
      let body = encodeClientHello(ch);
      if (rng.chance(0.3)) body = mutate(rng, body);
      const kf = keyFlight(flights[mode]);
      const out = kf.map((d) => (rng.chance(0.6) ? mutate(rng, d, { others: kf }) : d));
      if (rng.chance(0.2)) out.push(...out); // the flight repeated
      if (rng.chance(0.2)) out.reverse();
      return { body, out };
    });
    const cookieOf = (d: Buffer): Buffer | undefined => {
      try {
        const [rec] = parseRecords(d);
        if (rec?.type !== ContentType.handshake || rec.epoch !== 0) return undefined;
        const [f] = parseHandshakeFragments(rec.fragment);
        return f?.msgType === HandshakeType.hello_verify_request
          ? parseHelloVerifyRequest(f.fragment).cookie
          : undefined;
      } catch {
        return undefined;
      }
    };
    const runDeep = async (plan: (typeof plans)[number], sock: RawSocket) => {
      sock.queue.length = 0;
      deep++;
      sock.send(clientHelloDatagram(plan.body, 0, 0), port);
      let cookie: Buffer | undefined;
      for (let d = await sock.next(60); d && !cookie; d = await sock.next(20)) cookie = cookieOf(d);
      let parsed: ClientHello;
      try {
        parsed = parseClientHello(plan.body);
      } catch {
        return;
      }
      if (!cookie) return;
      sock.queue.length = 0;
      sock.send(clientHelloDatagram(encodeClientHello({ ...parsed, cookie }), 1, 1), port);
      // The server's flight (ServerHello … ServerHelloDone) or an alert.
      if (!(await sock.next(150))) return;
      deepReached++;
      for (const d of plan.out) sock.send(d, port);
      await sleep(5);
    };
    for (let i = 0; i < plans.length; i += 4) {
      await Promise.all(plans.slice(i, i + 4).map((plan, k) => runDeep(plan, sockets[(i + k) % sockets.length])));
    }

    // --- established: mutated and replayed epoch-1 records from the session's own address -------------
    const before: { received: number; toClient: number } = {
      received: received.length,
      toClient: pskRelay.toClient.length,
    };
    const epoch1 = flights.psk.filter((d) => recordKinds(d).some(([, e]) => e === 1));
    assert.ok(epoch1.length >= 2, 'recorded the Finished and the data record of epoch 1');
    for (let i = 0; i < 40; i++) {
      const d = rng.chance(0.25) ? rng.pick(epoch1) : mutate(rng, rng.pick(epoch1), { others: epoch1 });
      pskRelay.inject(d);
      injected++;
    }
    await sleep(50);
    // Dropped silently: nothing delivered (not even the replayed data record twice), no alert sent.
    assert.equal(received.length, before.received, 'an injected record delivered data');
    const answers = pskRelay.toClient.slice(before.toClient);
    const alertsSent = answers.filter((d) => recordKinds(d).some(([ty]) => ty === ContentType.alert));
    assert.equal(alertsSent.length, 0, 'the server answered an injected record with an alert');
    assert.equal(server.counts().sessions, 1, 'the established session was torn down');
    psk.send(Buffer.from(`still here ${seed}`));
    assert.equal((await nextData(psk)).toString(), `still here ${seed}`);
    assert.equal(received.at(-1)?.toString(), `still here ${seed}`);
  }

  // --- afterwards -------------------------------------------------------------------------------------
  assert.ok(peakHandshakes <= MAX_HANDSHAKES, `peak ${peakHandshakes} handshakes`);
  // No mutated flight completes a handshake: the only sessions are the legitimate ones.
  assert.equal(server.counts().sessions, 1, 'sessions: only the PSK client');
  const fresh = await connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY } });
  fresh.send(Buffer.from('after the storm'));
  assert.equal((await nextData(fresh)).toString(), 'after the storm');
  await fresh.close();
  const fresh509 = await connect({
    host: '127.0.0.1',
    port,
    serverName: 'localhost',
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  fresh509.send(Buffer.from('x509 after'));
  assert.equal((await nextData(fresh509)).toString(), 'x509 after');
  await fresh509.close();
  psk.send(Buffer.from('psk after'));
  assert.equal((await nextData(psk)).toString(), 'psk after');
  // Half-open handshakes of the attack time out; the table empties.
  for (let i = 0; i < 60 && server.counts().handshakes > 0; i++) await sleep(50);
  assert.equal(server.counts().handshakes, 0, 'half-open handshakes were not released');

  t.diagnostic(
    `${blind} blind datagrams, ${deep} deep attempts (${deepReached} past the cookie), ${injected} injected epoch-1 records; ` +
      `peak ${peakHandshakes} handshakes; handshake errors ${JSON.stringify(Object.fromEntries(alerts))}`,
  );
  assert.deepEqual(uncaught, []);
});

test('a DtlsClient answered with mutated copies of real server flights: an alert or a timeout, never another error', async (t) => {
  const uncaught: unknown[] = [];
  const onError = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });
  const pki = await makeTempPki(t);
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    clientAuth: 'want',
  });
  t.after(() => server.close());
  server.on('connection', (c: DtlsConnection) => c.on('data', (d: Buffer) => c.send(d)));
  const pskOpts = { psk: { identity: IDENTITY, key: KEY } };
  const x509Opts = {
    serverName: 'localhost',
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  };
  // Record what a real server sends, grouped by the client datagram it answers.
  const recorded: Record<'psk' | 'x509', Buffer[][]> = { psk: [], x509: [] };
  for (const mode of ['psk', 'x509'] as const) {
    const relay = await recordingRelay(server.address().port);
    const c = await connect({ host: '127.0.0.1', port: relay.port, ...(mode === 'psk' ? pskOpts : x509Opts) });
    await c.close();
    await relay.close();
    const isHvr = (d: Buffer) => {
      const [rec] = parseRecords(d);
      return (
        rec?.type === ContentType.handshake && rec.epoch === 0 && rec.fragment[0] === HandshakeType.hello_verify_request
      );
    };
    const hasEpoch1 = (d: Buffer) => recordKinds(d).some(([, e]) => e === 1);
    const data = relay.toClient.filter(
      (d) => !recordKinds(d).some(([ty]) => ty !== ContentType.handshake && ty !== ContentType.change_cipher_spec),
    );
    recorded[mode] = [
      relay.toClient.filter(isHvr),
      data.filter((d) => !isHvr(d) && !hasEpoch1(d)),
      relay.toClient.filter(
        (d) => hasEpoch1(d) && recordKinds(d).some(([ty]) => ty === ContentType.change_cipher_spec),
      ),
    ];
    assert.ok(
      recorded[mode].every((g) => g.length > 0),
      `${mode}: recorded HVR, server flight and Finished`,
    );
  }

  const perSeed = Math.max(4, Math.round(fuzzIterations(600) / 15));
  const outcomes = new Map<string, number>();
  const failures: string[] = [];
  let attempts = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0xc11e);
    const batch: Promise<void>[] = [];
    for (let i = 0; i < perSeed; i++) {
      const mode = rng.chance(0.5) ? 'psk' : 'x509';
      const groups = recorded[mode];
      const all = groups.flat();
      const skipHvr = rng.chance(0.25);
      const plan = (skipHvr ? groups.slice(1) : groups).map((g) => {
        const out = g.map((d) => (rng.chance(0.5) ? mutate(rng, d, { others: all }) : d));
        if (rng.chance(0.15)) out.push(...out);
        return out;
      });
      attempts++;
      batch.push(
        (async () => {
          const fake = await RawSocket.open();
          let n = 0;
          fake.socket.on('message', (_m, r) => {
            for (const d of plan[n++] ?? []) fake.socket.send(d, r.port, r.address);
          });
          try {
            const c = await connect({
              host: '127.0.0.1',
              port: fake.socket.address().port,
              retransmitInitialMs: 40,
              maxRetransmits: 1,
              ...(mode === 'psk' ? pskOpts : x509Opts),
            });
            outcomes.set('established', (outcomes.get('established') ?? 0) + 1);
            await c.close();
          } catch (err) {
            const e = err as Error & { description?: number };
            const key =
              e.name === 'DtlsAlertError' || e.name === 'DtlsDecodeError'
                ? (AlertDescription[e.description ?? -1] ?? String(e.description))
                : e.name;
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
            if (e.name !== 'DtlsAlertError' && e.name !== 'DtlsDecodeError' && e.name !== 'DtlsTimeoutError') {
              failures.push(`seed ${seed} attempt ${i} (${mode}): ${e.name}: ${e.message}`);
            }
          } finally {
            await fake.close();
          }
        })(),
      );
      if (batch.length >= 8) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
  }
  t.diagnostic(
    `${attempts} client handshakes against mutated server flights; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`,
  );
  assert.equal(outcomes.get('established') ?? 0, 0, 'a mutated flight from another handshake completed one');
  assert.deepEqual(failures, []);
  assert.deepEqual(uncaught, []);
});

test('in an established session, a malformed epoch-0 handshake record ahead of a valid record costs only itself (RFC 6347 §4.1.1, §4.1.2.7)', async (t) => {
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
  });
  t.after(() => server.close());
  const got: string[] = [];
  server.on('connection', (c: DtlsConnection) =>
    c.on('data', (d: Buffer) => {
      got.push(d.toString());
      c.send(d);
    }),
  );
  const relay = await recordingRelay(server.address().port);
  t.after(() => relay.close());
  const c = await connect({ host: '127.0.0.1', port: relay.port, psk: { identity: IDENTITY, key: KEY } });
  t.after(() => c.close());
  c.send(Buffer.from('one'));
  assert.equal((await nextData(c)).toString(), 'one');
  // The client's next data record, held back, then sent behind a record that is not a ClientHello.
  const held = relay.hold();
  c.send(Buffer.from('two'));
  const record = await held;
  for (const junk of [Buffer.from('01000005', 'hex'), Buffer.from('ff'.repeat(20), 'hex')]) {
    const bad = encodeRecord({ type: ContentType.handshake, version: DTLS1_2, epoch: 0, seq: 99, fragment: junk });
    relay.inject(Buffer.concat([bad, record]));
  }
  assert.equal((await nextData(c)).toString(), 'two');
  assert.deepEqual(got, ['one', 'two']);
});
