/** Per-IP rate limits: the token bucket itself, its memory bound, and 429 with Retry-After through the gateway. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { createRateLimiter } from '../../src/gateway/rate-limit.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

describe('token bucket', () => {
  it('lets a burst through, then refills at perSecond; Retry-After rounds up; the longest prefix wins', () => {
    const limiter = createRateLimiter([
      { prefix: '/', perSecond: 100, burst: 100 },
      { prefix: '/api/orders', perSecond: 2, burst: 3 },
    ]);
    for (let i = 0; i < 3; i++) expect(limiter.take('1.1.1.1', '/api/orders/7', 0)).toEqual({ ok: true });
    expect(limiter.take('1.1.1.1', '/api/orders/7', 0)).toEqual({ ok: false, retryAfterS: 1 });
    // Another address has its own bucket; another prefix its own rule.
    expect(limiter.take('2.2.2.2', '/api/orders', 0)).toEqual({ ok: true });
    expect(limiter.take('1.1.1.1', '/api/users', 0)).toEqual({ ok: true });
    // Half a second at 2 per second: one token back.
    expect(limiter.take('1.1.1.1', '/api/orders/7', 500)).toEqual({ ok: true });
    expect(limiter.take('1.1.1.1', '/api/orders/7', 500).ok).toBe(false);
    const slow = createRateLimiter([{ prefix: '/', perSecond: 0.1, burst: 1 }]);
    expect(slow.take('a', '/x', 0).ok).toBe(true);
    expect(slow.take('a', '/x', 0)).toEqual({ ok: false, retryAfterS: 10 });
    // Paths no rule covers are not limited.
    expect(createRateLimiter([{ prefix: '/api', perSecond: 1, burst: 1 }]).take('a', '/health', 0)).toEqual({ ok: true });
  });

  it('keeps at most maxClients buckets, dropping the least recently used', () => {
    const limiter = createRateLimiter([{ prefix: '/', perSecond: 1, burst: 1 }], 100);
    for (let i = 0; i < 10_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`, '/', 0);
    expect(limiter.size).toBe(100);
  });

  it('config: rules are checked and default to none', () => {
    expect(resolveGatewayConfig({}).rateLimit).toEqual([]);
    expect(() => resolveGatewayConfig({ rateLimit: [{ prefix: 'api', perSecond: 1, burst: 1 }] })).toThrow(/prefix starting with \//);
    expect(() => resolveGatewayConfig({ rateLimit: [{ prefix: '/', perSecond: 0, burst: 1 }] })).toThrow(/per second above 0/);
  });
});

describe('gateway rate limit', () => {
  it('answers 429 WARREN_RATE_LIMITED with Retry-After past the burst, without calling the service', async () => {
    const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
    dirs.push(base);
    const dir = join(base, 'run');
    let calls = 0;
    const svc = defineService({
      name: 'hits',
      routes: {
        'GET /limited': () => ++calls,
        'POST /limited': ({ body }) => body,
        'GET /free': () => 'free',
      },
    });
    servers.push((await serveService(svc, { socketDir: dir })) as ServiceServer<unknown>);
    const gateway = await startGateway({
      port: 0,
      socketDir: dir,
      accessLog: false,
      rateLimit: [{ prefix: '/limited', perSecond: 0.01, burst: 3 }],
    });
    gateways.push(gateway);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gateway.url}/limited`)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await fetch(`${gateway.url}/limited`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('WARREN_RATE_LIMITED');
    expect(calls).toBe(3);
    // A refused request with a body closes its connection; the next request is still answered.
    const post = await fetch(`${gateway.url}/limited`, {
      method: 'POST',
      body: JSON.stringify({ a: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(post.status).toBe(429);
    expect((await fetch(`${gateway.url}/free`)).status).toBe(200);
  });
});
