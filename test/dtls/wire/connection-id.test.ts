/**
 * RFC 9146 byte layouts: the connection_id extension (§3), the tls12_cid record header and the
 * DTLSInnerPlaintext (§4), and the AEAD additional data (§5.3) — a record sealed by our record
 * layer is compared byte for byte with one built here straight from the RFC's field list.
 */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { cidAdditionalData } from '../../../src/dtls/crypto/ccm-cid.ts';
import { RecordLayer } from '../../../src/dtls/session.ts';
import {
  connectionIdExtension,
  decodeInnerPlaintext,
  encodeInnerPlaintext,
  parseConnectionIdExtension,
} from '../../../src/dtls/wire/connection-id.ts';
import { ContentType, parseRecords } from '../../../src/dtls/wire/record.ts';

test('connection_id extension: type 54, opaque cid<0..255>', () => {
  const e = connectionIdExtension(Buffer.from('a1b2c3', 'hex'));
  assert.equal(e.type, 54);
  assert.equal(e.data.toString('hex'), '03a1b2c3');
  assert.deepEqual(parseConnectionIdExtension(e), Buffer.from('a1b2c3', 'hex'));
  assert.equal(parseConnectionIdExtension(connectionIdExtension(Buffer.alloc(0))).length, 0);
  assert.throws(() => parseConnectionIdExtension({ type: 54, data: Buffer.from('05a1', 'hex') }));
  assert.throws(() => parseConnectionIdExtension({ type: 54, data: Buffer.from('01a1ff', 'hex') }));
});

test('DTLSInnerPlaintext: content, real type, zero padding; all zeros is invalid', () => {
  const inner = encodeInnerPlaintext(Buffer.from('hi'), ContentType.application_data, 3);
  assert.equal(inner.toString('hex'), '686917000000');
  assert.deepEqual(decodeInnerPlaintext(inner), { type: ContentType.application_data, content: Buffer.from('hi') });
  assert.equal(decodeInnerPlaintext(Buffer.alloc(4)), undefined);
  assert.equal(decodeInnerPlaintext(Buffer.from('6819', 'hex')), undefined, 'tls12_cid inside is refused');
});

test('AEAD additional data, field by field (RFC 9146 §5.3)', () => {
  const aad = cidAdditionalData(0xfefd, 1, 0x0102030405, Buffer.from('c0ffee', 'hex'), 0x1234);
  assert.equal(
    aad.toString('hex'),
    [
      'ffffffffffffffff', // seq_num_placeholder
      '19', // tls12_cid
      '03', // cid_length
      '19', // tls12_cid
      'fefd', // DTLSCiphertext.version
      '0001', // epoch
      '000102030405', // sequence_number
      'c0ffee', // cid
      '1234', // length_of_DTLSInnerPlaintext
    ].join(''),
  );
});

test('a tls12_cid record from the record layer equals one built from the RFC text, and opens again', () => {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const iv = Buffer.from('a0a1a2a3', 'hex');
  const cid = Buffer.from('5ec5e5', 'hex');
  const sender = new RecordLayer();
  sender.installKeys(1, { key, iv }, { key, iv });
  sender.setConnectionIds(Buffer.alloc(0), cid);
  sender.writeEpoch = 1;
  const rec = sender.protect(ContentType.application_data, Buffer.from('hello'));

  assert.equal(rec.toString('hex'), byHand(0).toString('hex'));
  // Past a few records the key gets a kept CCM context (crypto/ccm-context.ts): same bytes.
  let last = rec;
  for (let i = 1; i <= 20; i++) last = sender.protect(ContentType.application_data, Buffer.from('hello'));
  assert.equal(last.toString('hex'), byHand(20).toString('hex'));

  // The receiver parses it with its CID length and gets the real type back.
  const receiver = new RecordLayer();
  receiver.installKeys(1, { key, iv }, { key, iv });
  receiver.setConnectionIds(cid, Buffer.alloc(0));
  assert.equal(parseRecords(rec).length, 0, 'without a CID length the record is not parsed');
  const [r] = parseRecords(rec, cid.length);
  assert.equal(r.type, ContentType.tls12_cid);
  assert.deepEqual(r.cid, cid);
  assert.equal(receiver.unprotect(r)?.toString(), 'hello');
  assert.equal(r.type, ContentType.application_data);
  for (let i = 1; i <= 20; i++) {
    const [x] = parseRecords(byHand(i), cid.length);
    assert.equal(receiver.unprotect(x)?.toString(), 'hello', `record ${i}`);
  }
  const tampered = byHand(21);
  tampered[tampered.length - 1] ^= 1;
  assert.equal(receiver.unprotect(parseRecords(tampered, cid.length)[0]), undefined);
  checkRefusals(receiver);
});

/** A record under another CID, or a plain record once CIDs are in use, is dropped. */
function checkRefusals(receiver: RecordLayer): void {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const iv = Buffer.from('a0a1a2a3', 'hex');
  const other = new RecordLayer();
  other.installKeys(1, { key, iv }, { key, iv });
  other.setConnectionIds(Buffer.alloc(0), Buffer.from('5ec5e6', 'hex'));
  other.writeEpoch = 1;
  const [wrong] = parseRecords(other.protect(ContentType.application_data, Buffer.from('x')), 3);
  assert.equal(receiver.unprotect(wrong), undefined);
  const plain = new RecordLayer();
  plain.installKeys(1, { key, iv }, { key, iv });
  plain.writeEpoch = 1;
  const [p] = parseRecords(plain.protect(ContentType.application_data, Buffer.from('y')));
  assert.equal(receiver.unprotect(p), undefined);
}

/** The tls12_cid record of 'hello' at sequence number `seq`, built from the RFC text alone. */
function byHand(seq: number): Buffer {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const iv = Buffer.from('a0a1a2a3', 'hex');
  const cid = Buffer.from('5ec5e5', 'hex');
  // Header: type 25, version, epoch 1, seq, cid, length; explicit nonce = epoch ‖ seq.
  const inner = Buffer.concat([Buffer.from('hello'), Buffer.of(23)]);
  const explicit = Buffer.from('0001000000000000', 'hex');
  explicit.writeUInt32BE(seq, 4);
  const aad = Buffer.concat([
    Buffer.alloc(8, 0xff),
    Buffer.of(25, cid.length, 25),
    Buffer.from('fefd', 'hex'),
    explicit,
    cid,
    Buffer.of(0, inner.length),
  ]);
  const c = createCipheriv('aes-128-ccm', key, Buffer.concat([iv, explicit]), { authTagLength: 8 });
  c.setAAD(aad, { plaintextLength: inner.length });
  const sealed = Buffer.concat([c.update(inner), c.final(), c.getAuthTag()]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(explicit.length + sealed.length);
  return Buffer.concat([Buffer.from('19fefd0001', 'hex'), explicit.subarray(2), cid, length, explicit, sealed]);
}
