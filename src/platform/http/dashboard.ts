/** The dashboard (`web/`), served by the platform at `/`. */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const WEB_DIR = new URL('../../../web/', import.meta.url);
const WEB_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/web/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/web/live.js': { file: 'live.js', type: 'text/javascript; charset=utf-8' },
  '/web/overview.js': { file: 'overview.js', type: 'text/javascript; charset=utf-8' },
  '/web/tokens.js': { file: 'tokens.js', type: 'text/javascript; charset=utf-8' },
  '/web/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/web/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** The static dashboard: its files read once, served with a CSP that allows only this origin. */
export function dashboard(app: FastifyInstance): void {
  const bodies = new Map<string, Buffer>();
  try {
    for (const [path, { file }] of Object.entries(WEB_FILES)) bodies.set(path, readFileSync(new URL(file, WEB_DIR)));
  } catch {
    return; // an installation without web/: the API alone
  }
  for (const [path, { type }] of Object.entries(WEB_FILES)) {
    const body = bodies.get(path)!;
    app.get(path, { schema: { hide: true } }, async (_req, reply) => {
      reply
        .type(type)
        .header(
          'content-security-policy',
          "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        .header('x-content-type-options', 'nosniff');
      return body;
    });
  }
}
