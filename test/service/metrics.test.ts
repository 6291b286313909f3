/**
 * In-process metrics: counts per route and per service, in-flight up and down, errors apart
 * from client errors, percentiles against the exact ones of seeded and generated samples, an
 * exact mean and max, snapshots that are plain JSON, and memory that does not grow with samples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, OTHER_ROUTE, RouteMetrics, type RouteStats } from '../../src/service/metrics.js';

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal samples in ms (Box-Muller): a long right tail, like real latencies. */
function logNormal(random: () => number, count: number, medianMs: number, sigma: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const u = 1 - random();
    const v = random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    out.push(medianMs * Math.exp(sigma * z));
  }
  return out;
}

/** The exact q-quantile by nearest rank, the definition the histogram estimates. */
function exactPercentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

const relativeError = (estimate: number, exact: number) => Math.abs(estimate - exact) / exact;

function fixedClocks() {
  let monotonic = 1000;
  return {
    advance: (ms: number) => {
      monotonic += ms;
    },
    options: { now: () => monotonic, clock: () => 1_700_000_000_000 },
  };
}

describe('RouteMetrics counts', () => {
  it('counts requests per route and for the service, and in-flight up and down', () => {
    const clocks = fixedClocks();
    const metrics = new RouteMetrics(clocks.options);
    const a1 = metrics.start('GET /a');
    const a2 = metrics.start('GET /a');
    const b1 = metrics.start('POST /b');
    let snap = metrics.snapshot();
    expect(snap.service).toMatchObject({ requests: 0, inFlight: 3 });
    expect(snap.routes['GET /a']).toMatchObject({ requests: 0, inFlight: 2 });
    expect(snap.routes['POST /b']).toMatchObject({ requests: 0, inFlight: 1 });

    clocks.advance(5);
    a1(200);
    clocks.advance(5);
    b1(201);
    snap = metrics.snapshot();
    expect(snap.service).toMatchObject({ requests: 2, inFlight: 1 });
    expect(snap.routes['GET /a']).toMatchObject({ requests: 1, inFlight: 1, maxMs: 5 });
    expect(snap.routes['POST /b']).toMatchObject({ requests: 1, inFlight: 0, maxMs: 10 });

    a2(200);
    a2(500); // a second call of the same ender is ignored
    snap = metrics.snapshot();
    expect(snap.service).toMatchObject({ requests: 3, inFlight: 0, errors: 0 });
    expect(snap.routes['GET /a']).toMatchObject({ requests: 2, inFlight: 0, maxMs: 10 });
  });

  it('counts 5xx as errors and 4xx as client errors, nothing else', () => {
    const metrics = new RouteMetrics();
    for (const status of [200, 201, 204, 301, 304, 399, 400, 401, 404, 405, 499, 500, 502, 503, 504, 599]) {
      metrics.begin('r');
      metrics.end('r', status, 1);
    }
    const { service, routes } = metrics.snapshot();
    expect(service).toMatchObject({ requests: 16, clientErrors: 5, errors: 5 });
    expect(routes.r).toMatchObject({ requests: 16, clientErrors: 5, errors: 5 });
  });

  it('never takes in-flight below zero when end() comes without begin()', () => {
    const metrics = new RouteMetrics();
    metrics.end('GET /x', 200, 1);
    metrics.end('GET /x', 200, 1);
    expect(metrics.snapshot().service).toMatchObject({ requests: 2, inFlight: 0 });
    expect(metrics.snapshot().routes['GET /x']).toMatchObject({ requests: 2, inFlight: 0 });
  });

  it('reports zeros before the first request and `since` from the wall clock', () => {
    const metrics = new RouteMetrics(fixedClocks().options);
    expect(metrics.snapshot()).toEqual({
      service: { requests: 0, errors: 0, clientErrors: 0, inFlight: 0, p50Ms: 0, p99Ms: 0, meanMs: 0, maxMs: 0, since: 1_700_000_000_000 },
      routes: {},
    });
  });

  it('keeps at most maxRoutes labels and counts the rest under OTHER_ROUTE', () => {
    const metrics = new RouteMetrics({ maxRoutes: 3 });
    for (let i = 0; i < 10; i++) metrics.start(`GET /r${i}`)(200);
    const { service, routes } = metrics.snapshot();
    expect(Object.keys(routes)).toEqual(['GET /r0', 'GET /r1', 'GET /r2', OTHER_ROUTE]);
    expect(routes[OTHER_ROUTE]?.requests).toBe(7);
    expect(service.requests).toBe(10);
  });

  it('takes any string as a route label, __proto__ included', () => {
    const metrics = new RouteMetrics();
    metrics.start('__proto__')(200);
    metrics.start('constructor')(404);
    const snap = metrics.snapshot();
    expect(Object.keys(snap.routes)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(snap.routes)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('rejects a bad maxRoutes', () => {
    expect(() => new RouteMetrics({ maxRoutes: 0 })).toThrow(expect.objectContaining({ code: 'WARREN_INVALID_ARGUMENT' }));
  });
});

describe('latency', () => {
  it('gives p50 and p99 within 5% (in fact ~1%) of the exact ones for 10,000 log-normal samples', () => {
    const samples = logNormal(seeded(20240611), 10_000, 4, 1.2);
    const metrics = new RouteMetrics();
    for (const ms of samples) {
      metrics.begin('GET /x');
      metrics.end('GET /x', 200, ms);
    }
    const stats = metrics.snapshot().routes['GET /x'] as RouteStats;
    for (const [estimate, q] of [
      [stats.p50Ms, 0.5],
      [stats.p99Ms, 0.99],
    ] as const) {
      const exact = exactPercentile(samples, q);
      expect(relativeError(estimate, exact)).toBeLessThan(0.05);
      expect(relativeError(estimate, exact)).toBeLessThan(LatencyHistogram.relativeAccuracy + 0.001);
    }
  });

  it('gives the exact mean and max', () => {
    const samples = logNormal(seeded(7), 10_000, 20, 2);
    const metrics = new RouteMetrics();
    for (const ms of samples) metrics.end('r', 200, ms);
    const { service } = metrics.snapshot();
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(service.meanMs).toBeCloseTo(mean, 3);
    expect(service.maxMs).toBeCloseTo(Math.max(...samples), 3);
  });

  it('keeps every percentile of any samples between 1 µs and 60 s within 1% of the exact one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 400 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (samples, q) => {
          const histogram = new LatencyHistogram();
          for (const ms of samples) histogram.record(ms);
          const exact = exactPercentile(samples, q);
          expect(relativeError(histogram.percentile(q), exact)).toBeLessThanOrEqual(LatencyHistogram.relativeAccuracy * 1.0001);
          expect(histogram.max).toBe(Math.max(...samples));
          expect(histogram.min).toBe(Math.min(...samples));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('counts durations out of range or not finite without breaking the estimates', () => {
    const histogram = new LatencyHistogram();
    for (const ms of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, 0.0001, 1e9]) histogram.record(ms);
    expect(histogram.count).toBe(6);
    expect(histogram.min).toBe(0);
    expect(histogram.max).toBe(1e9);
    // At or below 1 µs (0, negatives, NaN and Infinity count as 0) all share bucket 0.
    expect(histogram.percentile(0.5)).toBeLessThanOrEqual(0.001);
    // Past 60 s all share the last bucket; the estimate stays within [min, max].
    expect(histogram.percentile(1)).toBeGreaterThanOrEqual(60_000);
    expect(histogram.percentile(1)).toBeLessThanOrEqual(1e9);
    expect(Number.isFinite(histogram.mean)).toBe(true);
  });

  it('keeps a fixed number of buckets whatever the number of samples', () => {
    const small = new LatencyHistogram();
    const large = new LatencyHistogram();
    small.record(3);
    const random = seeded(1);
    for (let i = 0; i < 200_000; i++) large.record(random() * 120_000);
    expect(large.counts.length).toBe(small.counts.length);
    expect(large.counts.length).toBe(LatencyHistogram.bucketCount);
    // About 900 buckets of 8 bytes for 1% steps over 1 µs..60 s.
    expect(LatencyHistogram.bucketCount).toBeLessThan(1000);
    expect(large.count).toBe(200_000);
  });
});

describe('snapshots', () => {
  it('are plain JSON data and fresh objects', () => {
    const metrics = new RouteMetrics();
    const random = seeded(3);
    for (let i = 0; i < 500; i++) {
      const route = ['GET /a', 'POST /b', 'DELETE /c'][i % 3]!;
      metrics.begin(route);
      metrics.end(route, [200, 404, 500][i % 3]!, random() * 50);
    }
    metrics.begin('GET /a');
    const snap = metrics.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toStrictEqual(snap);
    const values = [snap.service, ...Object.values(snap.routes)].flatMap((stats) => Object.values(stats));
    expect(values.every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
    expect(snap.service.inFlight).toBe(1);
    snap.service.requests = -1;
    expect(metrics.snapshot().service.requests).toBe(500);
  });
});

describe('RouteMetrics begin/finish (the dispatcher path)', () => {
  it('reads the clock once per request: back-to-back requests in one run share a reading, a new run reads afresh', async () => {
    let reads = 0;
    let monotonic = 1000;
    const metrics = new RouteMetrics({
      now: () => {
        reads++;
        return monotonic;
      },
    });
    const first = metrics.begin('GET /a');
    expect(reads).toBe(1);
    monotonic += 4;
    metrics.finish('GET /a', 200, first);
    // The second request of the run begins where the first ended, without a read of its own.
    const second = metrics.begin('GET /a');
    expect(second).toBe(1004);
    monotonic += 2;
    metrics.finish('GET /a', 200, second);
    expect(reads).toBe(3);
    expect(metrics.snapshot().routes['GET /a']).toMatchObject({ requests: 2, maxMs: 4, inFlight: 0 });
    // After the run (microtasks done), time spent idle is not counted: begin reads again.
    await Promise.resolve();
    monotonic += 100;
    const third = metrics.begin('GET /a');
    expect(third).toBe(1106);
    expect(reads).toBe(4);
    monotonic += 1;
    metrics.finish('GET /a', 500, third);
    expect(metrics.snapshot().routes['GET /a']).toMatchObject({ requests: 3, errors: 1, maxMs: 4 });
  });
});

describe('RouteMetrics open calls', () => {
  it('reports how long the oldest asynchronous call still running has run', () => {
    let monotonic = 1000;
    const metrics = new RouteMetrics({ now: () => monotonic });
    expect(metrics.oldestOpenMs()).toBe(0);
    const a = metrics.open(1000);
    monotonic = 1010;
    const b = metrics.open(1010);
    monotonic = 1050;
    expect(metrics.oldestOpenMs()).toBe(50);
    metrics.close(a);
    expect(metrics.oldestOpenMs()).toBe(40);
    metrics.close(b);
    metrics.close(b);
    expect(metrics.oldestOpenMs()).toBe(0);
  });
});
