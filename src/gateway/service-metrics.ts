/**
 * The services' series of the gateway's /metrics: at each scrape, every instance of every
 * service the gateway follows is asked for its counters (`warren.metrics` with its latency
 * buckets), all at once and each within a short timeout; an instance that does not answer in
 * time is left out of that scrape and counted as a failure. The answers are added up per
 * service (service-totals.ts) and written as Prometheus families. Scrapes that overlap share one
 * round of questions.
 */
import type { ServiceClient } from '../service/client.js';
import type { InstanceMetrics } from '../service/instance-metrics.js';
import { type Family, type Sample, writeFamilies } from './exposition.js';
import { keys, LATENCY_BUCKETS_S, ROUTE_FIELDS, type RouteField, routeKey, ServiceTotals } from './service-totals.js';

/** How long each instance has to answer a scrape. */
export const SCRAPE_TIMEOUT_MS = 1_000;

export interface ServiceMetricsOptions {
  client: ServiceClient;
  /** The services to ask (those with instances now). */
  services: () => readonly string[];
  /** `count` instances of `service` did not answer a scrape. */
  onFailures: (service: string, count: number) => void;
  timeoutMs?: number | undefined;
}

const ROUTE_FAMILIES: Record<RouteField, { name: string; help: string }> = {
  requests: { name: 'warren_service_route_requests_total', help: 'Calls completed by the route, over every instance.' },
  errors: { name: 'warren_service_route_errors_total', help: 'Calls of the route answered with a status of 500 or more.' },
  clientErrors: { name: 'warren_service_route_client_errors_total', help: 'Calls of the route answered with a status from 400 to 499.' },
};

export class ServiceMetrics {
  private readonly totals = new Map<string, ServiceTotals>();
  private running: Promise<string> | undefined;

  constructor(private readonly options: ServiceMetricsOptions) {}

  /** The services' families as exposition text. */
  scrape(): Promise<string> {
    this.running ??= this.gather().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async gather(): Promise<string> {
    const { client, timeoutMs = SCRAPE_TIMEOUT_MS } = this.options;
    const names = new Set([...this.totals.keys(), ...this.options.services()]);
    await Promise.all(
      [...names].map(async (service) => {
        let answers: InstanceMetrics[];
        try {
          answers = await client.service(service).instanceMetrics({ timeoutMs, buckets: true });
        } catch {
          return; // The socket directory could not be read: the service's figures stay as they were.
        }
        let totals = this.totals.get(service);
        if (totals === undefined) {
          totals = new ServiceTotals();
          this.totals.set(service, totals);
        }
        totals.update(answers);
        const failed = answers.filter((answer) => answer.snapshot === undefined).length;
        if (failed > 0) this.options.onFailures(service, failed);
      }),
    );
    return writeFamilies(this.families());
  }

  private families(): Family[] {
    const family = (name: string, type: Family['type'], help: string): Family => ({ name, type, help, samples: [] });
    const instances = family('warren_service_instances', 'gauge', 'Instances of the service on this host that answered this scrape.');
    const requests = family('warren_service_requests_total', 'counter', 'Calls completed by the service, over every instance.');
    const errors = family('warren_service_errors_total', 'counter', 'Calls answered with a status of 500 or more.');
    const clientErrors = family('warren_service_client_errors_total', 'counter', 'Calls answered with a status from 400 to 499.');
    const inFlight = family(
      'warren_service_requests_in_flight',
      'gauge',
      'Calls begun and not yet answered, in the instances that answered.',
    );
    const duration = family(
      'warren_service_request_duration_seconds',
      'histogram',
      "Latency of the service's completed calls, measured by the instances (those that report buckets).",
    );
    const byRoute = ROUTE_FIELDS.map((field) => family(ROUTE_FAMILIES[field].name, 'counter', ROUTE_FAMILIES[field].help));
    for (const [service, totals] of [...this.totals].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const figures = totals.totals();
      const labels = { service };
      instances.samples.push({ labels, value: totals.answered });
      requests.samples.push({ labels, value: figures.get(keys.requests) ?? 0 });
      errors.samples.push({ labels, value: figures.get(keys.errors) ?? 0 });
      clientErrors.samples.push({ labels, value: figures.get(keys.clientErrors) ?? 0 });
      inFlight.samples.push({ labels, value: totals.inFlight });
      duration.samples.push(...histogramSamples(service, figures));
      for (const [key, value] of [...figures].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const route = routeKey(key);
        if (route === undefined) continue;
        byRoute[ROUTE_FIELDS.indexOf(route.field)]?.samples.push({ labels: { service, route: route.route }, value });
      }
    }
    return [instances, requests, errors, clientErrors, inFlight, duration, ...byRoute];
  }
}

/** A histogram's cumulative `_bucket` samples, then `_sum` and `_count`. */
function histogramSamples(service: string, figures: ReadonlyMap<string, number>): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  for (let le = 0; le <= LATENCY_BUCKETS_S.length; le++) {
    cumulative += figures.get(keys.bucket(le)) ?? 0;
    const bound = le < LATENCY_BUCKETS_S.length ? String(LATENCY_BUCKETS_S[le]) : '+Inf';
    samples.push({ suffix: '_bucket', labels: { service, le: bound }, value: cumulative });
  }
  samples.push({ suffix: '_sum', labels: { service }, value: roundS(figures.get(keys.sumS) ?? 0) });
  samples.push({ suffix: '_count', labels: { service }, value: cumulative });
  return samples;
}

/** Seconds to the µs, so sums of ms fractions print short. */
function roundS(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}
