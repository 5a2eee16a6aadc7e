/**
 * The service without HTTP, as the CoAP API uses it: a device caller bound to a
 * resource, point events for observers, and password/token handling.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpStatusOf } from '../../src/platform/http/errors.ts';
import { type Caller, type DataPoint, PlatformError } from '../../src/platform/model.ts';
import { hashPassword, PlatformService, verifyPassword } from '../../src/platform/service.ts';
import { openStore } from '../../src/platform/store/index.ts';
import { bothEngines } from './engines.ts';

const status = (code: number) => (e: unknown) => e instanceof PlatformError && httpStatusOf(e) === code;

bothEngines('a device caller may push data to its resource only, and observers see each batch', async (t, tg) => {
  const store = await openStore({ db: tg.db, schema: tg.schema });
  t.after(() => store.close());
  let clock = 1_000;
  const service = new PlatformService({ store, now: () => clock });
  const anon: Caller = { kind: 'anonymous' };
  const { user } = await service.createUser(anon, { username: 'ann', password: 'a good password' });
  const owner: Caller = { kind: 'user', userId: user.id };
  const { resource: a } = await service.createResource(owner, user.id, { label: 'a' });
  const { resource: b } = await service.createResource(owner, user.id, { label: 'b' });
  const device = service.deviceCaller(a.id);

  const seen: DataPoint[][] = [];
  const first = await service.postResourceData(device, user.id, a.id, {
    body: Buffer.from('{"temp": 20.5}'),
    contentType: 'application/json',
  });
  assert.equal(first.stored, 1);
  const sid = first.created[0].id;
  const unsubscribe = service.subscribe(sid, (pts) => seen.push(pts));
  clock = 2_000;
  await service.postResourceData(device, user.id, a.id, { body: Buffer.from('{"temp": 21}'), contentType: null });
  clock = 3_000;
  await service.postStreamData(device, user.id, a.id, sid, [{ value: 22 }, { value: 23, time: 2_500 }]);
  unsubscribe();
  await service.postStreamData(owner, user.id, a.id, sid, [{ value: 24, time: 4_000 }]);
  assert.deepEqual(seen, [
    [{ time: 2_000, value: 21 }],
    [
      { time: 3_000, value: 22 },
      { time: 2_500, value: 23 },
    ],
  ]);

  const data = await service.getStreamData(device, user.id, a.id, sid, { limit: 10 });
  assert.deepEqual(
    data.points.map((p) => p.value),
    [20.5, 21, 23, 22, 24],
  );
  await assert.rejects(
    service.postResourceData(device, user.id, b.id, { body: Buffer.from('{"x":1}'), contentType: null }),
    status(403),
  );
  await assert.rejects(service.createStream(device, user.id, a.id, { label: 'x' }), status(403));
  await assert.rejects(service.listResources(device, user.id), status(403));
});

test('passwords are scrypt records with salt and parameters; tokens are stored only hashed', async () => {
  const rec = await hashPassword('correct horse');
  assert.match(rec, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(rec, await hashPassword('correct horse'), 'salted');
  assert.equal(await verifyPassword('correct horse', rec), true);
  assert.equal(await verifyPassword('wrong horse', rec), false);
  assert.equal(await verifyPassword('x', 'md5$abc'), false);

  const store = await openStore({ db: ':memory:' });
  try {
    const service = new PlatformService({ store });
    const { user, token } = await service.createUser(
      { kind: 'anonymous' },
      { username: 'ann', password: 'a good password' },
    );
    const row = await store.getUser(user.id);
    assert.ok(row);
    assert.notEqual(row.tokenHash, token);
    assert.ok(!JSON.stringify(row).includes(token));
    assert.deepEqual(await service.authenticate(token), { kind: 'user', userId: user.id });
    await assert.rejects(service.authenticate(`${token}x`), status(401));
    await assert.rejects(service.authenticate('x'.repeat(1000)), status(401));
    assert.deepEqual(await service.authenticate(undefined), { kind: 'anonymous' });
  } finally {
    await store.close();
  }
});
