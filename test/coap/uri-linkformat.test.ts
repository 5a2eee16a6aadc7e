import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLinks, parseLinks } from '../../src/coap/linkformat.ts';
import { OptionNumber } from '../../src/coap/options.ts';
import { formatCoapUri, parseCoapUri, uriOptions } from '../../src/coap/uri.ts';

test('parses coap:// and coaps:// URIs (RFC 7252 §6) incl. IPv6 literals, default ports, percent-encoding', () => {
  assert.deepEqual(parseCoapUri('coap://example.net/.well-known/core'), {
    scheme: 'coap',
    host: 'example.net',
    port: 5683,
    path: ['.well-known', 'core'],
    query: [],
  });
  assert.deepEqual(parseCoapUri('coaps://[2001:db8::2:1]:61616/a%2Fb/?x=%26&y'), {
    scheme: 'coaps',
    host: '2001:db8::2:1',
    port: 61616,
    path: ['a/b', ''],
    query: ['x=&', 'y'],
  });
  assert.equal(parseCoapUri('COAPS://h').port, 5684);
  assert.deepEqual(parseCoapUri('coap://h/').path, []);
  for (const bad of ['http://h/', 'coap://h/#frag', 'coap://[zz]/', 'coap://h:99999/', 'coap:///x', 'coap://h/%zz']) {
    assert.throws(() => parseCoapUri(bad), TypeError, bad);
  }
  const u = parseCoapUri('coap://example.net:5683/~sensors/temp.xml?a=1');
  assert.equal(formatCoapUri(u), 'coap://example.net/~sensors/temp.xml?a=1');
  const opts = uriOptions(u);
  assert.equal(opts[0].number, OptionNumber.UriHost);
  assert.deepEqual(
    uriOptions(parseCoapUri('coap://[::1]/x')).map((o) => o.number),
    [OptionNumber.UriPath],
  );
});

test('link format (RFC 6690) round-trips and parses what libcoap sends', () => {
  const text =
    '</>;title="General Info";ct=0,</time>;if="clock";rt="ticks";title="Internal Clock";ct=0;obs,</async>;ct=0';
  const links = parseLinks(text);
  assert.equal(links.length, 3);
  assert.deepEqual(links[1], {
    href: '/time',
    attrs: { if: 'clock', rt: 'ticks', title: 'Internal Clock', ct: 0, obs: true },
  });
  assert.deepEqual(parseLinks(formatLinks(links)), links);
  assert.deepEqual(parseLinks('</a>;title="x, y; \\"z\\""')[0].attrs.title, 'x, y; "z"');
  assert.deepEqual(parseLinks('</a>;ct=0;ct=40')[0].attrs.ct, [0, 40]);
  assert.throws(() => parseLinks('</a'), SyntaxError);
  assert.throws(() => parseLinks('x'), SyntaxError);
});
