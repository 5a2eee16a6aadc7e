import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { verifyData } from '../../../src/dtls/crypto/keys.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { checkPeerFinished } from '../../../src/dtls/handshake/finished.ts';
import { Transcript } from '../../../src/dtls/handshake/transcript.ts';
import type { HandshakeHost } from '../../../src/dtls/handshake/types.ts';
import { RecordLayer } from '../../../src/dtls/session.ts';
import { encodeFinished } from '../../../src/dtls/wire/finished.ts';
import { HandshakeType } from '../../../src/dtls/wire/handshake.ts';

function host(): HandshakeHost {
  const transcript = new Transcript();
  transcript.add(HandshakeType.client_hello, 0, randomBytes(60));
  transcript.add(HandshakeType.server_hello, 1, randomBytes(70));
  return {
    records: new RecordLayer(),
    transcript,
    remote: { address: '127.0.0.1', port: 1, family: 'IPv4' },
    sendFlight: () => {},
    setNextRecvSeq: () => {},
    complete: () => {},
  };
}

test('peer Finished: the right verify_data passes; any other, or one under epoch 0, is refused', () => {
  const master = randomBytes(48);
  const h = host();
  const good = verifyData(master, 'client finished', h.transcript.digest('finished', 'handshake_hash'));
  const msg = (body: Buffer, epoch = 1) => ({ msgType: HandshakeType.finished, messageSeq: 2, body, epoch });
  checkPeerFinished(msg(encodeFinished(good)), master, 'client finished', h.transcript);
  const isAlert = (d: AlertDescription) => (e: unknown) => e instanceof DtlsAlertError && e.description === d;
  for (const i of [0, 5, 11]) {
    const bad = Buffer.from(good);
    bad[i] ^= 0x80;
    assert.throws(
      () => checkPeerFinished(msg(bad), master, 'client finished', h.transcript),
      isAlert(AlertDescription.decrypt_error),
    );
  }
  // The server's label over the same transcript is not the client's Finished.
  const other = verifyData(master, 'server finished', h.transcript.digest('finished', 'handshake_hash'));
  assert.throws(
    () => checkPeerFinished(msg(other), master, 'client finished', h.transcript),
    isAlert(AlertDescription.decrypt_error),
  );
  assert.throws(
    () => checkPeerFinished(msg(good, 0), master, 'client finished', h.transcript),
    isAlert(AlertDescription.unexpected_message),
  );
  assert.throws(() => checkPeerFinished(msg(good.subarray(0, 11)), master, 'client finished', h.transcript));
});
