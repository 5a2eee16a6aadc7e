/**
 * The demo resources of `securesense coap serve`: `/.well-known/core`, `/time`
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
  // Every demo route has a fixed path, so the key of its counter is a constant, not built per request.
  const count = (req: CoapRequest, k: string) => {
    if (req.notification) return;
    hits.set(k, (hits.get(k) ?? 0) + 1);
    opts.onRequest?.(req);
  };
  // The time changes once a second: its representation is built once a second, not per request.
  let second = -1;
  let now = Buffer.alloc(0);
  const currentTime = (): Buffer => {
    const s = Math.floor(Date.now() / 1000);
    if (s !== second) {
      second = s;
      now = Buffer.from(new Date(s * 1000).toISOString());
    }
    return now;
  };
  let counter = 0;
  let posts = 0;
  const large = largeBody();
  const text = ContentFormat['text/plain'];
  server.get(
    '/time',
    (req) => {
      count(req, 'GET /time');
      return { payload: currentTime(), contentFormat: text, maxAge: 1 };
    },
    { observable: true, title: 'Current time', rt: 'clock', produces: [text] },
  );
  server.get(
    '/counter',
    (req) => {
      count(req, 'GET /counter');
      return { payload: String(counter), contentFormat: text, maxAge: 1 };
    },
    { observable: true, title: 'Counter, +1 a second', produces: [text] },
  );
  server.get(
    '/large',
    (req) => {
      count(req, 'GET /large');
      return { payload: large, contentFormat: text };
    },
    { title: '4 KiB text', produces: [text], rt: 'block' },
  );
  const echo = (req: CoapRequest) => {
    count(req, `${req.method} /echo`);
    if (req.method === 'POST') posts++;
    return { payload: req.payload, contentFormat: req.contentFormat };
  };
  server.post('/echo', echo, { title: 'Echo' });
  server.put('/echo', echo);
  server.get('/echo', (req) => {
    count(req, 'GET /echo');
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
