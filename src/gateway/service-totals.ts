/**
 * One service's counters added up across its instances, scrape after scrape, so that they only
 * ever grow as Prometheus counters must: each instance's last answer (`warren.metrics` with its
 * latency buckets, docs/protocol.md §13.3) is kept; when an instance goes away, or its counters
 * start again (a new process in the same slot: another `since`, or fewer requests), its last
 * figures move into the service's retired totals instead of vanishing from the sum. An instance
 * that is still listed but did not answer a scrape counts with its last answer. The latency
 * buckets are folded into the fixed bounds of LATENCY_BUCKETS_S as they arrive.
 *
 * A snapshot comes from another process: every figure is checked (a finite number ≥ 0, a bucket
 * index in range) and what is not is read as 0 or skipped, never trusted.
 */
import type { InstanceMetrics } from '../service/instance-metrics.js';
import { LatencyHistogram, type MetricsSnapshot } from '../service/metrics.js';

/** The upper bounds (seconds) of the latency histograms the gateway exposes, its own and the services'. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Most route labels taken from one instance (a service keeps at most 1000, plus two of its own). */
const MAX_ROUTES = 1_002;
/** Separates the parts of a key: no route label from a Warren service holds it. */
const SEP = '\u0000';

/**
 * For each bucket of a service's histogram, the index in LATENCY_BUCKETS_S of the smallest bound
 * at or above everything the bucket holds (LATENCY_BUCKETS_S.length: only +Inf). A latency within
 * 2% below a bound may so be counted under the next bound, never one above a bound under it.
 */
const LE_OF_BUCKET: Uint8Array = (() => {
  const table = new Uint8Array(LatencyHistogram.bucketCount);
  for (let i = 0; i < table.length; i++) {
    const upperS = LatencyHistogram.upperBoundMs(i) / 1000;
    const le = LATENCY_BUCKETS_S.findIndex((bound) => upperS <= bound * (1 + 1e-9));
    table[i] = le < 0 ? LATENCY_BUCKETS_S.length : le;
  }
  return table;
})();

/** The route fields counted per route. */
export const ROUTE_FIELDS = ['requests', 'errors', 'clientErrors'] as const;
export type RouteField = (typeof ROUTE_FIELDS)[number];

/** The keys of the figures kept per instance and in the totals. */
export const keys = {
  requests: 'requests',
  errors: 'errors',
  clientErrors: 'clientErrors',
  /** Sum of the latencies, seconds (instances that sent buckets only). */
  sumS: 'sumS',
  /** Latencies counted in LATENCY_BUCKETS_S[le] (not cumulative); le = length for +Inf. */
  bucket: (le: number) => `le${SEP}${le}`,
  route: (field: RouteField, route: string) => `route${SEP}${field}${SEP}${route}`,
};

/** A route key back into its field and route, or undefined for another key. */
export function routeKey(key: string): { field: RouteField; route: string } | undefined {
  if (!key.startsWith(`route${SEP}`)) return undefined;
  const rest = key.slice(6);
  const at = rest.indexOf(SEP);
  return { field: rest.slice(0, at) as RouteField, route: rest.slice(at + 1) };
}

function figure(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One instance's snapshot as flat figures, and its in-flight calls. */
export function figuresOf(snapshot: MetricsSnapshot): { figures: Map<string, number>; inFlight: number; since: number } {
  const figures = new Map<string, number>();
  const service: Record<string, unknown> = isObject(snapshot) && isObject(snapshot.service) ? snapshot.service : {};
  figures.set(keys.requests, figure(service.requests));
  figures.set(keys.errors, figure(service.errors));
  figures.set(keys.clientErrors, figure(service.clientErrors));
  const buckets = service.buckets;
  if (Array.isArray(buckets)) {
    figures.set(keys.sumS, figure(service.sumMs) / 1000);
    for (let i = 0; i + 1 < buckets.length; i += 2) {
      const index = buckets[i];
      const count = figure(buckets[i + 1]);
      if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= LE_OF_BUCKET.length || count === 0) continue;
      const key = keys.bucket(LE_OF_BUCKET[index as number] as number);
      figures.set(key, (figures.get(key) ?? 0) + count);
    }
  }
  const routes = isObject(snapshot) && isObject(snapshot.routes) ? snapshot.routes : {};
  let taken = 0;
  for (const [route, stats] of Object.entries(routes)) {
    if (taken++ >= MAX_ROUTES) break;
    if (!isObject(stats)) continue;
    for (const field of ROUTE_FIELDS) figures.set(keys.route(field, route), figure(stats[field]));
  }
  return { figures, inFlight: figure(service.inFlight), since: figure(service.since) };
}

interface Seen {
  since: number;
  figures: Map<string, number>;
}

function addInto(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [key, value] of from) into.set(key, (into.get(key) ?? 0) + value);
}

export class ServiceTotals {
  /** What the instances gone (or restarted) had counted. */
  private readonly retired = new Map<string, number>();
  /** The last answer of each instance listed, by socket path. */
  private readonly live = new Map<string, Seen>();
  /** Instances that answered the last scrape, and their calls in flight then. */
  answered = 0;
  inFlight = 0;

  /** Takes one scrape's answers: every instance listed now, with its snapshot or its error. */
  update(answers: readonly InstanceMetrics[]): void {
    const listed = new Set(answers.map((answer) => answer.path));
    for (const [path, seen] of this.live) {
      if (listed.has(path)) continue;
      addInto(this.retired, seen.figures);
      this.live.delete(path);
    }
    this.answered = 0;
    this.inFlight = 0;
    for (const answer of answers) {
      if (answer.snapshot === undefined) continue;
      const { figures, inFlight, since } = figuresOf(answer.snapshot);
      const before = this.live.get(answer.path);
      if (before !== undefined && (before.since !== since || restarted(before.figures, figures))) addInto(this.retired, before.figures);
      this.live.set(answer.path, { since, figures });
      this.answered += 1;
      this.inFlight += inFlight;
    }
  }

  /** The service's figures: the retired ones and every listed instance's last answer, added up. */
  totals(): Map<string, number> {
    const out = new Map(this.retired);
    for (const seen of this.live.values()) addInto(out, seen.figures);
    return out;
  }
}

/** Whether any figure went down: the instance's counters started again. */
function restarted(before: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>): boolean {
  for (const [key, value] of before) if ((now.get(key) ?? 0) < value) return true;
  return false;
}
