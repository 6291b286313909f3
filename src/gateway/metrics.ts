/**
 * The gateway's /metrics (docs/gateway.md, Metrics): its own series through prom-client, in a
 * registry of its own (never prom-client's global one), followed by every service's counters
 * and latency gathered from their instances at scrape time (service-metrics.ts). Answered in
 * the Prometheus text format to GET and HEAD.
 */
import type { ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GatewayCore } from './core.js';
import type { AnswerRecord, Exchange } from './exchange.js';
import { ServiceMetrics } from './service-metrics.js';
import { LATENCY_BUCKETS_S } from './service-totals.js';

/** The `service` label of requests no service answered (404, 405, the gateway's own endpoints, …). */
export const NO_SERVICE = '(none)';
/** Methods kept as they are in the `method` label; any other is `OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export interface GatewayMetricsOptions {
  /** Also the process's own series (prom-client's default metrics: CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean | undefined;
  /** How long each instance has to answer a scrape (ms). */
  scrapeTimeoutMs?: number | undefined;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'service' | 'method' | 'status_class'>;
  private readonly duration: Histogram<'service'>;
  private readonly bytes: Counter<'service'>;
  private readonly inFlight: Gauge;
  private readonly failures: Counter<'service'>;
  private readonly services: ServiceMetrics;

  constructor(
    private readonly core: GatewayCore,
    options: GatewayMetricsOptions = {},
  ) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'warren_gateway_requests_total',
      help: 'Requests answered by the gateway, by service, method and status class.',
      labelNames: ['service', 'method', 'status_class'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: 'warren_gateway_request_duration_seconds',
      help: "Time from a request's arrival to its answer's write, by service.",
      labelNames: ['service'] as const,
      buckets: [...LATENCY_BUCKETS_S],
      registers,
    });
    this.bytes = new Counter({
      name: 'warren_gateway_response_bytes_total',
      help: 'Bytes of the bodies of the answers (after compression), by service.',
      labelNames: ['service'] as const,
      registers,
    });
    this.inFlight = new Gauge({ name: 'warren_gateway_requests_in_flight', help: 'Requests being served now.', registers });
    this.failures = new Counter({
      name: 'warren_gateway_metrics_scrape_failures_total',
      help: 'Instances that did not answer warren.metrics in time during a scrape, by service.',
      labelNames: ['service'] as const,
      registers,
    });
    new Gauge({
      name: 'warren_gateway_routes',
      help: 'Routes the gateway serves now.',
      registers,
      collect() {
        this.set(core.table.routes.length);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.services = new ServiceMetrics({
      client: core.client,
      services: () => core.follower.services(),
      onFailures: (service, count) => this.failures.inc({ service }, count),
      timeoutMs: options.scrapeTimeoutMs,
    });
    core.observe((record) => this.observe(record));
  }

  /** A request is being served until `res` closes (answered, or its connection gone). */
  track(res: ServerResponse): void {
    this.inFlight.inc();
    res.once('close', () => this.inFlight.dec());
  }

  private observe(record: AnswerRecord): void {
    const service = record.service ?? NO_SERVICE;
    const method = METHODS.has(record.method) ? record.method : 'OTHER';
    this.requests.inc({ service, method, status_class: `${Math.floor(record.status / 100)}xx` });
    this.duration.observe({ service }, record.ms / 1000);
    if (record.bytes > 0) this.bytes.inc({ service }, record.bytes);
  }

  /** The whole exposition: the services' series are gathered first, so this scrape's failures are counted in it. */
  async text(): Promise<string> {
    const services = await this.services.scrape();
    const own = await this.registry.metrics();
    return `${own.endsWith('\n') ? own : `${own}\n`}${services}`;
  }

  /** The endpoint: GET and HEAD only. */
  readonly endpoint = (exchange: Exchange): void => {
    const core = this.core;
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') {
      core.fail(exchange, 405, 'WARREN_METHOD_NOT_ALLOWED', `${exchange.method} is not allowed here`, { allow: 'GET, HEAD' });
      return;
    }
    this.text().then(
      (body) =>
        core.send(
          exchange,
          200,
          { 'content-type': this.registry.contentType, 'cache-control': 'no-store', 'x-request-id': exchange.requestId },
          body,
        ),
      (error: unknown) =>
        core.fail(exchange, 500, 'WARREN_INTERNAL', `the metrics could not be gathered: ${(error as Error).message ?? String(error)}`),
    );
  };
}
