/**
 * Metrics of `serve --workers N` beside metrics.ts's: the CoAP requests each worker served
 * (`securesense_worker_coap_requests_total{worker}`, from the worker's registry) and the restarts
 * of each worker (`securesense_worker_restarts_total{worker}`, counted by the primary, which binds
 * no port: its series travel with the workers' to the `/metrics` that gathers them all).
 */
import { Counter, Registry } from 'prom-client';

/**
 * A worker's CoAP requests (coap:// and coaps://, every response code), labelled with its number:
 * the sum of the platform's `securesense_coap_requests_total` at each scrape. A restarted worker
 * starts again from 0, as any counter of a new process does.
 */
export function watchWorkerCoap(registry: Registry, node: number, requests: Counter<string>): void {
  const worker = String(node);
  new Counter({
    name: 'securesense_worker_coap_requests_total',
    help: 'CoAP requests answered (coap:// and coaps://), by worker process',
    labelNames: ['worker'] as const,
    registers: [registry],
    async collect() {
      const { values } = await requests.get();
      this.reset();
      this.inc(
        { worker },
        values.reduce((sum, v) => sum + v.value, 0),
      );
    },
  });
}

/** The primary's own series: how often each worker was restarted after it died. */
export class WorkerRestartMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'worker'>;

  constructor(count: number) {
    this.restarts = new Counter({
      name: 'securesense_worker_restarts_total',
      help: 'Worker processes started again after they died (the primary restarts them with backoff)',
      labelNames: ['worker'] as const,
      registers: [this.registry],
    });
    for (let n = 0; n < count; n++) this.restarts.inc({ worker: String(n) }, 0);
  }

  restarted(node: number): void {
    this.restarts.inc({ worker: String(node) });
  }

  /** The registry as JSON, in the form the workers' metrics are gathered and aggregated in. */
  json(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }
}
