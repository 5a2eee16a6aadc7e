/**
 * Mutation fuzzing of every DTLS wire codec (src/dtls/wire/*). From real, valid encodings — the
 * messages of a PSK and an ECDHE_ECDSA handshake with a real certificate chain — each mutated
 * input must decode to a value or throw DtlsDecodeError / DtlsAlertError (RFC 6347 §4.1.2.7: a
 * malformed record is dropped, a malformed handshake message ends the handshake with decode_error),
 * never a RangeError, TypeError or Buffer out-of-range, and never take long. The valid seeds
 * round-trip: decode(encode(x)) deep-equals x.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { certificatesFromPem } from '../../src/dtls/credentials/x509.ts';
import {
  generateEcdhKeyPair,
  loadPrivateKey,
  makeCertificateVerify,
  makeServerKeyExchange,
} from '../../src/dtls/crypto/ecc.ts';
import { AlertDescription, AlertLevel, DtlsAlertError } from '../../src/dtls/errors.ts';
import { encodeAlert, parseAlert } from '../../src/dtls/wire/alert.ts';
import { Reader } from '../../src/dtls/wire/buffer.ts';
import { encodeCertificate, parseCertificate } from '../../src/dtls/wire/certificate.ts';
import {
  ecdsaCertificateRequest,
  encodeCertificateRequest,
  parseCertificateRequest,
} from '../../src/dtls/wire/certificate-request.ts';
import { encodeCertificateVerify, parseCertificateVerify } from '../../src/dtls/wire/certificate-verify.ts';
import { CHANGE_CIPHER_SPEC, parseChangeCipherSpec } from '../../src/dtls/wire/change-cipher-spec.ts';
import { type ClientHello, encodeClientHello, parseClientHello } from '../../src/dtls/wire/client-hello.ts';
import { encodeClientKeyExchangePsk, parseClientKeyExchangePsk } from '../../src/dtls/wire/client-key-exchange.ts';
import {
  encodeClientKeyExchangeEcdhe,
  parseClientKeyExchangeEcdhe,
} from '../../src/dtls/wire/client-key-exchange-ecdhe.ts';
import {
  extendedMasterSecret,
  isEmptyRenegotiationInfo,
  parseExtensions,
  parseServerName,
  renegotiationInfo,
  serverName,
} from '../../src/dtls/wire/extensions.ts';
import {
  CertificateType,
  clientCertificateTypeExtension,
  ECDSA_SHA256,
  ecPointFormatsExtension,
  encodeCertificateTypeList,
  encodeCertificateTypeSelected,
  encodeEcPointFormats,
  encodeSignatureAlgorithms,
  encodeSupportedGroups,
  parseCertificateTypeList,
  parseCertificateTypeSelected,
  parseEcPointFormats,
  parseSignatureAlgorithms,
  parseSupportedGroups,
  serverCertificateTypeExtension,
  signatureAlgorithmsExtension,
  supportedGroupsExtension,
} from '../../src/dtls/wire/extensions-ecc.ts';
import { encodeFinished, parseFinished } from '../../src/dtls/wire/finished.ts';
import {
  encodeHandshakeFragment,
  encodeHandshakeMessage,
  HandshakeType,
  parseHandshakeFragments,
} from '../../src/dtls/wire/handshake.ts';
import { encodeHelloVerifyRequest, parseHelloVerifyRequest } from '../../src/dtls/wire/hello-verify-request.ts';
import { ContentType, DTLS1_2, encodeRecord, parseRecords } from '../../src/dtls/wire/record.ts';
import { encodeServerHello, parseServerHello } from '../../src/dtls/wire/server-hello.ts';
import { encodeServerHelloDone, parseServerHelloDone } from '../../src/dtls/wire/server-hello-done.ts';
import { encodeServerKeyExchangePsk, parseServerKeyExchangePsk } from '../../src/dtls/wire/server-key-exchange.ts';
import {
  encodeServerKeyExchangeEcdhe,
  parseServerKeyExchangeEcdhe,
} from '../../src/dtls/wire/server-key-exchange-ecdhe.ts';
import { makeTempPki } from '../support/pki.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, hangs, mutate, Rng } from './mutate.ts';

/** A decode that takes this long on a few hundred bytes is a hang, not a slow machine. */
const HANG_MS = 250;

interface Target {
  name: string;
  /** Valid encodings. */
  seeds: Buffer[];
  decode: (b: Buffer) => unknown;
  /** Known length-field offsets in the seeds (hit more often). */
  lengthFields?: Array<{ offset: number; width: 1 | 2 | 3 }>;
  /** Errors the decoder may throw besides DtlsAlertError (none for every codec). */
  nothrow?: boolean;
}

