/**
 * What every answer adds to the gateway's series, counted on the request path with plain
 * numbers: through prom-client, a counter, a histogram and a byte counter cost about 3 µs a
 * request (each call checks and hashes its labels), a tenth of the gateway's own cost. The
 * counts are handed to prom-client's counters at scrape time (one call per label set), and the
 * latency histogram is written from here in the exposition format.
 */
import type { AnswerRecord } from './exchange.js';
import type { Family, Sample } from './exposition.js';
import { LATENCY_BUCKETS_S } from './service-totals.js';

/** The `service` label of requests no service answered (404, 405, the gateway's own endpoints, …). */
export const NO_SERVICE = '(none)';
/** Methods kept as they are in the `method` label; any other is `OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];
const SEP = '\u0000';

export interface RequestLabels {
  service: string;
  method: string;
  status_class: string;
}

interface PerService {
  /** Answers per bound of LATENCY_BUCKETS_S (not cumulative); the last slot is +Inf. */
  readonly buckets: Float64Array;
  sumS: number;
  count: number;
  /** Body bytes not yet handed over. */
  bytes: number;
}

export class RequestTally {
  /** Answers not yet handed over, by label set. */
  private readonly requests = new Map<string, { labels: RequestLabels; count: number }>();
  private readonly services = new Map<string, PerService>();

  add(record: AnswerRecord): void {
    const service = record.service ?? NO_SERVICE;
    const method = METHODS.has(record.method) ? record.method : 'OTHER';
    const statusClass = STATUS_CLASSES[Math.floor(record.status / 100)] ?? 'other';
    const key = `${service}${SEP}${method}${SEP}${statusClass}`;
    const entry = this.requests.get(key);
    if (entry === undefined) this.requests.set(key, { labels: { service, method, status_class: statusClass }, count: 1 });
    else entry.count += 1;
    let figures = this.services.get(service);
    if (figures === undefined) {
      figures = { buckets: new Float64Array(LATENCY_BUCKETS_S.length + 1), sumS: 0, count: 0, bytes: 0 };
      this.services.set(service, figures);
    }
    const seconds = record.ms / 1000;
    let le = 0;
    while (le < LATENCY_BUCKETS_S.length && seconds > (LATENCY_BUCKETS_S[le] as number)) le++;
    (figures.buckets as Float64Array)[le]! += 1;
    figures.sumS += seconds;
    figures.count += 1;
    figures.bytes += record.bytes;
  }

  /** Hands the answers counted since the last call to `into`, once per label set, and forgets them. */
  drainRequests(into: (labels: RequestLabels, count: number) => void): void {
    for (const entry of this.requests.values()) {
      if (entry.count === 0) continue;
      into(entry.labels, entry.count);
      entry.count = 0;
    }
  }

  /** Hands the body bytes counted since the last call to `into`, per service, and forgets them. */
  drainBytes(into: (service: string, bytes: number) => void): void {
    for (const [service, figures] of this.services) {
      if (figures.bytes === 0) continue;
      into(service, figures.bytes);
      figures.bytes = 0;
    }
  }

  /** The latency histogram since the gateway started, per service. */
  durationFamily(): Family {
    const samples: Sample[] = [];
    for (const [service, figures] of this.services) {
      let cumulative = 0;
      for (let le = 0; le <= LATENCY_BUCKETS_S.length; le++) {
        cumulative += figures.buckets[le] as number;
        const bound = le < LATENCY_BUCKETS_S.length ? String(LATENCY_BUCKETS_S[le]) : '+Inf';
        samples.push({ suffix: '_bucket', labels: { service, le: bound }, value: cumulative });
      }
      samples.push({ suffix: '_sum', labels: { service }, value: Math.round(figures.sumS * 1e6) / 1e6 });
      samples.push({ suffix: '_count', labels: { service }, value: figures.count });
    }
    return {
      name: 'warren_gateway_request_duration_seconds',
      type: 'histogram',
      help: "Time from a request's arrival to its answer's write, by service.",
      samples,
    };
  }
}
