/**
 * The EDHOC traces of RFC 9529, byte for byte, in both roles with the traces' ephemeral keys
 * injected: chapter 2 (method 0, cipher suite 0, X.509 by x5t) and chapter 3 (method 3, cipher
 * suite 2, CCS by kid). The values were transcribed from the RFC's trace sections.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ccsCredential,
  type EdhocCredential,
  keyFromCcs,
  knownCredentials,
  x509Credential,
} from '../../src/edhoc/credentials.ts';
import { dhKeyPairFromPrivate, ed25519PrivateKey } from '../../src/edhoc/crypto.ts';
import { EdhocInitiator } from '../../src/edhoc/initiator.ts';
import { kdfInfo } from '../../src/edhoc/key-schedule.ts';
import { EdhocResponder } from '../../src/edhoc/responder.ts';
import { encode } from '../../src/util/cbor.ts';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Buffer) => b.toString('hex');

// ---- RFC 9529 §3: method 3, suite 2, CCS by kid ----
const c3 = {
  x: h('368ec1f69aeb659ba37d5a8d45b21bdc0299dceaa8ef235f3ca42ce3530f9525'),
  gX: h('8af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b6'),
  y: h('e2f4126777205e853b437d6eaca1e1f753cdcc3e2c69fa884b0a1a640977e418'),
  gY: h('419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d5'),
  message1: h('03 820602 5820 8af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b6 37'),
  th2: h('356efd53771425e008f3fe3a86c83ff4c6b16e57028ff39d5236c182b202084b'),
  gXY: h('2f0cb7e860ba538fbf5c8bded009f6259b4b628fe1eb7dbe9378e5ecf7a824ba'),
  prk2e: h('5aa0d69f3e3d1e0c479f0b8a486690c9802630c3466b1dc92371c982563170b5'),
  skR: h('72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac'),
  prk3e2m: h('0ca3d3398296b3c03900987620c11f6fce70781c1d1219720f9ec08c122d8434'),
  credR: h(
    'a2026b6578616d706c652e65647508a101a501020241322001215820bbc34960526ea4d32e940cad2a234148ddc21791a12afbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca7afda64fcde0108c224c51eabf6072',
  ),
  mac2: h('0943305c899f5c54'),
  plaintext2: h('2732480943305c899f5c54'),
  keystream2: h('bf50e9e7bad0bb68173399'),
  ciphertext2: h('9862a1eef9e0e7e1886fcd'),
  message2: h('582b 419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d5 9862a1eef9e0e7e1886fcd'),
  skI: h('fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b'),
  th3: h('adaf67a78a4bcc91e018f8882762a722000b2507039df0bc1bbf0c161bb3155c'),
  prk4e3m: h('81cc8a298e357044e3c466bb5c0a1e507e01d49238aeba138df94635407c0ff7'),
  credI: h(
    'a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b2001215820ac75e9ece3e50bfc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de611388a4b8a8211334ac7d37ecb52a387d257e6db3c2a93df21ff3affc8',
  ),
  mac3: h('623c91df41e34c2f'),
  plaintext3: h('2b48623c91df41e34c2f'),
  k3: h('8e7a30042000f7900e8174131f75f3ed'),
  iv3: h('6d8300c1e23b56153ae70ee457'),
  message3: h('52 e562097bc417dd5919485ac7891ffd90a9fc'),
  th4: h('c902b1e3a4326c93c5551f5f3aa6c5ecc0246806765612e52b5d99e6059d6b6e'),
  k4: h('d3c77872b6eeb508911bdbd308b2e6a0'),
  iv4: h('04ff0f44456e96e217853c3601'),
  message4: h('48 28c966b7ca304f83'),
  prkOut: h('2c71afc1a9338a940bb3529ca734b886f30d1aba0b4dc51beeaeabdfea9ecbf8'),
  prkExporter: h('e14d06699cee248c5a04bf9227bbcd4ce394de7dcb56db43555474171e6446db'),
  masterSecret: h('f9868f6a3aca78a05d1485b35030b162'),
  masterSalt: h('ada24c7dbfc85eeb'),
  keyUpdateContext: h('a01158fdb820890cd6be169602b8bcea'),
  keyUpdatePrkOut: h('f979537743fe0bd6b9b141ddbd79656c52e6dc7c50ad807754d74d07e87d0d16'),
  keyUpdatePrkExporter: h('00fcf7db9b2ead73824e7e830363c805c296f902830fac23d86c359c752f0f17'),
  keyUpdateSecret: h('49f72fac02b4658bda21e2dac66fc374'),
  keyUpdateSalt: h('dd8b24f2aa9b011a'),
};

function ccs(cred: Buffer, kid: number): EdhocCredential {
  return { idCred: { kind: 'kid', kid: Buffer.from([kid]) }, cred, publicKey: keyFromCcs(cred) };
}

function chapter3() {
  const credR = ccs(c3.credR, 0x32);
  const credI = ccs(c3.credI, 0x2b);
  const initiator = new EdhocInitiator({
    method: 3,
    suites: [6, 2],
    connectionId: Buffer.from([0x37]),
    credential: credI,
    authKey: { kind: 'static-dh', pair: dhKeyPairFromPrivate('P-256', c3.skI) },
    peers: knownCredentials([credR]),
    ephemeral: dhKeyPairFromPrivate('P-256', c3.x),
    trace: true,
  });
  const responder = new EdhocResponder({
    suites: [2],
    connectionId: Buffer.from([0x27]),
    credential: credR,
    authKey: { kind: 'static-dh', pair: dhKeyPairFromPrivate('P-256', c3.skR) },
    peers: knownCredentials([credI]),
    ephemeral: dhKeyPairFromPrivate('P-256', c3.y),
    trace: true,
    sendMessage4: true,
  });
  return { initiator, responder };
}

test('RFC 9529 §3 (method 3, suite 2, kid): key schedule pieces', () => {
  assert.equal(hex(dhKeyPairFromPrivate('P-256', c3.x).publicKey), hex(c3.gX));
  assert.equal(hex(dhKeyPairFromPrivate('P-256', c3.y).publicKey), hex(c3.gY));
  // The info structure of KEYSTREAM_2 as the trace prints it.
  assert.equal(hex(kdfInfo(0, c3.th2, 11)), `005820${hex(c3.th2)}0b`);
  // Our CCS builder produces the trace's CRED_R from its parts.
  const k = keyFromCcs(c3.credR);
  assert.equal(hex(ccsCredential({ kid: h('32'), subject: 'example.edu', publicKey: k }).cred), hex(c3.credR));
});

test('RFC 9529 §3 (method 3, suite 2, kid): both roles, every intermediate value', () => {
  const { initiator, responder } = chapter3();
  const m1 = initiator.message1();
  assert.equal(hex(m1), hex(c3.message1));
  const m2 = responder.handleMessage1(m1);
  const rt = responder.trace;
  assert.equal(hex(rt.th2), hex(c3.th2));
  assert.equal(hex(rt.gXY), hex(c3.gXY));
  assert.equal(hex(rt.prk2e), hex(c3.prk2e));
  assert.equal(hex(rt.prk3e2m), hex(c3.prk3e2m));
  assert.equal(hex(rt.signatureOrMac2), hex(c3.mac2));
  assert.equal(hex(rt.plaintext2), hex(c3.plaintext2));
  assert.equal(hex(rt.keystream2), hex(c3.keystream2));
  assert.equal(hex(rt.ciphertext2), hex(c3.ciphertext2));
  assert.equal(hex(rt.th3), hex(c3.th3));
  assert.equal(hex(m2), hex(c3.message2));

  const m3 = initiator.handleMessage2(m2);
  const it = initiator.trace;
  for (const [k, v] of Object.entries({
    th2: c3.th2,
    prk2e: c3.prk2e,
    keystream2: c3.keystream2,
    plaintext2: c3.plaintext2,
    prk3e2m: c3.prk3e2m,
    th3: c3.th3,
    prk4e3m: c3.prk4e3m,
    signatureOrMac3: c3.mac3,
    plaintext3: c3.plaintext3,
    k3: c3.k3,
    iv3: c3.iv3,
    th4: c3.th4,
  })) {
    assert.equal(hex(it[k]), hex(v), k);
  }
  assert.equal(hex(m3), hex(c3.message3));

  const m4 = responder.handleMessage3(m3);
  assert.equal(hex(responder.trace.prk4e3m), hex(c3.prk4e3m));
  assert.equal(hex(responder.trace.th4), hex(c3.th4));
  assert.equal(hex(responder.trace.k4), hex(c3.k4));
  assert.equal(hex(responder.trace.iv4), hex(c3.iv4));
  assert.equal(hex(m4!), hex(c3.message4));
  const si = initiator.handleMessage4(m4!);
  const sr = responder.session;
  assert.equal(initiator.state, 'completed');
  assert.equal(responder.state, 'completed');

  for (const s of [si, sr]) {
    assert.equal(hex(s.prkOut), hex(c3.prkOut));
    assert.equal(hex(s.prkExporter), hex(c3.prkExporter));
  }
  const oi = si.oscore();
  const or = sr.oscore();
  assert.equal(hex(oi.masterSecret), hex(c3.masterSecret));
  assert.equal(hex(oi.masterSalt), hex(c3.masterSalt));
  assert.deepEqual(or.masterSecret, oi.masterSecret);
  // Appendix A.1: the Initiator sends with C_R and receives with C_I; the Responder the other way.
  assert.equal(hex(oi.senderId), '27');
  assert.equal(hex(oi.recipientId), '37');
  assert.equal(hex(or.senderId), '37');
  assert.equal(hex(or.recipientId), '27');
  assert.equal(oi.aeadAlgorithm, 10);
  assert.equal(oi.hkdfAlgorithm, -10);

  si.keyUpdate(c3.keyUpdateContext);
  assert.equal(hex(si.prkOut), hex(c3.keyUpdatePrkOut));
  assert.equal(hex(si.prkExporter), hex(c3.keyUpdatePrkExporter));
  assert.equal(hex(si.oscore().masterSecret), hex(c3.keyUpdateSecret));
  assert.equal(hex(si.oscore().masterSalt), hex(c3.keyUpdateSalt));
});

// ---- RFC 9529 §2: method 0, suite 0, X.509 by x5t ----
const c2 = {
  x: h('892ec28e5cb6669108470539500b705e60d008d347c5817ee9f3327c8a87bb03'),
  gX: h('31f82c7b5b9cbbf0f194d913cc12ef1532d328ef32632a4881a1c0701e237f04'),
  y: h('e69c23fbf81bc435942446837fe827bf206c8fa10a39db47449e5a813421e1e8'),
  gY: h('dc88d2d51da5ed67fc4616356bc8ca74ef9ebe8b387e623a360ba480b9b29d1c'),
  message1: h('00 00 5820 31f82c7b5b9cbbf0f194d913cc12ef1532d328ef32632a4881a1c0701e237f04 2d'),
  th2: h('c6405c154c567466ab1df20369500e540e9f14bd3a796a0652cae66c9061688d'),
  gXY: h('e5cdf3a986cdac5b7bf04691e2b07c08e71f53998d8f842b7c3fb4d839cf7b28'),
  prk2e: h('d584ac2e5dad5a77d14b53ebe72ef1d5daa8860d399373bf2c240afa7ba804da'),
  skR: h('ef140ff900b0ab03f0c08d879cbbd4b31ea71e6e7ee7ffcb7e7955777a332799'),
  idCredR: h('a11822822e4879f2a41b510c1f9b'),
  certR: h(
    '3081ee3081a1a003020102020462319ec4300506032b6570301d311b301906035504030c124544484f4320526f6f742045643235353139301e170d3232303331363038323433365a170d3239313233313233303030305a30223120301e06035504030c174544484f4320526573706f6e6465722045643235353139302a300506032b6570032100a1db47b95184854ad12a0c1a354e418aace33aa0f2c662c00b3ac55de92f9359300506032b6570034100b723bc01eab0928e8b2b6c98de19cc3823d46e7d6987b032478fecfaf14537a1af14cc8be829c6b73044101837eb4abc949565d86dce51cfae52ab82c152cb02',
  ),
  signatureOrMac2: h(
    'c3b5bd44d1e44a085c03d3aede4e1e6c11c572a1968cc3629b505f98c681608d3d1de793d1c40eb5dd5d89acf1966aea07022b48cdc99870ebc40374e8fa6e09',
  ),
  keystream2: h(
    'fd3e7c3f2d6bee643d3c9d2f2847035d73e2ecb0f8db5cd1c6854e24896af21188b2c4344e689ec2984283d9fbc69ce1c5db10dcfff24df9a49a04a94058277bc7fa9ad6c6b194ab328b445eb080490cd786',
  ),
  ciphertext2: h(
    'bc26dd270fe9c02c44ce3934794b1cc62ba22f05459f8d358c8d12275ac42c5f96ded5f13cc9084e5b201889a45e5a60a5562dc118619c3daa2fd9f4c9f4d6edad109dd4edf95962aafbaf9ab3f4a1f6b98f',
  ),
  skI: h('4c5b25878f507c6b9dae68fbd4fd3ff997533db0af00b25d324ea28e6c213bc8'),
  th3: h('5b7df9b4f58f240ce0418e48191b5fff3a22b5ca57f669b16777996592e928bc'),
  idCredI: h('a11822822e48c24ab2fd7643c79f'),
  certI: h(
    '3081ee3081a1a003020102020462319ea0300506032b6570301d311b301906035504030c124544484f4320526f6f742045643235353139301e170d3232303331363038323430305a170d3239313233313233303030305a30223120301e06035504030c174544484f4320496e69746961746f722045643235353139302a300506032b6570032100ed06a8ae61a829ba5fa54525c9d07f48dd44a302f43e0f23d8cc20b73085141e300506032b6570034100521241d8b3a770996bcfc9b9ead4e7e0a1c0db353a3bdf2910b39275ae48b756015981850d27db6734e37f67212267dd05eeff27b9e7a813fa574b72a00b430b',
  ),
  signatureOrMac3: h(
    '96e1cd5fceadfac1b5af819443f70924f5719955957fd02655beb4775e1a73186a0d1d3ea683f08f8d03dcecb9cf154e1c6f555a1e12ca118ce42bdba6878907',
  ),
  k3: h('da195e5f648ac63b0e8fb0c455205139'),
  iv3: h('38d8c64c56255affa449f4bed7'),
  ciphertext3: h(
    '25c345884aaaeb22c527f9b1d2b6787207e0163c69b62a0d43928150427203c31674e4514ea6e383b566eb29763efeb0afa518776ae1c65f856d84bf32af3a7836970466dcb71f76745d39d3025e7703e0c032ebad51947c',
  ),
  th4: h('0eb868f263cf3555dccd396dd8dec29d3750d599be42d5a41a5a37c896f294ac'),
  k4: h('df8cb5861e1fdfedd3b23015a39d1e2e'),
  iv4: h('128ec658d970d7380f74fc6c27'),
  message4: h('48 4f0edee366e5c883'),
  prkOut: h('b744cb7d8a87cc0447c3350e165b250dab12ec453325abb922b30307e5c368f0'),
  prkExporter: h('2aaec8fc4ab3bc3295def6b551051a2fa561424db301fa84f642f5578a6df51a'),
  masterSecret: h('1e1c6beac3a8a1cac435de7e2f9ae7ff'),
  masterSalt: h('ce7ab844c0106d73'),
  keyUpdateContext: h('d6be169602b8bceaa01158fdb820890c'),
  keyUpdatePrkOut: h('da6eacd9a985f4fba9aec2a92990 22976b25b14e89fa159794f28d82faf2daad'),
  keyUpdatePrkExporter: h('0014d2525ee0d8e213ea5908028e9a1ce9a01c30546f0930c044d38db5362c05'),
  keyUpdateSecret: h('ee0ff542c47eb0e09c69307649bdbbe5'),
  keyUpdateSalt: h('80cede2a1e5aab48'),
};

test('RFC 9529 §2 (method 0, suite 0, x5t): both roles, every intermediate value', () => {
  const credR = x509Credential(c2.certR, 'x5t');
  const credI = x509Credential(c2.certI, 'x5t');
  assert.equal(
    hex(
      encode(
        new Map([
          [
            34,
            [
              credR.idCred.kind === 'x5t' ? credR.idCred.alg : 0,
              credR.idCred.kind === 'x5t' ? credR.idCred.hash : Buffer.alloc(0),
            ],
          ],
        ]),
      ),
    ),
    hex(c2.idCredR),
  );
  const initiator = new EdhocInitiator({
    method: 0,
    suites: [0],
    connectionId: h('2d'),
    credential: credI,
    authKey: { kind: 'signature', key: ed25519PrivateKey(c2.skI) },
    peers: knownCredentials([credR]),
    ephemeral: dhKeyPairFromPrivate('X25519', c2.x),
    trace: true,
  });
  const responder = new EdhocResponder({
    suites: [0, 2],
    connectionId: h('18'),
    credential: credR,
    authKey: { kind: 'signature', key: ed25519PrivateKey(c2.skR) },
    peers: knownCredentials([credI]),
    ephemeral: dhKeyPairFromPrivate('X25519', c2.y),
    trace: true,
    sendMessage4: true,
  });
  assert.equal(hex(dhKeyPairFromPrivate('X25519', c2.x).publicKey), hex(c2.gX));
  const m1 = initiator.message1();
  assert.equal(hex(m1), hex(c2.message1));
  const m2 = responder.handleMessage1(m1);
  const plaintext2 = Buffer.concat([h('4118'), c2.idCredR, h('5840'), c2.signatureOrMac2]);
  const rt = responder.trace;
  assert.equal(hex(rt.th2), hex(c2.th2));
  assert.equal(hex(rt.gXY), hex(c2.gXY));
  assert.equal(hex(rt.prk2e), hex(c2.prk2e));
  assert.equal(hex(rt.prk3e2m), hex(c2.prk2e), 'PRK_3e2m = PRK_2e when the Responder signs');
  assert.equal(hex(rt.signatureOrMac2), hex(c2.signatureOrMac2));
  assert.equal(hex(rt.plaintext2), hex(plaintext2));
  assert.equal(hex(rt.keystream2), hex(c2.keystream2));
  assert.equal(hex(rt.ciphertext2), hex(c2.ciphertext2));
  assert.equal(hex(m2), hex(Buffer.concat([h('5872'), c2.gY, c2.ciphertext2])));

  const m3 = initiator.handleMessage2(m2);
  const it = initiator.trace;
  assert.equal(hex(it.th3), hex(c2.th3));
  assert.equal(hex(it.prk4e3m), hex(c2.prk2e));
  assert.equal(hex(it.signatureOrMac3), hex(c2.signatureOrMac3));
  assert.equal(hex(it.plaintext3), hex(Buffer.concat([c2.idCredI, h('5840'), c2.signatureOrMac3])));
  assert.equal(hex(it.k3), hex(c2.k3));
  assert.equal(hex(it.iv3), hex(c2.iv3));
  assert.equal(hex(it.th4), hex(c2.th4));
  assert.equal(hex(m3), hex(Buffer.concat([h('5858'), c2.ciphertext3])));

  const m4 = responder.handleMessage3(m3)!;
  assert.equal(hex(responder.trace.k4), hex(c2.k4));
  assert.equal(hex(responder.trace.iv4), hex(c2.iv4));
  assert.equal(hex(m4), hex(c2.message4));
  const si = initiator.handleMessage4(m4);
  for (const s of [si, responder.session]) {
    assert.equal(hex(s.prkOut), hex(c2.prkOut));
    assert.equal(hex(s.prkExporter), hex(c2.prkExporter));
    assert.equal(hex(s.oscore().masterSecret), hex(c2.masterSecret));
    assert.equal(hex(s.oscore().masterSalt), hex(c2.masterSalt));
  }
  assert.equal(hex(si.oscore().senderId), '18');
  assert.equal(hex(si.oscore().recipientId), '2d');
  si.keyUpdate(c2.keyUpdateContext);
  assert.equal(hex(si.prkOut), hex(c2.keyUpdatePrkOut));
  assert.equal(hex(si.prkExporter), hex(c2.keyUpdatePrkExporter));
  assert.equal(hex(si.oscore().masterSecret), hex(c2.keyUpdateSecret));
  assert.equal(hex(si.oscore().masterSalt), hex(c2.keyUpdateSalt));
});
