/**
 * Operations: `GET /health` (liveness: the process answers), `GET /ready` (readiness: the
 * database answers within a bound; 503 when not, so a load balancer stops sending traffic) and
 * `GET /metrics` (Prometheus text format, metrics.ts). None needs authentication; none touches a
 * user's data.
 */
import type { FastifyInstance } from 'fastify';
import type { PlatformMetrics } from '../../metrics.ts';

export interface OpsOptions {
  metrics?: PlatformMetrics;
  /** Resolves when the platform can serve (the database answers); rejects with the reason when not. */
  ready?: () => Promise<void>;
  /** How long `/ready` waits for `ready`, ms. Default 2000. */
  readyTimeoutMs?: number;
}

/** Rejects after `ms` unless `p` settles first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export async function opsRoutes(app: FastifyInstance, opts: OpsOptions): Promise<void> {
  const hide = { hide: true, tags: ['operations'] };
  app.get('/health', { schema: { ...hide, summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get('/ready', { schema: { ...hide, summary: 'Readiness: the database answers' } }, async (req, reply) => {
    if (!opts.ready) return { status: 'ready' };
    try {
      await within(opts.ready(), opts.readyTimeoutMs ?? 2000, 'the database');
      return { status: 'ready' };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'not ready');
      reply.status(503).header('retry-after', '5');
      return { error: 'Service Unavailable', message: `not ready: ${(err as Error).message}` };
    }
  });

  const metrics = opts.metrics;
  if (metrics) {
    app.get('/metrics', { schema: { ...hide, summary: 'Prometheus metrics' } }, async (_req, reply) => {
      const { contentType, body } = await metrics.render();
      reply.type(contentType);
      return body;
    });
  }
}
