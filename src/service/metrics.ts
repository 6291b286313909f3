/**
 * In-process request metrics of a service, per route and in total: requests, errors (5xx),
 * client errors (4xx), in-flight requests and a latency histogram (p50, p99, mean, max).
 * Plain data in (a route label, a status, a duration) and plain JSON out (snapshot()), so it
 * knows nothing of HTTP, the peer or Prometheus; those read snapshots.
 */
import { performance } from 'node:perf_hooks';
import { invalidArgument } from '../errors.js';

// Log-scale buckets as in DDSketch (Masson, Rim, Lee, VLDB 2019): bucket i holds the values in
// (LOWEST·γ^(i-1), LOWEST·γ^i], and answering 2·LOWEST·γ^i/(γ+1) for any of them is within
// ACCURACY of the true value. With 1% that is ~900 buckets from 1 µs to 60 s: 7 KiB per
// histogram, whatever the number of samples, and one Math.log per record.
const ACCURACY = 0.01;
const GAMMA = (1 + ACCURACY) / (1 - ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Smallest latency told apart from zero: 1 µs. Anything at or below it lands in bucket 0. */
const LOWEST_MS = 0.001;
/** Largest latency with its own bucket: 60 s. Anything above shares the last bucket (max stays exact). */
const HIGHEST_MS = 60_000;
const BUCKET_COUNT = Math.ceil(Math.log(HIGHEST_MS / LOWEST_MS) / LOG_GAMMA) + 1;

function bucketIndex(ms: number): number {
  if (!(ms > LOWEST_MS && ms < Number.POSITIVE_INFINITY)) return 0;
  const index = Math.ceil(Math.log(ms / LOWEST_MS) / LOG_GAMMA);
  return index < BUCKET_COUNT ? index : BUCKET_COUNT - 1;
}

function bucketValue(index: number): number {
  return index === 0 ? LOWEST_MS : (2 * LOWEST_MS * GAMMA ** index) / (GAMMA + 1);
}

/**
 * A latency histogram with bounded memory and O(1) record. Percentiles are within 1% of a
 * sample's true value (plus the step between neighbouring samples); mean, min and max are exact.
 */
export class LatencyHistogram {
  /** Fixed length ({@link LatencyHistogram.bucketCount}), independent of how many samples were recorded. */
  readonly counts = new Float64Array(BUCKET_COUNT);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  static readonly bucketCount = BUCKET_COUNT;
  static readonly relativeAccuracy = ACCURACY;

  /** Records a duration in ms; a negative or non-finite one counts as 0. */
  record(ms: number): void {
    this.add(bucketIndex(ms), ms);
  }

  /** Records a duration whose bucket index is known, so two histograms can share one log. */
  add(index: number, ms: number): void {
    // NaN fails both comparisons: a negative, NaN or infinite duration counts as 0.
    const value = ms > 0 && ms < Number.POSITIVE_INFINITY ? ms : 0;
    this.counts[index]! += 1;
    this.count += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The q-quantile (0 < q <= 1) by nearest rank, in ms; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  /** Adds every sample of `other` to this histogram (the service's latency is its routes' together). */
  merge(other: LatencyHistogram): void {
    if (other.count === 0) return;
    const counts = this.counts;
    const theirs = other.counts;
    for (let i = 0; i < BUCKET_COUNT; i++) counts[i]! += theirs[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The non-empty buckets as `[index, count, index, count, …]`, by increasing index (§13.3 `buckets`). */
  sparse(): number[] {
    const out: number[] = [];
    const counts = this.counts;
    for (let i = 0; i < BUCKET_COUNT; i++) if (counts[i]! > 0) out.push(i, counts[i]!);
    return out;
  }

  /** The largest latency (ms) bucket `index` holds: 0.001·γ^index; the last bucket has no bound (Infinity). */
  static upperBoundMs(index: number): number {
    return index >= BUCKET_COUNT - 1 ? Number.POSITIVE_INFINITY : LOWEST_MS * GAMMA ** index;
  }

  static bucketIndex(ms: number): number {
    return bucketIndex(ms);
  }
}

/** What snapshot() reports for the service and for each route. Times in ms, rounded to the µs. */
export interface RouteStats {
  /** Completed requests (counted when they end). */
  requests: number;
  /** Completed with a status of 500 or more. */
  errors: number;
  /** Completed with a status from 400 to 499. */
  clientErrors: number;
  /** Begun and not yet ended. */
  inFlight: number;
  /** Latency of completed requests; all 0 before the first one. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** When counting started, in ms since the epoch. */
  since: number;
  /** Only with `{ buckets: true }`, on `service`: the sum of the latencies of completed requests, ms. */
  sumMs?: number;
  /** Only with `{ buckets: true }`, on `service`: the latency histogram's non-empty buckets, `[index, count, …]`. */
  buckets?: number[];
}

export interface MetricsSnapshot {
  service: RouteStats;
  routes: Record<string, RouteStats>;
}

/** The params of `warren.metrics`: none, or `{ buckets: true }` for the histogram's buckets (§13.3). */
export interface SnapshotOptions {
  buckets?: boolean;
}

export interface MetricsOptions {
  /** Most distinct route labels kept (1000); requests on further labels are counted under OTHER_ROUTE. */
  maxRoutes?: number;
  /** Monotonic clock in ms for start() (performance.now). */
  now?: () => number;
  /** Wall clock in ms since the epoch for `since` (Date.now). */
  clock?: () => number;
}

export interface ResolvedMetricsOptions {
  readonly maxRoutes: number;
  readonly now: () => number;
  readonly clock: () => number;
}

/** Settled once: a then() on it runs its callback as a microtask. */
const RESOLVED = Promise.resolve();

/** The label that collects routes past `maxRoutes`. */
export const OTHER_ROUTE = '(other)';

export function resolveMetricsOptions(options: MetricsOptions = {}): ResolvedMetricsOptions {
  const maxRoutes = options.maxRoutes ?? 1000;
  if (!Number.isInteger(maxRoutes) || maxRoutes < 1) throw invalidArgument(`maxRoutes must be a positive integer, got ${maxRoutes}`);
  return Object.freeze({ maxRoutes, now: options.now ?? (() => performance.now()), clock: options.clock ?? Date.now });
}

class Counters {
  requests = 0;
  errors = 0;
  clientErrors = 0;
  inFlight = 0;
  readonly latency = new LatencyHistogram();
  constructor(readonly since: number) {}

  stats(): RouteStats {
    const latency = this.latency;
    return {
      requests: this.requests,
      errors: this.errors,
      clientErrors: this.clientErrors,
      inFlight: this.inFlight,
      p50Ms: roundMs(latency.percentile(0.5)),
      p99Ms: roundMs(latency.percentile(0.99)),
      meanMs: roundMs(latency.mean),
      maxMs: roundMs(latency.max),
      since: this.since,
    };
  }
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Counts requests per route and for the whole service. Route labels should come from a bounded
 * set (the route keys, plus one label for requests that matched none); past `maxRoutes`
 * labels, the rest share OTHER_ROUTE so memory stays bounded whatever callers send.
 * @example
 * const metrics = new RouteMetrics();
 * const done = metrics.start('GET /users/:id');
 * // ... serve the request ...
 * done(200);
 * metrics.snapshot().routes['GET /users/:id'].p99Ms;
 */
export class RouteMetrics {
  private readonly options: ResolvedMetricsOptions;
  /** When counting started: the `since` of the service's figures. */
  private readonly since: number;
  /**
   * Every request is counted under exactly one label, so the service's figures are the sum of
   * its routes', added up by snapshot(): a request updates one set of counters, not two.
   */
  private readonly byRoute = new Map<string, Counters>();

  constructor(options?: MetricsOptions) {
    this.options = resolveMetricsOptions(options);
    this.since = this.options.clock();
  }

  /**
   * Marks a request on `route` as begun (in flight) and returns its start time for finish().
   *
   * One clock read per request, not two: within one synchronous run (a batch of calls decoded
   * from one chunk), a request begins at the instant the one before it finished, which is the
   * last clock read. A reading is only reused until the run ends (a microtask forgets it), so
   * time spent waiting between runs is never counted. On a 64-byte echo the second read was a
   * third of the service layer's per-call cost.
   */
  begin(route: string): number {
    this.counters(route).inFlight += 1;
    return this.readingValid ? this.lastReading : this.read();
  }

  /** Ends a request begun with begin(), timing it from `startedAt`. */
  finish(route: string, status: number, startedAt: number): void {
    this.end(route, status, this.read() - startedAt);
  }

  /** Asynchronous calls running, by key, in the order they began (a Map keeps insertion order). */
  private readonly openCalls = new Map<number, number>();
  private nextOpenKey = 0;

  /** An asynchronous call begun at `startedAt` is running; returns the key to close it with. */
  open(startedAt: number): number {
    const key = ++this.nextOpenKey;
    this.openCalls.set(key, startedAt);
    return key;
  }

  close(key: number): void {
    this.openCalls.delete(key);
  }

  /** How long the oldest asynchronous call still running has been running (ms), 0 when none. */
  oldestOpenMs(): number {
    for (const startedAt of this.openCalls.values()) return Math.max(0, this.options.now() - startedAt);
    return 0;
  }

  private lastReading = 0;
  /** lastReading was taken in the current synchronous run. */
  private readingValid = false;
  private readonly forget = () => {
    this.readingValid = false;
  };

  private read(): number {
    const now = this.options.now();
    this.lastReading = now;
    if (!this.readingValid) {
      this.readingValid = true;
      // A reaction on a settled promise, not queueMicrotask(): Node wraps each queueMicrotask
      // callback in an AsyncResource, which cost more than the clock read this saves.
      RESOLVED.then(this.forget);
    }
    return now;
  }

  /**
   * Marks a request begun with begin() as ended with `status` after `durationMs`. An end without
   * its begin does not take inFlight below 0.
   */
  end(route: string, status: number, durationMs: number): void {
    const counters = this.counters(route);
    if (counters.inFlight > 0) counters.inFlight -= 1;
    counters.requests += 1;
    if (status >= 500) counters.errors += 1;
    else if (status >= 400) counters.clientErrors += 1;
    counters.latency.add(bucketIndex(durationMs), durationMs);
  }

  /**
   * Begins a request and returns the function that ends it. Calling the returned function
   * again does nothing. (The dispatcher uses begin/finish, which make no closure per request.)
   */
  start(route: string): (status: number) => void {
    this.counters(route).inFlight += 1;
    const startedAt = this.options.now();
    let ended = false;
    return (status) => {
      if (ended) return;
      ended = true;
      this.finish(route, status, startedAt);
    };
  }

  /** The counters as plain JSON data (a fresh object each call); `buckets` adds `sumMs` and `buckets` to `service`. */
  snapshot(options: SnapshotOptions = {}): MetricsSnapshot {
    const routes: Record<string, RouteStats> = {};
    const service = new Counters(this.since);
    // defineProperty, not assignment: a route label may be any string, '__proto__' included.
    for (const [route, counters] of this.byRoute) {
      Object.defineProperty(routes, route, { value: counters.stats(), enumerable: true, writable: true, configurable: true });
      service.requests += counters.requests;
      service.errors += counters.errors;
      service.clientErrors += counters.clientErrors;
      service.inFlight += counters.inFlight;
      service.latency.merge(counters.latency);
    }
    const stats = service.stats();
    if (options.buckets === true) {
      stats.sumMs = roundMs(service.latency.sum);
      stats.buckets = service.latency.sparse();
    }
    return { service: stats, routes };
  }

  /** The route of the last lookup and its counters: begin() and finish() of one call, and calls in a row, ask for the same. */
  private lastRoute: string | undefined = undefined;
  private lastCounters: Counters | undefined = undefined;

  private counters(route: string): Counters {
    if (route === this.lastRoute) return this.lastCounters as Counters;
    let counters = this.byRoute.get(route);
    if (counters === undefined) {
      if (this.byRoute.size >= this.options.maxRoutes && route !== OTHER_ROUTE) return this.counters(OTHER_ROUTE);
      counters = new Counters(this.options.clock());
      this.byRoute.set(route, counters);
    }
    this.lastRoute = route;
    this.lastCounters = counters;
    return counters;
  }
}
