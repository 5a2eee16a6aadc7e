/**
 * The demo resources of `securesense coap serve` (issue 4): `/.well-known/core`, `/time`
 * (observable, changes every second), `/echo` (POST/PUT return the payload, of any size), `/large`
 * (4 KiB, so that Block2 is needed) and `/counter` (observable, +1 every second). Also used by the
 * interop tests and the benchmark, so that they exercise the same server the CLI runs.
 */
import { ContentFormat } from './options.ts';
import { type CoapRequest, CoapServer, type CoapServerOptions } from './server.ts';

export interface DemoServer {
  server: CoapServer;
  /** Requests handled per path (the lossy test proves a POST is executed once). */
  hits: Map<string, number>;
  /** Stops the timers and closes the server. */
  close(): Promise<void>;
}

/** 4096 bytes: lines "NNNN abcdefghijklmnopqrstuvwxyz…" so that a misplaced block shows. */
export function largeBody(): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4096; i++) {
    const line = `${String(i).padStart(4, '0')} abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, 4096);
}

export function createDemoServer(
  opts: CoapServerOptions & { tickMs?: number; onRequest?: (req: CoapRequest) => void } = {},
): DemoServer {
  const server = new CoapServer(opts);
  const hits = new Map<string, number>();
  const count = (req: CoapRequest) => {
    if (req.notification) return;
    const k = `${req.method} ${req.path}`;
    hits.set(k, (hits.get(k) ?? 0) + 1);
    opts.onRequest?.(req);
  };
  let counter = 0;
  let posts = 0;
  const large = largeBody();
  const text = ContentFormat['text/plain'];
  server.get(
    '/time',
    (req) => {
      count(req);
      return { payload: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(), contentFormat: text, maxAge: 1 };
    },
    { observable: true, title: 'Current time', rt: 'clock', produces: [text] },
  );
  server.get(
    '/counter',
    (req) => {
      count(req);
      return { payload: String(counter), contentFormat: text, maxAge: 1 };
    },
    { observable: true, title: 'Counter, +1 a second', produces: [text] },
  );
  server.get(
    '/large',
    (req) => {
      count(req);
      return { payload: large, contentFormat: text };
    },
    { title: '4 KiB text', produces: [text], rt: 'block' },
  );
  const echo = (req: CoapRequest) => {
    count(req);
    if (req.method === 'POST') posts++;
    return { payload: req.payload, contentFormat: req.contentFormat };
  };
  server.post('/echo', echo, { title: 'Echo' });
  server.put('/echo', echo);
  server.get('/echo', (req) => {
    count(req);
    return { payload: `POSTs so far: ${posts}`, contentFormat: text };
  });
  const tick = setInterval(() => {
    counter++;
    server.notify('/counter').catch(() => {});
    server.notify('/time').catch(() => {});
  }, opts.tickMs ?? 1000);
  tick.unref();
  return {
    server,
    hits,
    async close() {
      clearInterval(tick);
      await server.close();
    },
  };
}
