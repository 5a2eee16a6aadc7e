import type { SecurityMode } from '../dtls/credentials/identity.ts';
import type { CryptoOp } from '../dtls/meter.ts';
import type { CryptoUse, Side, Transcript, TranscriptFlight } from './transcript.ts';

/**
 * ON PAPER — handshakes we do not implement, written down from their RFCs' message formats so that
 * the device model can replay them beside our DTLS 1.2 transcripts: DTLS 1.3 (RFC 9147 over RFC 8446
 * messages) and EDHOC (RFC 9528) carried by CoAP, followed by OSCORE (RFC 8613). Sizes are our
 * arithmetic from the formats (each field commented), with the same credentials as our recordings:
 * P-256 keys, our certificates' DER sizes, ECDSA signatures of 71 bytes (DER, typical), AES-CCM with
 * 8-byte tags, one handshake message per record/datagram as in our DTLS 1.2 model, and a cookie
 * exchange where the protocol has one. Crypto counts follow the protocols' key schedules; their HMAC
 * counts are estimates. These transcripts are labelled 'paper' wherever they appear.
 */

/** DER sizes of our recordings' certificates (their DTLS 1.2 Certificate bodies, 448 and 430, less 3 + 3 of list framing). */
export const OUR_CERT_DER = { server: 442, client: 424 } as const;
const SPKI_P256 = 91;
const ECDSA_DER = 71;
const P256_POINT = 65; // uncompressed, as TLS 1.3 key_share sends it (RFC 8446 §4.2.8.2)
const P256_X = 32; // EDHOC sends the x-coordinate only (RFC 9528 §3.7)

// DTLS 1.3 framing (RFC 9147): plaintext records keep the 13-byte DTLSPlaintext header (§4);
// encrypted records use the unified header with a 16-bit sequence number and a length (1 + 2 + 2),
// the inner content type (1) and the CCM_8 tag (8). Handshake messages keep a 12-byte header (§5.2).
const HS_HEADER = 12;
const PLAIN_RECORD = 13;
const CIPHER_RECORD = 5 + 1 + 8;

type Msg = { type: string; body: number; encrypted: boolean };

function flight(number: number, from: Side, msgs: Msg[], crypto: Partial<Record<Side, [CryptoOp, number][]>>) {
  const uses: CryptoUse[] = [];
  for (const side of ['client', 'server'] as const) {
    for (const [op, count] of crypto[side] ?? []) {
      uses.push({ side, phase: side === from ? 'prepare' : 'process', op, count, message: msgs[0]?.type });
    }
  }
  const f: TranscriptFlight = {
    number,
    from,
    messages: msgs.map((m) => ({ type: m.type, bodyBytes: m.body })),
    records: msgs.map((m) => ({
      contentType: m.type === 'ack' ? 'ack' : 'handshake',
      epoch: m.encrypted ? 2 : 0,
      bytes: (m.encrypted ? CIPHER_RECORD : PLAIN_RECORD) + (m.type === 'ack' ? 0 : HS_HEADER) + m.body,
    })),
    crypto: uses,
  };
  return f;
}

const ext = (body: number) => 4 + body; // extension type (2) + length (2) + body

/** ClientHello (RFC 8446 §4.1.2, DTLS 1.3 adds legacy_cookie): version 2, random 32, session id 1, cookie 1, one suite 4, compression 2. */
function clientHello(extensions: number[]): number {
  return 2 + 32 + 1 + 1 + 4 + 2 + 2 + extensions.reduce((a, b) => a + b, 0);
}
/** ServerHello / HelloRetryRequest: version 2, random 32, session id echo 1, suite 2, compression 1. */
function serverHello(extensions: number[]): number {
  return 2 + 32 + 1 + 2 + 1 + 2 + extensions.reduce((a, b) => a + b, 0);
}

const SUPPORTED_VERSIONS_CH = ext(1 + 2);
const SUPPORTED_VERSIONS_SH = ext(2);
const SUPPORTED_GROUPS = ext(2 + 2);
const SIGNATURE_ALGORITHMS = ext(2 + 2);
const KEY_SHARE_CH = ext(2 + 2 + 2 + P256_POINT);
const KEY_SHARE_SH = ext(2 + 2 + P256_POINT);
const COOKIE = ext(2 + 32);
const PSK_IDENTITY = 9; // "device-01", as in our PSK recording
const PRE_SHARED_KEY_CH = ext(2 + 2 + PSK_IDENTITY + 4 + 2 + 1 + 32);
const PRE_SHARED_KEY_SH = ext(2);
const PSK_MODES = ext(1 + 1);
const FINISHED = 32;

