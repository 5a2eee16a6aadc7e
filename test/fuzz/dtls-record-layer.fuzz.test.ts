/**
 * Mutation fuzzing of the record layer (src/dtls/session.ts): AES-128-CCM-8 records of epoch 1
 * (RFC 6655, RFC 6347 §4.1.2.1), damaged, then split and opened by the peer's RecordLayer. A record
 * that opens must be byte for byte one that was sent and give its plaintext, once: the header
 * fields are in the additional data and the tag covers the rest, and the replay window (§4.1.2.6)
 * refuses a second copy. (A damaged epoch field that reads 0 gives a plaintext record, which the
 * association never takes data from.) Everything else is dropped silently (undefined), never thrown.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RecordLayer } from '../../src/dtls/session.ts';
import { ContentType, parseRecords } from '../../src/dtls/wire/record.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

const keys = { a: { key: randomBytes(16), iv: randomBytes(4) }, b: { key: randomBytes(16), iv: randomBytes(4) } };

test('mutated protected records: dropped silently unless byte-identical to a sent one, and then delivered once', (t) => {
  const perSeed = fuzzIterations(20000);
  const failures: FuzzFailure[] = [];
  let opened = 0;
  let ran = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x5e55);
    const sender = new RecordLayer();
    sender.installKeys(1, keys.a, keys.b);
    sender.writeEpoch = 1;
    const sent = new Map<string, Buffer>();
    const records: Buffer[] = [];
    for (let i = 0; i < 32; i++) {
      const pt = rng.bytes(rng.int(200));
      const type = rng.pick([ContentType.application_data, ContentType.alert, ContentType.handshake]);
      const rec = sender.protect(type, pt);
      sent.set(rec.toString('hex'), pt);
      records.push(rec);
    }
    const receiver = new RecordLayer();
    receiver.installKeys(1, keys.b, keys.a);
    const delivered = new Set<string>();
    for (let i = 0; i < perSeed; i++) {
      const base = rng.pick(records);
      const d = rng.chance(0.1)
        ? base
        : mutate(rng, base, { others: records, lengthFields: [{ offset: 11, width: 2 }] });
      ran++;
      try {
        for (const rec of parseRecords(d)) {
          const pt = receiver.unprotect(rec);
          // Epoch 0 is plaintext by definition (§4.1): the association takes no data from it.
          if (pt === undefined || rec.epoch === 0) continue;
          opened++;
          const hex = Buffer.concat([
            Buffer.from([rec.type, rec.version >> 8, rec.version & 0xff, rec.epoch >> 8, rec.epoch & 0xff]),
            Buffer.from(rec.seq.toString(16).padStart(12, '0'), 'hex'),
            Buffer.from([rec.fragment.length >> 8, rec.fragment.length & 0xff]),
            rec.fragment,
          ]).toString('hex');
          const original = sent.get(hex);
          if (!original) throw new Error('a record that was never sent opened');
          if (!original.equals(pt)) throw new Error('a record opened to other plaintext');
          if (delivered.has(hex)) throw new Error('a record was delivered twice');
          delivered.add(hex);
        }
      } catch (err) {
        failures.push({
          seed,
          iteration: i,
          input: d.toString('hex'),
          error: `${(err as Error).name}: ${(err as Error).message}`,
        });
      }
    }
  }
  t.diagnostic(`${ran} datagrams, ${opened} records opened (each an unmodified original, once)`);
  assert.ok(opened > 0, 'some unmodified records were opened');
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});
