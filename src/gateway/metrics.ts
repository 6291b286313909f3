/**
 * The gateway's /metrics (docs/gateway.md, Metrics): its own counters and gauges through
 * prom-client, in a registry of its own (never prom-client's global one), its latency histogram
 * (counted per request without prom-client: request-tally.ts), then every service's counters
 * and latency gathered from their instances at scrape time (service-metrics.ts). Answered in the
 * Prometheus text format to GET and HEAD.
 */
import type { ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { GatewayCore } from './core.js';
import type { Exchange } from './exchange.js';
import { writeFamilies } from './exposition.js';
import { RequestTally } from './request-tally.js';
import { ServiceMetrics } from './service-metrics.js';

export { NO_SERVICE } from './request-tally.js';

export interface GatewayMetricsOptions {
  /** Also the process's own series (prom-client's default metrics: CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean | undefined;
  /** How long each instance has to answer a scrape (ms). */
  scrapeTimeoutMs?: number | undefined;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly tally = new RequestTally();
  /** Requests being served: a plain number on the request path, read by the gauge at scrape time. */
  private inFlight = 0;
  private readonly ended = () => {
    this.inFlight -= 1;
  };
  private readonly failures: Counter<'service'>;
  private readonly services: ServiceMetrics;

  constructor(
    private readonly core: GatewayCore,
    options: GatewayMetricsOptions = {},
  ) {
    const registers = [this.registry];
    const tally = this.tally;
    new Counter({
      name: 'warren_gateway_requests_total',
      help: 'Requests answered by the gateway, by service, method and status class.',
      labelNames: ['service', 'method', 'status_class'] as const,
      registers,
      collect() {
        tally.drainRequests((labels, count) => this.inc(labels, count));
      },
    });
    new Counter({
      name: 'warren_gateway_response_bytes_total',
      help: 'Bytes of the bodies of the answers (after compression), by service.',
      labelNames: ['service'] as const,
      registers,
      collect() {
        tally.drainBytes((service, bytes) => this.inc({ service }, bytes));
      },
    });
    const metrics = this;
    new Gauge({
      name: 'warren_gateway_requests_in_flight',
      help: 'Requests being served now.',
      registers,
      collect() {
        this.set(metrics.inFlight);
      },
    });
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
    core.observe((record) => tally.add(record));
  }

  /** A request is being served until `res` closes (answered, or its connection gone). */
  track(res: ServerResponse): void {
    this.inFlight += 1;
    res.once('close', this.ended);
  }

  /** The whole exposition: the services' series are gathered first, so this scrape's failures are counted in it. */
  async text(): Promise<string> {
    const services = await this.services.scrape();
    const own = await this.registry.metrics();
    return `${own.endsWith('\n') ? own : `${own}\n`}${writeFamilies([this.tally.durationFamily()])}${services}`;
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