/** TLS 1.3 key schedule (RFC 8446 §7.1): ≈ 3 Extract + 8 Derive-Secret + 6 traffic key/iv + 2 Finished ≈ 20 HMAC-SHA256 calls per side (estimate). */
const KEY_SCHEDULE_HMACS = 20;

function certificate13(der: number): number {
  return 1 + 3 + 3 + der + 2; // context, list length, entry length, cert, entry extensions
}
const CERTIFICATE_VERIFY = 2 + 2 + ECDSA_DER;
const CERTIFICATE_REQUEST = 1 + 2 + SIGNATURE_ALGORITHMS;
/** ACK of the client's last flight (RFC 9147 §7): a 2-byte list length and 16 bytes per record number. */
const ack = (records: number) => 2 + 16 * records;

export type PaperProtocol = 'dtls13-psk' | 'dtls13-rpk' | 'dtls13-x509' | 'edhoc-static' | 'edhoc-sig-x5t';

export const PAPER_PROTOCOLS: { name: PaperProtocol; label: string; mode: SecurityMode }[] = [
  { name: 'dtls13-psk', label: 'DTLS 1.3, PSK (psk_ke)', mode: 'psk' },
  { name: 'dtls13-rpk', label: 'DTLS 1.3, raw public keys, mutual', mode: 'rpk' },
  { name: 'dtls13-x509', label: 'DTLS 1.3, X.509, mutual', mode: 'x509' },
  { name: 'edhoc-static', label: 'EDHOC method 3 (static DH keys, kid) over CoAP', mode: 'rpk' },
  { name: 'edhoc-sig-x5t', label: 'EDHOC method 0 (signatures, certificates by hash) over CoAP', mode: 'x509' },
];