function clientHelloSeed(extra: Partial<ClientHello> = {}): ClientHello {
  return {
    clientVersion: DTLS1_2,
    random: randomBytes(32),
    sessionId: randomBytes(32),
    cookie: randomBytes(32),
    cipherSuites: [0xc0ae, 0xc0a8, 0x00ff],
    compressionMethods: [0],
    extensions: [
      supportedGroupsExtension(),
      ecPointFormatsExtension(),
      signatureAlgorithmsExtension(),
      clientCertificateTypeExtension('client', [CertificateType.RawPublicKey, CertificateType.X509]),
      serverCertificateTypeExtension('client', [CertificateType.RawPublicKey, CertificateType.X509]),
      extendedMasterSecret(),
      renegotiationInfo(),
      serverName('device.example'),
    ],
    ...extra,
  };
}

async function buildTargets(): Promise<{ targets: Target[]; roundTrips: Array<[string, () => void]> }> {
  const pki = await makeTempPki();
  try {
    const chain = certificatesFromPem(pki.server.chainPem);
    const key = loadPrivateKey(pki.server.keyPem);
    const ch = clientHelloSeed();
    const chBare = clientHelloSeed({ sessionId: Buffer.alloc(0), cookie: Buffer.alloc(0), extensions: [] });
    const sh = {
      serverVersion: DTLS1_2,
      random: randomBytes(32),
      sessionId: randomBytes(32),
      cipherSuite: 0xc0ae,
      compressionMethod: 0,
      extensions: [
        renegotiationInfo(),
        extendedMasterSecret(),
        ecPointFormatsExtension(),
        clientCertificateTypeExtension('server', CertificateType.X509),
        serverCertificateTypeExtension('server', CertificateType.RawPublicKey),
      ],
    };
    const ske = makeServerKeyExchange(key, ch.random, sh.random);
    const skeBody = ske.body;
    const cv = makeCertificateVerify(key, randomBytes(300));
    const cke = { publicPoint: generateEcdhKeyPair().publicPoint };
    const cr = ecdsaCertificateRequest([Buffer.from('300d310b300906035504061302534531', 'hex')]);
    const certX509 = { type: 'x509' as const, certificateList: chain };
    const certRpk = { type: 'rpk' as const, spki: pki.rpkServer.spkiDer };
    const fin = randomBytes(12);
    const hvr = { serverVersion: 0xfeff, cookie: randomBytes(32) };
    const alert = { level: AlertLevel.fatal, description: AlertDescription.decode_error };

    const chBody = encodeClientHello(ch);
    const chBareBody = encodeClientHello(chBare);
    const shBody = encodeServerHello(sh);
    const certBody = encodeCertificate(certX509);
    const rpkBody = encodeCertificate(certRpk);
    const crBody = encodeCertificateRequest(cr);
    const cvBody = cv;
    const ckeBody = encodeClientKeyExchangeEcdhe(cke);
    const pskCke = encodeClientKeyExchangePsk({ identity: Buffer.from('dev1') });
    const pskSke = encodeServerKeyExchangePsk({ identityHint: Buffer.from('securesense') });
    const handshakeMsgs = [
      encodeHandshakeMessage(HandshakeType.client_hello, 1, chBody),
      encodeHandshakeMessage(HandshakeType.server_hello, 1, shBody),
      encodeHandshakeFragment({
        msgType: HandshakeType.certificate,
        length: certBody.length,
        messageSeq: 2,
        fragmentOffset: 100,
        fragment: certBody.subarray(100, 300),
      }),
      Buffer.concat([
        encodeHandshakeMessage(HandshakeType.server_key_exchange, 3, skeBody),
        encodeHandshakeMessage(HandshakeType.server_hello_done, 4, encodeServerHelloDone()),
      ]),
    ];
    const records = [
      encodeRecord({
        type: ContentType.handshake,
        version: DTLS1_2,
        epoch: 0,
        seq: 1,
        fragment: handshakeMsgs[0],
      }),
      Buffer.concat([
        encodeRecord({ type: ContentType.handshake, version: DTLS1_2, epoch: 0, seq: 2, fragment: handshakeMsgs[1] }),
        encodeRecord({
          type: ContentType.change_cipher_spec,
          version: DTLS1_2,
          epoch: 0,
          seq: 3,
          fragment: CHANGE_CIPHER_SPEC,
        }),
        encodeRecord({ type: ContentType.handshake, version: DTLS1_2, epoch: 1, seq: 0, fragment: randomBytes(40) }),
      ]),
      encodeRecord({
        type: ContentType.application_data,
        version: DTLS1_2,
        epoch: 1,
        seq: 7,
        fragment: randomBytes(64),
      }),
    ];
    const ext = (data: Buffer) => parseExtensions(new Reader(data, 'extensions'));
    const extBlock = (exts: ReturnType<typeof supportedGroupsExtension>[]) =>
      encodeServerHello({ ...sh, extensions: exts }).subarray(2 + 32 + 1 + 32 + 2 + 1);

    const targets: Target[] = [
      // parseRecords never throws at all: a malformed record ends the datagram (§4.1.2.7).
      {
        name: 'record',
        seeds: records,
        decode: parseRecords,
        nothrow: true,
        lengthFields: [{ offset: 11, width: 2 }],
      },
      {
        name: 'handshake header',
        seeds: handshakeMsgs,
        decode: parseHandshakeFragments,
        lengthFields: [
          { offset: 1, width: 3 },
          { offset: 6, width: 3 },
          { offset: 9, width: 3 },
        ],
      },
      {
        name: 'client_hello',
        seeds: [chBody, chBareBody],
        decode: parseClientHello,
        lengthFields: [
          { offset: 34, width: 1 },
          { offset: 67, width: 1 },
          { offset: 100, width: 2 },
        ],
      },
      { name: 'server_hello', seeds: [shBody], decode: parseServerHello, lengthFields: [{ offset: 34, width: 1 }] },
      { name: 'hello_verify_request', seeds: [encodeHelloVerifyRequest(hvr)], decode: parseHelloVerifyRequest },
      {
        name: 'certificate (X.509)',
        seeds: [certBody],
        decode: (b) => parseCertificate(b, CertificateType.X509),
        lengthFields: [
          { offset: 0, width: 3 },
          { offset: 3, width: 3 },
        ],
      },
      {
        name: 'certificate (RPK)',
        seeds: [rpkBody, Buffer.alloc(3)],
        decode: (b) => parseCertificate(b, CertificateType.RawPublicKey),
      },
      { name: 'certificate_request', seeds: [crBody], decode: parseCertificateRequest },
      { name: 'certificate_verify', seeds: [cvBody], decode: parseCertificateVerify },
      { name: 'client_key_exchange (PSK)', seeds: [pskCke], decode: parseClientKeyExchangePsk },
      { name: 'client_key_exchange (ECDHE)', seeds: [ckeBody], decode: parseClientKeyExchangeEcdhe },
      { name: 'server_key_exchange (PSK)', seeds: [pskSke], decode: parseServerKeyExchangePsk },
      { name: 'server_key_exchange (ECDHE)', seeds: [skeBody], decode: parseServerKeyExchangeEcdhe },
      { name: 'server_hello_done', seeds: [encodeServerHelloDone(), Buffer.alloc(0)], decode: parseServerHelloDone },
      { name: 'finished', seeds: [encodeFinished(fin)], decode: parseFinished },
      { name: 'change_cipher_spec', seeds: [CHANGE_CIPHER_SPEC], decode: parseChangeCipherSpec },
      { name: 'alert', seeds: [encodeAlert(alert)], decode: parseAlert },
      {
        name: 'extensions',
        seeds: [extBlock(sh.extensions), extBlock(ch.extensions)],
        decode: (b) => {
          const exts = ext(b);
          // The typed readers the handshakes apply to what they find.
          for (const e of exts) {
            if (e.type === 0) parseServerName(e);
            if (e.type === 0xff01) isEmptyRenegotiationInfo(e);
          }
          return exts;
        },
      },
      {
        name: 'server_name',
        seeds: [serverName('device.example').data],
        decode: (d) => parseServerName({ type: 0, data: d }),
      },
      {
        name: 'renegotiation_info',
        seeds: [renegotiationInfo().data],
        decode: (d) => isEmptyRenegotiationInfo({ type: 0xff01, data: d }),
      },
      { name: 'supported_groups', seeds: [encodeSupportedGroups([23, 24, 29])], decode: parseSupportedGroups },
      { name: 'ec_point_formats', seeds: [encodeEcPointFormats([0, 1])], decode: parseEcPointFormats },
      {
        name: 'signature_algorithms',
        seeds: [encodeSignatureAlgorithms([ECDSA_SHA256, { hash: 5, signature: 3 }])],
        decode: parseSignatureAlgorithms,
      },
      {
        name: 'certificate_type list',
        seeds: [encodeCertificateTypeList([2, 0])],
        decode: (d) => parseCertificateTypeList(d),
      },
      {
        name: 'certificate_type selected',
        seeds: [encodeCertificateTypeSelected(2)],
        decode: (d) => parseCertificateTypeSelected(d),
      },
    ];

    const roundTrips: Array<[string, () => void]> = [
      ['client_hello', () => assert.deepEqual(parseClientHello(chBody), ch)],
      ['client_hello (bare)', () => assert.deepEqual(parseClientHello(chBareBody), chBare)],
      ['server_hello', () => assert.deepEqual(parseServerHello(shBody), sh)],
      ['hello_verify_request', () => assert.deepEqual(parseHelloVerifyRequest(encodeHelloVerifyRequest(hvr)), hvr)],
      ['certificate (X.509)', () => assert.deepEqual(parseCertificate(certBody, CertificateType.X509), certX509)],
      ['certificate (RPK)', () => assert.deepEqual(parseCertificate(rpkBody, CertificateType.RawPublicKey), certRpk)],
      ['certificate_request', () => assert.deepEqual(parseCertificateRequest(crBody), cr)],
      [
        'certificate_verify',
        () => {
          const v = parseCertificateVerify(cvBody);
          assert.deepEqual(parseCertificateVerify(encodeCertificateVerify(v)), v);
          assert.deepEqual(encodeCertificateVerify(v), cvBody);
        },
      ],
      ['client_key_exchange (ECDHE)', () => assert.deepEqual(parseClientKeyExchangeEcdhe(ckeBody), cke)],
      [
        'client_key_exchange (PSK)',
        () => assert.deepEqual(parseClientKeyExchangePsk(pskCke), { identity: Buffer.from('dev1') }),
      ],
      [
        'server_key_exchange (PSK)',
        () => assert.deepEqual(parseServerKeyExchangePsk(pskSke), { identityHint: Buffer.from('securesense') }),
      ],
      [
        'server_key_exchange (ECDHE)',
        () => {
          const m = parseServerKeyExchangeEcdhe(skeBody);
          assert.deepEqual(encodeServerKeyExchangeEcdhe(m), skeBody);
          assert.equal(m.params.publicPoint.equals(ske.ephemeral.publicPoint), true);
        },
      ],
      ['finished', () => assert.deepEqual(parseFinished(encodeFinished(fin)), fin)],
      ['alert', () => assert.deepEqual(parseAlert(encodeAlert(alert)), alert)],
      [
        'handshake header',
        () =>
          assert.deepEqual(parseHandshakeFragments(handshakeMsgs[2]), [
            {
              msgType: HandshakeType.certificate,
              length: certBody.length,
              messageSeq: 2,
              fragmentOffset: 100,
              fragment: certBody.subarray(100, 300),
            },
          ]),
      ],
      [
        'record',
        () =>
          assert.deepEqual(parseRecords(records[2]), [
            {
              type: ContentType.application_data,
              version: DTLS1_2,
              epoch: 1,
              seq: 7,
              fragment: records[2].subarray(13),
            },
          ]),
      ],
      ['extensions', () => assert.deepEqual(ext(extBlock(ch.extensions)), ch.extensions)],
      [
        'supported_groups',
        () => assert.deepEqual(parseSupportedGroups(encodeSupportedGroups([23, 24, 29])), [23, 24, 29]),
      ],
      ['ec_point_formats', () => assert.deepEqual(parseEcPointFormats(encodeEcPointFormats([0, 1])), [0, 1])],
      [
        'certificate types',
        () => assert.deepEqual(parseCertificateTypeList(encodeCertificateTypeList([2, 0])), [2, 0]),
      ],
      ['server_name', () => assert.equal(parseServerName(serverName('device.example')), 'device.example')],
    ];
    return { targets, roundTrips };
  } finally {
    pki.cleanup();
  }
}

