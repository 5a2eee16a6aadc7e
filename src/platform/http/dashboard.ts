/** The dashboard (`web/`), served by the platform at `/`. */
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const WEB_DIR = new URL('../../../web/', import.meta.url);
const JS = 'text/javascript; charset=utf-8';
const WEB_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/web/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/web/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** The page's ES modules: every `web/*.js` (one per concern: api, router, chart, pages…). */
function modules(): Record<string, { file: string; type: string }> {
  const out: Record<string, { file: string; type: string }> = {};
  for (const f of readdirSync(WEB_DIR)) if (/^[\w-]+\.js$/.test(f)) out[`/web/${f}`] = { file: f, type: JS };
  return out;
}

/** The static dashboard: its files read once, served with a CSP that allows only this origin. */
export function dashboard(app: FastifyInstance): void {
  const bodies = new Map<string, Buffer>();
  let files: Record<string, { file: string; type: string }>;
  try {
    files = { ...WEB_FILES, ...modules() };
    for (const [path, { file }] of Object.entries(files)) bodies.set(path, readFileSync(new URL(file, WEB_DIR)));
  } catch {
    return; // an installation without web/: the API alone
  }
  for (const [path, { type }] of Object.entries(files)) {
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
