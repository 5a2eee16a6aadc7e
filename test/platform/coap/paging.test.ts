/** limit/offset in Uri-Query on the CoAP API's list resources, as on HTTP. */
import assert from 'node:assert/strict';
import type { CoapResponse } from '../../../src/coap/index.ts';
import { bothEngines } from '../engines.ts';
import { newResource, newStream, newUser } from '../helpers.ts';
import { bindPsk, client, startCoapPlatform } from './helpers.ts';

const ids = (r: CoapResponse) => JSON.parse(r.payload.toString('utf8')).map((x: { id: number }) => x.id);

bothEngines('a device pages its streams over coaps:// with ?limit=&offset=', async (t, tg) => {
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token, 'A');
  const sids: number[] = [];
  for (let i = 0; i < 5; i++) sids.push((await newStream(p.base, uid, rid, token, { label: `s${i}` })).sid);
  const key = await bindPsk(p.base, token, uid, rid, 'sensor-a');
  const dev = client(t, { security: { psk: { identity: 'sensor-a', key } } });
  const S = `${p.coapsBase}/users/${uid}/resources/${rid}/streams`;

  assert.deepEqual(ids(await dev.get(S)), sids);
  const seen: number[] = [];
  for (let offset = 0; ; offset += 2) {
    const r = await dev.get(`${S}?limit=2&offset=${offset}`);
    assert.equal(r.status, '2.05', r.payload.toString());
    const page = ids(r);
    seen.push(...page);
    if (page.length < 2) break;
  }
  assert.deepEqual(seen, sids);
  for (const q of ['limit=0', 'limit=1001', 'limit=x', 'offset=-1']) {
    const r = await dev.get(`${S}?${q}`);
    assert.equal(r.status, '4.00', `${q}: ${r.status}`);
    assert.match(r.payload.toString(), /limit|offset/);
  }
});
