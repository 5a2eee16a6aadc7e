/**
 * RFC 8613 Appendix C, byte for byte, in both roles: key derivation with and without Master Salt
 * and with an ID Context (C.1–C.3, client and server), the protected requests (C.4–C.6) and the
 * protected responses with and without a Partial IV (C.7, C.8). Each protected message is produced
 * by our protect path and then read back by the other role's unprotect path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/coap/message.ts';
import { aadArray, aadOf } from '../../src/oscore/aead.ts';
import { encodePlaintext } from '../../src/oscore/classes.ts';
import { deriveKeys, infoOf, nonceOf, type OscoreContextParams } from '../../src/oscore/derive.ts';
import { encodeOscoreOption } from '../../src/oscore/option.ts';
import {
  oscoreOptionOf,
  protectRequest,
  protectResponse,
  unprotectRequest,
  unprotectResponse,
} from '../../src/oscore/protect.ts';

const h = (s: string) => Buffer.from(s, 'hex');
const SECRET = h('0102030405060708090a0b0c0d0e0f10');
const SALT = h('9e7ca92223786340');
const ID_CONTEXT = h('37cbf3210017a2d3');

interface KeyVector {
  name: string;
  params: OscoreContextParams;
  infoSender: string;
  infoRecipient: string;
  infoIv: string;
  senderKey: string;
  recipientKey: string;
  commonIv: string;
  senderNonce: string;
  recipientNonce: string;
}

const C1 = { masterSecret: SECRET, masterSalt: SALT };
const C2 = { masterSecret: SECRET };
const C3 = { masterSecret: SECRET, masterSalt: SALT, idContext: ID_CONTEXT };

const KEY_VECTORS: KeyVector[] = [
  {
    name: 'C.1.1 client, with Master Salt',
    params: { ...C1, senderId: h(''), recipientId: h('01') },
    infoSender: '8540f60a634b657910',
    infoRecipient: '854101f60a634b657910',
    infoIv: '8540f60a6249560d',
    senderKey: 'f0910ed7295e6ad4b54fc793154302ff',
    recipientKey: 'ffb14e093c94c9cac9471648b4f98710',
    commonIv: '4622d4dd6d944168eefb54987c',
    senderNonce: '4622d4dd6d944168eefb54987c',
    recipientNonce: '4722d4dd6d944169eefb54987c',
  },
  {
    name: 'C.1.2 server, with Master Salt',
    params: { ...C1, senderId: h('01'), recipientId: h('') },
    infoSender: '854101f60a634b657910',
    infoRecipient: '8540f60a634b657910',
    infoIv: '8540f60a6249560d',
    senderKey: 'ffb14e093c94c9cac9471648b4f98710',
    recipientKey: 'f0910ed7295e6ad4b54fc793154302ff',
    commonIv: '4622d4dd6d944168eefb54987c',
    senderNonce: '4722d4dd6d944169eefb54987c',
    recipientNonce: '4622d4dd6d944168eefb54987c',
  },
  {
    name: 'C.2.1 client, without Master Salt',
    params: { ...C2, senderId: h('00'), recipientId: h('01') },
    infoSender: '854100f60a634b657910',
    infoRecipient: '854101f60a634b657910',
    infoIv: '8540f60a6249560d',
    senderKey: '321b26943253c7ffb6003b0b64d74041',
    recipientKey: 'e57b5635815177cd679ab4bcec9d7dda',
    commonIv: 'be35ae297d2dace910c52e99f9',
    senderNonce: 'bf35ae297d2dace910c52e99f9',
    recipientNonce: 'bf35ae297d2dace810c52e99f9',
  },
  {
    name: 'C.2.2 server, without Master Salt',
    params: { ...C2, senderId: h('01'), recipientId: h('00') },
    infoSender: '854101f60a634b657910',
    infoRecipient: '854100f60a634b657910',
    infoIv: '8540f60a6249560d',
    senderKey: 'e57b5635815177cd679ab4bcec9d7dda',
    recipientKey: '321b26943253c7ffb6003b0b64d74041',
    commonIv: 'be35ae297d2dace910c52e99f9',
    senderNonce: 'bf35ae297d2dace810c52e99f9',
    recipientNonce: 'bf35ae297d2dace910c52e99f9',
  },
  {
    name: 'C.3.1 client, with ID Context',
    params: { ...C3, senderId: h(''), recipientId: h('01') },
    infoSender: '85404837cbf3210017a2d30a634b657910',
    infoRecipient: '8541014837cbf3210017a2d30a634b657910',
    infoIv: '85404837cbf3210017a2d30a6249560d',
    senderKey: 'af2a1300a5e95788b356336eeecd2b92',
    recipientKey: 'e39a0c7c77b43f03b4b39ab9a268699f',
    commonIv: '2ca58fb85ff1b81c0b7181b85e',
    senderNonce: '2ca58fb85ff1b81c0b7181b85e',
    recipientNonce: '2da58fb85ff1b81d0b7181b85e',
  },
  {
    name: 'C.3.2 server, with ID Context',
    params: { ...C3, senderId: h('01'), recipientId: h('') },
    infoSender: '8541014837cbf3210017a2d30a634b657910',
    infoRecipient: '85404837cbf3210017a2d30a634b657910',
    infoIv: '85404837cbf3210017a2d30a6249560d',
    senderKey: 'e39a0c7c77b43f03b4b39ab9a268699f',
    recipientKey: 'af2a1300a5e95788b356336eeecd2b92',
    commonIv: '2ca58fb85ff1b81c0b7181b85e',
    senderNonce: '2da58fb85ff1b81d0b7181b85e',
    recipientNonce: '2ca58fb85ff1b81c0b7181b85e',
  },
];

for (const v of KEY_VECTORS) {
  test(`RFC 8613 ${v.name}: info, keys, Common IV and nonces`, () => {
    const p = v.params;
    assert.equal(infoOf(p.senderId, p.idContext, 'Key', 16).toString('hex'), v.infoSender);
    assert.equal(infoOf(p.recipientId, p.idContext, 'Key', 16).toString('hex'), v.infoRecipient);
    assert.equal(infoOf(h(''), p.idContext, 'IV', 13).toString('hex'), v.infoIv);
    const k = deriveKeys(p);
    assert.equal(k.senderKey.toString('hex'), v.senderKey);
    assert.equal(k.recipientKey.toString('hex'), v.recipientKey);
    assert.equal(k.commonIv.toString('hex'), v.commonIv);
    assert.equal(nonceOf(k.commonIv, p.senderId, h('00')).toString('hex'), v.senderNonce);
    assert.equal(nonceOf(k.commonIv, p.recipientId, h('00')).toString('hex'), v.recipientNonce);
  });
}

interface RequestVector {
  name: string;
  client: OscoreContextParams;
  server: OscoreContextParams;
  unprotected: string;
  aadArray: string;
  aad: string;
  plaintext: string;
  nonce: string;
  option: string;
  protected: string;
}

const REQUEST_VECTORS: RequestVector[] = [
  {
    name: 'C.4 request, context of C.1',
    client: KEY_VECTORS[0].params,
    server: KEY_VECTORS[1].params,
    unprotected: '44015d1f00003974396c6f63616c686f737483747631',
    aadArray: '8501810a40411440',
    aad: '8368456e63727970743040488501810a40411440',
    plaintext: '01b3747631',
    nonce: '4622d4dd6d944168eefb549868',
    option: '0914',
    protected: '44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e',
  },
  {
    name: 'C.5 request, context of C.2',
    client: KEY_VECTORS[2].params,
    server: KEY_VECTORS[3].params,
    unprotected: '440171c30000b932396c6f63616c686f737483747631',
    aadArray: '8501810a4100411440',
    aad: '8368456e63727970743040498501810a4100411440',
    plaintext: '01b3747631',
    nonce: 'bf35ae297d2dace910c52e99ed',
    option: '091400',
    protected: '440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0',
  },
  {
    name: 'C.6 request with kid context, context of C.3',
    client: KEY_VECTORS[4].params,
    server: KEY_VECTORS[5].params,
    unprotected: '44012f8eef9bbf7a396c6f63616c686f737483747631',
    aadArray: '8501810a40411440',
    aad: '8368456e63727970743040488501810a40411440',
    plaintext: '01b3747631',
    nonce: '2ca58fb85ff1b81c0b7181b84a',
    option: '19140837cbf3210017a2d3',
    protected: '44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3',
  },
];

function decoded(hex: string) {
  const d = decodeMessage(h(hex));
  assert.ok(d.ok);
  return d.message;
}

for (const v of REQUEST_VECTORS) {
  test(`RFC 8613 ${v.name}: the client protects it byte for byte, the server unprotects it`, () => {
    const m = decoded(v.unprotected);
    const ck = deriveKeys(v.client);
    const piv = h('14'); // Sender Sequence Number 20
    assert.equal(aadArray(v.client.senderId, piv).toString('hex'), v.aadArray);
    assert.equal(aadOf(v.client.senderId, piv).toString('hex'), v.aad);
    assert.equal(nonceOf(ck.commonIv, v.client.senderId, piv).toString('hex'), v.nonce);
    assert.equal(
      encodePlaintext(
        m.code,
        m.options.filter((o) => o.number !== 3),
        m.payload,
      ).toString('hex'),
      v.plaintext,
    );
    assert.equal(
      encodeOscoreOption({ partialIv: piv, kid: v.client.senderId, kidContext: v.client.idContext }).toString('hex'),
      v.option,
    );
    const sender = { senderId: v.client.senderId, idContext: v.client.idContext, ...ck };
    const { outer } = protectRequest(sender, piv, m);
    const wire = encodeMessage({ ...m, ...outer });
    assert.equal(wire.toString('hex'), v.protected);

    // The server's role: decode the wire bytes, find the option, decrypt.
    const sk = deriveKeys(v.server);
    const got = decoded(v.protected);
    const opt = oscoreOptionOf(got.options);
    assert.ok(opt);
    assert.deepEqual(opt.kid, v.client.senderId);
    assert.deepEqual(opt.kidContext, v.client.idContext);
    const { inner, binding } = unprotectRequest(
      { recipientId: v.server.recipientId, recipientKey: sk.recipientKey, commonIv: sk.commonIv },
      opt,
      got,
    );
    assert.equal(inner.code, 1);
    assert.equal(encodeMessage({ ...got, ...inner }).toString('hex'), v.unprotected);
    assert.deepEqual(binding, { kid: v.client.senderId, piv });
  });
}

const RESPONSES = [
  {
    name: 'C.7 response reusing the request nonce',
    ownPiv: undefined,
    nonce: '4622d4dd6d944168eefb549868',
    protected: '64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106',
  },
  {
    name: 'C.8 response with its own Partial IV',
    ownPiv: h('00'),
    nonce: '4722d4dd6d944169eefb54987c',
    protected: '64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e',
  },
];

for (const v of RESPONSES) {
  test(`RFC 8613 ${v.name}: the server protects it byte for byte, the client unprotects it`, () => {
    const server = KEY_VECTORS[1].params;
    const client = KEY_VECTORS[0].params;
    const sk = deriveKeys(server);
    const binding = { kid: h(''), piv: h('14') };
    const m = decoded('64455d1f00003974ff48656c6c6f20576f726c6421');
    assert.equal(encodePlaintext(m.code, m.options, m.payload).toString('hex'), '45ff48656c6c6f20576f726c6421');
    const expectedNonce = v.ownPiv
      ? nonceOf(sk.commonIv, server.senderId, v.ownPiv)
      : nonceOf(sk.commonIv, binding.kid, binding.piv);
    assert.equal(expectedNonce.toString('hex'), v.nonce);
    const outer = protectResponse({ senderId: server.senderId, ...sk }, binding, m, v.ownPiv);
    assert.equal(encodeMessage({ ...m, ...outer }).toString('hex'), v.protected);

    const ck = deriveKeys(client);
    const got = decoded(v.protected);
    const { inner, piv } = unprotectResponse(
      { recipientId: client.recipientId, recipientKey: ck.recipientKey, commonIv: ck.commonIv },
      binding,
      got,
    );
    assert.deepEqual(piv, v.ownPiv);
    assert.equal(encodeMessage({ ...got, ...inner }).toString('hex'), '64455d1f00003974ff48656c6c6f20576f726c6421');
  });
}
