/**
 * Mutation fuzzing of handshake reassembly (src/dtls/handshake/reassembly.ts, RFC 6347 §4.2.3):
 * real messages cut into fragments, delivered out of order, duplicated, overlapping, and mixed with
 * mutated fragments (offsets, lengths, types and message_seq set to 0/max/off-by-one). add() never
 * throws anything but a DtlsAlertError, the bytes held stay under the bound, a message taken has
 * its declared length, and with only genuine fragments the message comes out exactly as sent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsAlertError } from '../../src/dtls/errors.ts';
import { ReassemblyBuffer } from '../../src/dtls/handshake/reassembly.ts';
import {
  encodeHandshakeFragment,
  type HandshakeFragment,
  parseHandshakeFragments,
} from '../../src/dtls/wire/handshake.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

const MAX_BUFFERED = 8192;

function fragments(rng: Rng, msgType: number, messageSeq: number, body: Buffer): HandshakeFragment[] {
  const out: HandshakeFragment[] = [];
  for (let off = 0; off < body.length || (off === 0 && body.length === 0); ) {
    const len = Math.min(body.length - off, 1 + rng.int(300));
    out.push({
      msgType,
      length: body.length,
      messageSeq,
      fragmentOffset: off,
      fragment: body.subarray(off, off + len),
    });
    off += len;
    if (body.length === 0) break;
  }
  return out;
}

test('reassembly of genuine, duplicated, overlapping and mutated fragments: bounded, never a stray exception, exact when genuine', (t) => {
  const perSeed = fuzzIterations(800);
  const failures: FuzzFailure[] = [];
  let complete = 0;
  let ran = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x4ea5);
    for (let i = 0; i < perSeed; i++) {
      ran++;
      const buf = new ReassemblyBuffer({ maxBufferedBytes: MAX_BUFFERED, maxMessageLength: 4096, maxAhead: 4 });
      const messages = [0, 1, 2].map((k) => ({ seq: k, type: 11 + k, body: rng.bytes(rng.int(3000)) }));
      let genuine = messages.flatMap((m) => fragments(rng, m.type, m.seq, m.body));
      // Duplicates and overlaps: the same bytes again, cut differently.
      if (rng.chance(0.5)) genuine = genuine.concat(fragments(rng, messages[0].type, 0, messages[0].body));
      const forged = rng.chance(0.5);
      let all: Buffer[] = genuine.map(encodeHandshakeFragment);
      if (forged) {
        all = all.map((f) =>
          rng.chance(0.3)
            ? mutate(rng, f, {
                others: all,
                lengthFields: [
                  { offset: 1, width: 3 },
                  { offset: 4, width: 2 },
                  { offset: 6, width: 3 },
                  { offset: 9, width: 3 },
                ],
              })
            : f,
        );
      }
      // Out of order.
      for (let k = all.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [all[k], all[j]] = [all[j], all[k]];
      }
      let input = '';
      try {
        for (const d of all) {
          input = d.toString('hex').slice(0, 80);
          let frags: HandshakeFragment[];
          try {
            frags = parseHandshakeFragments(d);
          } catch (err) {
            if (err instanceof DtlsAlertError) continue;
            throw err;
          }
          for (const f of frags) {
            try {
              buf.add(f, 0);
            } catch (err) {
              if (!(err instanceof DtlsAlertError)) throw err;
            }
            if (buf.size > MAX_BUFFERED) throw new Error(`holds ${buf.size} bytes`);
          }
        }
        for (const m of messages) {
          const got = buf.take(m.seq);
          if (!got) {
            if (!forged && buf.size + m.body.length <= MAX_BUFFERED && m.seq === 0)
              throw new Error('genuine message 0 incomplete');
            continue;
          }
          complete++;
          if (!forged && !got.body.equals(m.body)) throw new Error('genuine fragments reassembled to other bytes');
          if (got.msgType === m.type && got.body.length > 4096) throw new Error('message longer than allowed');
        }
      } catch (err) {
        failures.push({ seed, iteration: i, input, error: `${(err as Error).name}: ${(err as Error).message}` });
      }
    }
  }
  t.diagnostic(`${ran} fragment sets, ${complete} messages reassembled`);
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});
