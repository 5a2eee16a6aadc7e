/**
 * EDHOC between our own Initiator and Responder with fresh keys: every method on both suites,
 * cipher-suite negotiation through ERR_CODE 2, and refusals of tampered or unknown input.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import type { OwnAuthKey } from '../../src/edhoc/auth.ts';
import { authKeyOf, ccsCredential, type EdhocCredential, knownCredentials } from '../../src/edhoc/credentials.ts';
import { generateDhKeyPair } from '../../src/edhoc/crypto.ts';
import { EdhocError, EdhocPeerError, ErrCode } from '../../src/edhoc/errors.ts';
import { EdhocInitiator, type InitiatorOptions } from '../../src/edhoc/initiator.ts';
import { decodeError } from '../../src/edhoc/messages.ts';
import { EdhocResponder, errorMessageFor, type ResponderOptions } from '../../src/edhoc/responder.ts';
import { type EdhocCurve, suiteById } from '../../src/edhoc/suites.ts';

function party(kid: number, suite: number, signs: boolean): { cred: EdhocCredential; key: OwnAuthKey } {
  const s = suiteById(suite)!;
  if (signs) {
    const kp =
      s.signature === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return {
      cred: ccsCredential({ kid: Buffer.from([kid]), subject: `party-${kid}`, publicKey: authKeyOf(kp.publicKey) }),
      key: { kind: 'signature', key: kp.privateKey },
    };
  }
  const pair = generateDhKeyPair(s.curve as EdhocCurve);
  const publicKey =
    s.curve === 'X25519'
      ? { kind: 'X25519' as const, u: pair.publicKey }
      : { kind: 'P-256' as const, x: pair.publicKey };
  return { cred: ccsCredential({ kid: Buffer.from([kid]), publicKey }), key: { kind: 'static-dh', pair } };
}

function pair(method: number, suite: number, opts: { responderSuites?: number[]; initiatorSuites?: number[] } = {}) {
  const i = party(0x0a, suite, method === 0 || method === 1);
  const r = party(0x0b, suite, method === 0 || method === 2);
  const iOpts: InitiatorOptions = {
    method,
    suites: opts.initiatorSuites ?? [suite],
    connectionId: Buffer.from([0x01]),
    credential: i.cred,
    authKey: i.key,
    peers: knownCredentials([r.cred]),
    ead1: [{ label: 77, value: Buffer.from('hello') }],
  };
  const rOpts: ResponderOptions = {
    suites: opts.responderSuites ?? [suite],
    connectionId: Buffer.from('c0ffee', 'hex'),
    credential: r.cred,
    authKey: r.key,
    peers: knownCredentials([i.cred]),
    sendMessage4: true,
  };
  return { initiator: new EdhocInitiator(iOpts), responder: new EdhocResponder(rOpts), iOpts, rOpts };
}

for (const suite of [0, 2]) {
  for (const method of [0, 1, 2, 3]) {
    test(`method ${method}, suite ${suite}: both sides derive the same OSCORE context`, () => {
      const { initiator, responder } = pair(method, suite);
      const m3 = initiator.handleMessage2(responder.handleMessage1(initiator.message1()));
      const si = initiator.handleMessage4(responder.handleMessage3(m3)!);
      const a = si.oscore();
      const b = responder.session.oscore();
      assert.deepEqual(a.masterSecret, b.masterSecret);
      assert.deepEqual(a.masterSalt, b.masterSalt);
      assert.deepEqual(a.senderId, b.recipientId);
      assert.equal(a.senderId.toString('hex'), 'c0ffee');
      assert.equal(a.recipientId.toString('hex'), '01');
      // EAD_1 reaches the Responder unchanged.
      assert.deepEqual(responder.session.peerEad, [{ label: 77, value: Buffer.from('hello') }]);
    });
  }
}

test('a wrong selected suite is answered with ERR_CODE 2 and SUITES_R; the Initiator can retry', () => {
  const { responder, iOpts } = pair(3, 2, { responderSuites: [2] });
  const i0 = new EdhocInitiator({ ...iOpts, suites: [0] });
  let err: unknown;
  try {
    responder.handleMessage1(i0.message1());
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof EdhocError);
  const wire = decodeError(errorMessageFor(err));
  assert.equal(wire.errCode, ErrCode.wrongSelectedCipherSuite);
  assert.deepEqual(wire.suitesR, [2]);
  assert.equal(responder.state, 'failed');
  // The Initiator sees the peer's error as EdhocPeerError with the suites to retry with.
  assert.throws(
    () => i0.handleMessage2(errorMessageFor(err)),
    (e: unknown) => e instanceof EdhocPeerError && e.suitesR?.[0] === 2,
  );
});

test('a tampered message_2 or message_3 is refused, never accepted', () => {
  const { initiator, responder } = pair(0, 2);
  const m2 = Buffer.from(responder.handleMessage1(initiator.message1()));
  m2[m2.length - 3] ^= 0x01;
  assert.throws(() => initiator.handleMessage2(m2), EdhocError);
  assert.equal(initiator.state, 'failed');

  const p = pair(3, 0);
  const m3 = Buffer.from(p.initiator.handleMessage2(p.responder.handleMessage1(p.initiator.message1())));
  m3[m3.length - 1] ^= 0x80;
  assert.throws(() => p.responder.handleMessage3(m3), /message_3 does not decrypt/);
});

test('an unknown credential is refused with ERR_CODE 3', () => {
  const { initiator, responder } = pair(3, 2);
  const stranger = new EdhocResponder({
    ...(responder as unknown as { opts: object }).opts,
    peers: () => undefined,
  } as never);
  const m3 = initiator.handleMessage2(stranger.handleMessage1(initiator.message1()));
  let err: unknown;
  try {
    stranger.handleMessage3(m3);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof EdhocError && err.errCode === ErrCode.unknownCredential);
  assert.equal(decodeError(errorMessageFor(err)).errCode, 3);
});

test('messages out of order are refused by state', () => {
  const { initiator, responder } = pair(0, 0);
  assert.throws(() => responder.handleMessage3(Buffer.from([0x40])), /state start/);
  initiator.message1();
  assert.throws(() => initiator.message1(), /state wait-message-2/);
});

test('a method the Responder’s key cannot serve is refused with ERR_CODE 1', () => {
  const sig = pair(0, 2);
  const dhOnly = pair(3, 2);
  assert.throws(() => dhOnly.responder.handleMessage1(sig.initiator.message1()), /method 0 is not supported/);
});

test('EAD: a critical item the application does not handle aborts; declared ones and padding pass', () => {
  const critical = [{ label: -77, value: Buffer.from('must-understand') }];
  const a = pair(3, 2);
  const i = new EdhocInitiator({ ...a.iOpts, ead1: critical });
  assert.throws(() => new EdhocResponder(a.rOpts).handleMessage1(i.message1()), /critical EAD item 77/);
  const ok = new EdhocResponder({ ...a.rOpts, eadLabels: [77] });
  const i2 = new EdhocInitiator({ ...a.iOpts, ead1: [...critical, { label: 0, value: Buffer.alloc(4) }] });
  const m3 = i2.handleMessage2(ok.handleMessage1(i2.message1()));
  ok.handleMessage3(m3);
  assert.deepEqual(ok.session.peerEad, critical);
});

test('a C_I equal to the Responder’s C_R is refused: they become the two OSCORE IDs', () => {
  const a = pair(3, 2);
  const r = new EdhocResponder({ ...a.rOpts, connectionId: Buffer.from([0x01]) });
  assert.throws(() => r.handleMessage1(new EdhocInitiator(a.iOpts).message1()), /C_I equals our C_R/);
});