const built = buildTargets();

test('valid encodings round-trip: decode(encode(x)) deep-equals x', async () => {
  const { roundTrips } = await built;
  for (const [name, check] of roundTrips) {
    try {
      check();
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
});

test('mutated encodings: every wire decoder returns a value or throws DtlsDecodeError/DtlsAlertError, quickly', async (t) => {
  const { targets } = await built;
  const perSeed = fuzzIterations(6000);
  const report: string[] = [];
  const failures: FuzzFailure[] = [];
  for (const target of targets) {
    let ran = 0;
    let accepted = 0;
    for (const seed of fuzzSeeds()) {
      const rng = new Rng(seed ^ hash(target.name));
      for (let i = 0; i < perSeed; i++) {
        const input = mutate(rng, rng.pick(target.seeds), { others: target.seeds, lengthFields: target.lengthFields });
        ran++;
        const t0 = performance.now();
        try {
          target.decode(input);
          accepted++;
        } catch (err) {
          if (target.nothrow || !(err instanceof DtlsAlertError)) {
            failures.push({
              seed,
              iteration: i,
              input: input.toString('hex'),
              error: `${target.name}: ${(err as Error).name}: ${(err as Error).message}`,
            });
          }
        }
        const ms = performance.now() - t0;
        if (hangs(() => target.decode(input), ms, HANG_MS)) {
          failures.push({ seed, iteration: i, input: input.toString('hex'), error: `${target.name}: took ${ms} ms` });
        }
      }
    }
    report.push(`${target.name}: ${ran} inputs, ${accepted} decoded`);
  }
  t.diagnostic(report.join('; '));
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
