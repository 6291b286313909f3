/**
 * The `buckets` extension of `warren.metrics` (docs/protocol.md §13.3): asked with
 * `{ buckets: true }` over a real socket, `service` carries `sumMs` and the non-empty buckets as
 * `[index, count, …]`; each bucket holds the latencies up to its documented bound; without the
 * params the answer is the plain snapshot. Also instanceMetrics(): every instance listed, each
 * with its snapshot or its error.
 */
import { createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { defineService } from '../../src/service/define.js';
import { LatencyHistogram, RouteMetrics } from '../../src/service/metrics.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { serveAndConnect, servers } = serviceCleanup();
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

const GAMMA = 1.01 / 0.99;

/** The documented bound of bucket i: 0.001·γ^i ms (the last bucket has none). */
function documentedBound(index: number): number {
  return index === LatencyHistogram.bucketCount - 1 ? Number.POSITIVE_INFINITY : 0.001 * GAMMA ** index;
}

describe('warren.metrics { buckets: true }', () => {
  it('buckets hold what the protocol says: bucket i has the latencies in (bound(i-1), bound(i)]', () => {
    expect(LatencyHistogram.bucketCount).toBe(897);
    fc.assert(
      fc.property(fc.double({ min: 0.0011, max: 59_000, noNaN: true }), (ms) => {
        const index = LatencyHistogram.bucketIndex(ms);
        // Within floating point rounding of the bounds.
        expect(ms).toBeLessThanOrEqual(documentedBound(index) * (1 + 1e-12));
        expect(ms).toBeGreaterThan(documentedBound(index - 1) * (1 - 1e-12));
        expect(LatencyHistogram.upperBoundMs(index)).toBeCloseTo(documentedBound(index), 9);
      }),
    );
    expect(LatencyHistogram.bucketIndex(0.0005)).toBe(0);
    expect(LatencyHistogram.bucketIndex(120_000)).toBe(LatencyHistogram.bucketCount - 1);
    expect(LatencyHistogram.upperBoundMs(LatencyHistogram.bucketCount - 1)).toBe(Number.POSITIVE_INFINITY);
  });

  it('the snapshot adds sumMs and sparse buckets to service only when asked', () => {
    const metrics = new RouteMetrics();
    for (const ms of [0.5, 0.5, 2, 40]) metrics.end('GET /a', 200, ms);
    metrics.end('GET /b', 500, 2);
    const plain = metrics.snapshot();
    expect(plain.service.buckets).toBeUndefined();
    expect(plain.service.sumMs).toBeUndefined();
    const withBuckets = metrics.snapshot({ buckets: true });
    expect(withBuckets.service.sumMs).toBe(45);
    expect(withBuckets.routes['GET /a']?.buckets).toBeUndefined();
    const buckets = withBuckets.service.buckets as number[];
    const pairs: [number, number][] = [];
    for (let i = 0; i < buckets.length; i += 2) pairs.push([buckets[i] as number, buckets[i + 1] as number]);
    expect(pairs).toEqual([
      [LatencyHistogram.bucketIndex(0.5), 2],
      [LatencyHistogram.bucketIndex(2), 2],
      [LatencyHistogram.bucketIndex(40), 1],
    ]);
  });

  it('is answered over the socket, to instanceMetrics({ buckets: true }), counts adding up to requests', async () => {
    const client = await serveAndConnect(defineService({ name: 'svc', routes: { 'GET /x': () => 'x', 'GET /y': () => 'y' } }));
    const handle = client.service('svc');
    for (let i = 0; i < 5; i++) await handle.get('/x');
    await handle.get('/y');
    const [answer] = await handle.instanceMetrics({ buckets: true });
    expect(answer?.error).toBeUndefined();
    const service = answer?.snapshot?.service;
    expect(service?.requests).toBe(6);
    const buckets = service?.buckets as number[];
    let total = 0;
    for (let i = 0; i < buckets.length; i += 2) {
      if (i > 0) expect(buckets[i]).toBeGreaterThan(buckets[i - 2] as number);
      total += buckets[i + 1] as number;
    }
    expect(total).toBe(6);
    expect(service?.sumMs).toBeGreaterThan(0);
    const [plain] = await handle.instanceMetrics();
    expect(plain?.snapshot?.service.requests).toBe(6);
    expect(plain?.snapshot?.service.buckets).toBeUndefined();
  });

  it('instanceMetrics lists an instance that does not answer in time with its error', async () => {
    const client = await serveAndConnect(defineService({ name: 'svc', routes: { 'GET /x': () => 'x' } }));
    const dir = dirname(servers[0]?.path as string);
    const sockets: Socket[] = [];
    const mute = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => mute.listen(`${dir}/svc.3.sock`, resolve));
    closers.push(() => {
      for (const socket of sockets) socket.destroy();
      mute.close();
    });
    const answers = await client.service('svc').instanceMetrics({ timeoutMs: 300 });
    expect(answers.map((answer) => answer.instance).sort()).toEqual([0, 3]);
    const muted = answers.find((answer) => answer.instance === 3);
    expect(muted?.snapshot).toBeUndefined();
    expect(muted?.error?.message).toMatch(/no response within 300 ms/);
    expect(answers.find((answer) => answer.instance === 0)?.snapshot?.service.requests).toBe(0);
  });
});