/** A handshake written down from its RFC, as a transcript the device model can replay (source 'fixture'). */
export function paperTranscript(p: PaperProtocol): Transcript {
  const flights: TranscriptFlight[] = [];
  const hello = (exts: number[]) => [
    flight(1, 'client', [{ type: 'client_hello', body: clientHello(exts), encrypted: false }], {}),
    flight(
      2,
      'server',
      [{ type: 'hello_retry_request', body: serverHello([SUPPORTED_VERSIONS_SH, COOKIE]), encrypted: false }],
      {
        server: [['hmac', 1]],
      },
    ),
  ];
  if (p === 'dtls13-psk') {
    const exts = [SUPPORTED_VERSIONS_CH, PSK_MODES, PRE_SHARED_KEY_CH];
    const hmacs: [CryptoOp, number][] = [['hmac', KEY_SCHEDULE_HMACS]];
    flights.push(
      ...hello(exts),
      flight(3, 'client', [{ type: 'client_hello', body: clientHello([...exts, COOKIE]), encrypted: false }], {
        client: [['hmac', 2]],
        server: [['hmac', 3]],
      }),
      flight(
        4,
        'server',
        [
          { type: 'server_hello', body: serverHello([SUPPORTED_VERSIONS_SH, PRE_SHARED_KEY_SH]), encrypted: false },
          { type: 'encrypted_extensions', body: 2, encrypted: true },
          { type: 'finished', body: FINISHED, encrypted: true },
        ],
        { server: [...hmacs, ['aes_block', 8]], client: [...hmacs, ['aes_block', 8]] },
      ),
      flight(5, 'client', [{ type: 'finished', body: FINISHED, encrypted: true }], {
        client: [
          ['hmac', 2],
          ['aes_block', 5],
        ],
        server: [
          ['hmac', 2],
          ['aes_block', 5],
        ],
      }),
      flight(6, 'server', [{ type: 'ack', body: ack(1), encrypted: true }], {
        server: [['aes_block', 4]],
        client: [['aes_block', 4]],
      }),
    );
    return {
      mode: 'psk',
      source: 'fixture',
      cipherSuite: 'TLS_AES_128_CCM_8_SHA256 (on paper)',
      flights,
      application: [],
    };
  }
  if (p === 'dtls13-rpk' || p === 'dtls13-x509') {
    const exts = [SUPPORTED_VERSIONS_CH, SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS, KEY_SHARE_CH];
    const serverCert = p === 'dtls13-x509' ? certificate13(OUR_CERT_DER.server) : certificate13(SPKI_P256);
    const clientCert = p === 'dtls13-x509' ? certificate13(OUR_CERT_DER.client) : certificate13(SPKI_P256);
    // A certificate's chain check is one more verification than a pinned raw public key.
    const verifies = p === 'dtls13-x509' ? 2 : 1;
    flights.push(
      ...hello(exts),
      flight(3, 'client', [{ type: 'client_hello', body: clientHello([...exts, COOKIE]), encrypted: false }], {
        client: [['ecdh_keygen', 1]],
        server: [['hmac', 1]],
      }),
      flight(
        4,
        'server',
        [
          { type: 'server_hello', body: serverHello([SUPPORTED_VERSIONS_SH, KEY_SHARE_SH]), encrypted: false },
          { type: 'encrypted_extensions', body: 2, encrypted: true },
          { type: 'certificate_request', body: CERTIFICATE_REQUEST, encrypted: true },
          { type: 'certificate', body: serverCert, encrypted: true },
          { type: 'certificate_verify', body: CERTIFICATE_VERIFY, encrypted: true },
          { type: 'finished', body: FINISHED, encrypted: true },
        ],
        {
          server: [
            ['ecdh_keygen', 1],
            ['ecdh_agree', 1],
            ['ecdsa_sign', 1],
            ['hmac', KEY_SCHEDULE_HMACS],
            ['aes_block', 40],
          ],
          client: [
            ['ecdh_agree', 1],
            ['ecdsa_verify', verifies],
            ['hmac', KEY_SCHEDULE_HMACS],
            ['aes_block', 40],
          ],
        },
      ),
      flight(
        5,
        'client',
        [
          { type: 'certificate', body: clientCert, encrypted: true },
          { type: 'certificate_verify', body: CERTIFICATE_VERIFY, encrypted: true },
          { type: 'finished', body: FINISHED, encrypted: true },
        ],
        {
          client: [
            ['ecdsa_sign', 1],
            ['hmac', 2],
            ['aes_block', 36],
          ],
          server: [
            ['ecdsa_verify', verifies],
            ['hmac', 2],
            ['aes_block', 36],
          ],
        },
      ),
      flight(6, 'server', [{ type: 'ack', body: ack(3), encrypted: true }], {
        server: [['aes_block', 5]],
        client: [['aes_block', 5]],
      }),
    );
    return {
      mode: p === 'dtls13-x509' ? 'x509' : 'rpk',
      source: 'fixture',
      cipherSuite: 'TLS_AES_128_CCM_8_SHA256 (on paper)',
      flights,
      application: [],
    };
  }
  // EDHOC (RFC 9528) with cipher suite 2 (AES-CCM-16-64-128, SHA-256, P-256, ES256), over CoAP
  // (RFC 9528 App. A.2): each message a CoAP POST to /.well-known/edhoc or its response. CoAP framing:
  // a request 4 (header) + 2 (token) + 12 + 6 (Uri-Path ".well-known", "edhoc") + 1 (payload marker)
  // = 25 bytes and a 1-byte connection-identifier prefix; a response 4 + 2 + 1 = 7 bytes.
  const REQ = 25 + 1;
  const RESP = 7;
  const bstr = (n: number) => (n < 24 ? 1 : n < 256 ? 2 : 3) + n;
  const coap = (type: string, edhoc: number, request: boolean): Msg => ({
    type,
    body: edhoc + (request ? REQ : RESP),
    encrypted: false,
  });
  // message_1 = (METHOD, SUITES_I, G_X, C_I): 1 + 1 + bstr(32) + 1.
  const m1 = 1 + 1 + bstr(P256_X) + 1;
  type Crypto = Partial<Record<Side, [CryptoOp, number][]>>;
  /** The four EDHOC-over-CoAP datagrams, with the crypto of messages 2 and 3 given per side. */
  const edhocFlights = (m2Plain: number, m3Plain: number, c2: Crypto, c3: Crypto) => {
    // message_2 = bstr(G_Y || CIPHERTEXT_2), CIPHERTEXT_2 = PLAINTEXT_2 XOR KEYSTREAM_2 (no tag).
    const m2 = bstr(P256_X + m2Plain);
    // message_3 = bstr(CIPHERTEXT_3), AEAD with an 8-byte tag.
    const m3 = bstr(m3Plain + 8);
    const c1: Crypto = { client: [['ecdh_keygen', 1]] };
    return [
      { number: 1, from: 'client' as Side, msgs: [coap('edhoc_message_1', m1, true)], crypto: c1 },
      { number: 2, from: 'server' as Side, msgs: [coap('edhoc_message_2', m2, false)], crypto: c2 },
      { number: 3, from: 'client' as Side, msgs: [coap('edhoc_message_3', m3, true)], crypto: c3 },
      { number: 4, from: 'server' as Side, msgs: [coap('coap_2.04_changed', 0, false)], crypto: {} },
    ];
  };
  // Plain CoAP framing: count the whole datagram as the "record" (no DTLS record header).
  const coapFlight = (n: number, from: Side, msgs: Msg[], crypto: Partial<Record<Side, [CryptoOp, number][]>>) => {
    const f = flight(n, from, msgs, crypto);
    f.records = msgs.map((m) => ({ contentType: 'coap', epoch: 0, bytes: m.body }));
    return f;
  };
  const HKDF = 12; // EDHOC key schedule: ≈ 3 Extract + 9 Expand HMAC calls per side (estimate)
  if (p === 'edhoc-static') {
    // PLAINTEXT_2 = (C_R 1, ID_CRED_R as a 1-byte kid, MAC_2 bstr(8)); PLAINTEXT_3 = (ID_CRED_I kid 1, MAC_3 bstr(8)).
    // Initiator: G_XY and G_RX on message_2, G_IY (its static key) for message_3; the responder
    // generates its ephemeral key and computes G_XY and G_RX for message_2, G_IY on message_3.
    const fl = edhocFlights(
      1 + 1 + bstr(8),
      1 + bstr(8),
      {
        server: [
          ['ecdh_keygen', 1],
          ['ecdh_agree', 2],
          ['hmac', HKDF / 2],
        ],
        client: [
          ['ecdh_agree', 2],
          ['hmac', HKDF / 2],
        ],
      },
      {
        client: [
          ['ecdh_agree', 1],
          ['hmac', HKDF / 2],
          ['aes_block', 4],
        ],
        server: [
          ['ecdh_agree', 1],
          ['hmac', HKDF / 2],
          ['aes_block', 4],
        ],
      },
    );
    for (const f of fl) flights.push(coapFlight(f.number, f.from, f.msgs, f.crypto));
    return { mode: 'rpk', source: 'fixture', cipherSuite: 'EDHOC suite 2 (on paper)', flights, application: [] };
  }
  // Method 0: ID_CRED_x = {34: [-15, h'8 bytes']} (x5t, COSE_CertHash, 1 + 1 + 1 + 1 + 9 = 13);
  // Signature_or_MAC = bstr(64) (ES256, raw r‖s). Certificates by hash: the peer's is already known,
  // so no chain check (as with a pinned key).
  const fl = edhocFlights(
    1 + 13 + bstr(64),
    13 + bstr(64),
    {
      server: [
        ['ecdh_keygen', 1],
        ['ecdh_agree', 1],
        ['ecdsa_sign', 1],
        ['hmac', HKDF / 2],
      ],
      client: [
        ['ecdh_agree', 1],
        ['ecdsa_verify', 1],
        ['hmac', HKDF / 2],
      ],
    },
    {
      client: [
        ['ecdsa_sign', 1],
        ['hmac', HKDF / 2],
        ['aes_block', 8],
      ],
      server: [
        ['ecdsa_verify', 1],
        ['hmac', HKDF / 2],
        ['aes_block', 8],
      ],
    },
  );
  for (const f of fl) flights.push(coapFlight(f.number, f.from, f.msgs, f.crypto));
  return { mode: 'x509', source: 'fixture', cipherSuite: 'EDHOC suite 2 (on paper)', flights, application: [] };
}

/**
 * Bytes added to a 64-byte CoAP message by each protection: a DTLS 1.2 record with CCM_8 (13 + 8 + 8),
 * a DTLS 1.3 record with the unified header (1 + 2 + 2, inner type 1, tag 8), and OSCORE (RFC 8613:
 * the OSCORE option ≈ 1 option header + 1 flag byte + 1 partial IV + 1 kid, the outer code and payload
 * marker moved, the 8-byte tag) ≈ 12.
 */
export const RECORD_OVERHEAD = { 'dtls1.2': 29, 'dtls1.3': 14, oscore: 12 } as const;
