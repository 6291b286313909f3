/**
 * The gateway's response cache: hits counted by the service's own call count, expiry after
 * max-age, ETag and 304, HEAD from a cached GET, the entry and byte bounds, and the answers and
 * requests that are never cached. The LRU itself is also checked on a clock the test moves.
 */
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import type { Exchange } from '../../src/gateway/exchange.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { lifetimeOf, matches, ResponseCache } from '../../src/gateway/response-cache.js';
import { defineService, reply } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** A service whose every route counts its calls, answering with the count. */
async function setup(options: Parameters<typeof startGateway>[0] = {}) {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  const dir = join(base, 'run');
  const calls = new Map<string, number>();
  const count = (name: string) => {
    const n = (calls.get(name) ?? 0) + 1;
    calls.set(name, n);
    return n;
  };
  const forever = { 'cache-control': 'public, max-age=600' };
  const svc = defineService({
    name: 'cat',
    routes: {
      'GET /fresh': () => reply(200, { n: count('fresh') }, forever),
      'GET /short': () => reply(200, { n: count('short') }, { 'cache-control': 'max-age=1' }),
      'GET /tagged': () => reply(200, { n: count('tagged') }, { ...forever, etag: '"v1"' }),
      'GET /big/:size': ({ params }) => {
        count('big');
        return reply(200, Buffer.alloc(Number(params.size), 7), forever);
      },
      'GET /text': () => reply(200, 'x'.repeat(5_000), { ...forever, 'content-type': 'text/plain' }),
      'GET /no-store': () => reply(200, { n: count('no-store') }, { 'cache-control': 'max-age=600, no-store' }),
      'GET /private': () => reply(200, { n: count('private') }, { 'cache-control': 'private, max-age=600' }),
      'GET /cookie': () => reply(200, { n: count('cookie') }, { ...forever, 'set-cookie': 'a=1' }),
      'GET /vary': () => reply(200, { n: count('vary') }, { ...forever, vary: 'Accept-Language' }),
      'GET /plain': () => ({ n: count('plain') }),
    },
  });
  servers.push((await serveService(svc, { socketDir: dir })) as ServiceServer<unknown>);
  const gateway = await startGateway({ port: 0, socketDir: dir, logLevel: 'error', cache: {}, ...options });
  gateways.push(gateway);
  return { gateway, calls: (name: string) => calls.get(name) ?? 0 };
}

describe('gateway response cache', () => {
  it('serves the second GET from the cache (the service is called once), with Age and an ETag; HEAD from the cached GET', async () => {
    const { gateway, calls } = await setup();
    const first = await fetch(`${gateway.url}/fresh`);
    expect(await first.json()).toEqual({ n: 1 });
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers.get('age')).toBeNull();
    const second = await fetch(`${gateway.url}/fresh`, { headers: { 'x-request-id': 'hit-1' } });
    expect(await second.json()).toEqual({ n: 1 });
    expect(second.headers.get('etag')).toBe(etag);
    expect(Number(second.headers.get('age'))).toBeGreaterThanOrEqual(0);
    expect(second.headers.get('cache-control')).toBe('public, max-age=600');
    expect(second.headers.get('x-request-id')).toBe('hit-1');
    const head = await fetch(`${gateway.url}/fresh`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('etag'), await head.text()]).toEqual([200, '7', etag, '']);
    expect(calls('fresh')).toBe(1);
    // The query is part of the key.
    expect(await (await fetch(`${gateway.url}/fresh?page=2`)).json()).toEqual({ n: 2 });
    expect(calls('fresh')).toBe(2);
  });

  it('answers 304 without a body when If-None-Match matches: from the cache, and after the call', async () => {
    const { gateway, calls } = await setup();
    // inject(): fetch adds `cache-control: no-cache` to a request that has If-None-Match (the Fetch standard's rule).
    const ask = (tag: string) => gateway.inject({ url: '/tagged', headers: { 'if-none-match': tag } });
    // Nothing cached yet: the service answers 200 with its own ETag, the gateway turns it into 304.
    const fresh = await ask('W/"v0", "v1"');
    expect([fresh.status, fresh.headers.etag, fresh.body.length, calls('tagged')]).toEqual([304, '"v1"', 0, 1]);
    expect(fresh.headers['content-type']).toBeUndefined();
    const cached = await ask('"v1"');
    expect([cached.status, cached.headers['cache-control'], cached.body.length]).toEqual([304, 'public, max-age=600', 0]);
    expect(cached.headers.age).toMatch(/^\d+$/);
    const other = await ask('"v2"');
    expect([other.status, other.json()]).toEqual([200, { n: 1 }]);
    expect(calls('tagged')).toBe(1);
    // Over HTTP, with the ETag the gateway made.
    const first = await fetch(`${gateway.url}/fresh`);
    await first.arrayBuffer();
    const again = await gateway.inject({ url: '/fresh', headers: { 'if-none-match': first.headers.get('etag') as string } });
    expect([again.status, again.headers.etag, calls('fresh')]).toEqual([304, first.headers.get('etag'), 1]);
  });

  it('expires an entry after its max-age: the service is called again', async () => {
    const { gateway, calls } = await setup();
    expect(await (await fetch(`${gateway.url}/short`)).json()).toEqual({ n: 1 });
    // Each answer is the cached one (n 1, Age 0 or 1) until the second passes, then a new call (n 2).
    const seen = await until(async () => {
      const res = await fetch(`${gateway.url}/short`);
      const body = (await res.json()) as { n: number };
      if (body.n === 1) expect(Number(res.headers.get('age') ?? '0')).toBeLessThanOrEqual(1);
      return body.n === 2 ? res : undefined;
    });
    expect(seen.headers.get('age')).toBeNull();
    expect(calls('short')).toBe(2);
  });

  it('never keeps no-store, private, Set-Cookie, Vary (other than Accept-Encoding) or uncacheable answers, nor gives them an ETag', async () => {
    const { gateway, calls } = await setup();
    for (const path of ['no-store', 'private', 'cookie', 'vary', 'plain']) {
      const first = await fetch(`${gateway.url}/${path}`);
      expect(first.headers.get('etag'), path).toBeNull();
      expect(await (await fetch(`${gateway.url}/${path}`)).json(), path).toEqual({ n: 2 });
      expect(calls(path), path).toBe(2);
    }
  });

  it("bypasses the cache for a request's no-cache (and refreshes the entry), no-store and Authorization", async () => {
    const { gateway, calls } = await setup();
    await fetch(`${gateway.url}/fresh`);
    const refreshed = await fetch(`${gateway.url}/fresh`, { headers: { 'cache-control': 'no-cache' } });
    expect(await refreshed.json()).toEqual({ n: 2 });
    expect(await (await fetch(`${gateway.url}/fresh`)).json()).toEqual({ n: 2 });
    expect(await (await fetch(`${gateway.url}/fresh`, { headers: { 'cache-control': 'no-store' } })).json()).toEqual({ n: 3 });
    expect(await (await fetch(`${gateway.url}/fresh`, { headers: { authorization: 'Bearer x' } })).json()).toEqual({ n: 4 });
    // Neither no-store nor the authorized answer replaced the entry.
    expect(await (await fetch(`${gateway.url}/fresh`)).json()).toEqual({ n: 2 });
    expect(calls('fresh')).toBe(4);
  });

  it('keeps compressed answers per encoding chosen', async () => {
    const { gateway } = await setup();
    const br = await fetch(`${gateway.url}/text`, { headers: { 'accept-encoding': 'br' } });
    expect(br.headers.get('content-encoding')).toBe('br');
    const again = await fetch(`${gateway.url}/text`, { headers: { 'accept-encoding': 'br' } });
    expect([again.headers.get('content-encoding'), again.headers.get('age') !== null]).toEqual(['br', true]);
    expect((await again.text()).length).toBe(5_000);
    const identity = await fetch(`${gateway.url}/text`, { headers: { 'accept-encoding': 'identity' } });
    expect([identity.headers.get('content-encoding'), identity.headers.get('age'), (await identity.text()).length]).toEqual([
      null,
      null,
      5_000,
    ]);
    // Each representation has its own ETag.
    expect(identity.headers.get('etag')).not.toBe(br.headers.get('etag'));
  });

  it('evicts the least recently used entry past maxBytes and keeps nothing over maxEntryBytes', async () => {
    const { gateway, calls } = await setup({ cache: { maxBytes: 10_000, maxEntryBytes: 6_000 } });
    const get = async (path: string) => {
      const res = await fetch(`${gateway.url}${path}`);
      await res.arrayBuffer();
      return res;
    };
    await get('/big/4000?k=1');
    await get('/big/4000?k=2');
    await get('/big/4000?k=1'); // a hit: k=1 is now the most recently used
    expect(calls('big')).toBe(2);
    await get('/big/4000?k=3'); // over 10,000 bytes: k=2 goes
    expect(calls('big')).toBe(3);
    await get('/big/4000?k=1');
    await get('/big/4000?k=3');
    expect(calls('big')).toBe(3);
    await get('/big/4000?k=2');
    expect(calls('big')).toBe(4);
    await get('/big/7000');
    await get('/big/7000');
    expect(calls('big')).toBe(6);
  });

  it('is off by default; with CORS, one entry serves every origin with its own CORS headers', async () => {
    expect(resolveGatewayConfig({}).cache).toBe(false);
    const off = await setup({ cache: false });
    await fetch(`${off.gateway.url}/fresh`);
    await fetch(`${off.gateway.url}/fresh`);
    expect(off.calls('fresh')).toBe(2);
    const { gateway, calls } = await setup({ cors: [{ prefix: '/', origins: ['https://a.example'] }] });
    const a = await fetch(`${gateway.url}/fresh`, { headers: { origin: 'https://a.example' } });
    expect(a.headers.get('access-control-allow-origin')).toBe('https://a.example');
    const b = await fetch(`${gateway.url}/fresh`, { headers: { origin: 'https://b.example' } });
    expect([b.headers.get('access-control-allow-origin'), b.headers.get('age') !== null, b.headers.get('vary')]).toEqual([
      null,
      true,
      'Origin',
    ]);
    expect(calls('fresh')).toBe(1);
  });

  it('config: bounds are checked and default when cache is an object', () => {
    expect(resolveGatewayConfig({ cache: {} }).cache).toEqual({ maxEntries: 1000, maxBytes: 67_108_864, maxEntryBytes: 1_048_576 });
    expect(() => resolveGatewayConfig({ cache: true })).toThrow(
      /gateway\.cache: expected false or \{ maxEntries\?, maxBytes\?, maxEntryBytes\? \}, got true/,
    );
    expect(() => resolveGatewayConfig({ cache: { maxEntries: 0 } })).toThrow(
      /gateway\.cache\.maxEntries: expected a whole number of entries from 1/,
    );
    expect(() => resolveGatewayConfig({ cache: { maxBytes: 10, maxEntryBytes: 20 } })).toThrow(
      /gateway\.cache\.maxEntryBytes: expected at most maxBytes \(10\), got 20/,
    );
  });
});

describe('ResponseCache', () => {
  /** A GET as the pipeline sees it, with the given request headers. */
  const exchange = (url: string, headers: Record<string, string> = {}, method = 'GET') =>
    ({ method, url, req: { headers } as unknown as IncomingMessage, cacheKey: undefined }) as unknown as Exchange;
  const store = (cache: ResponseCache, url: string, body: string, cacheControl = 'max-age=10') => {
    const ex = exchange(url);
    expect(cache.lookup(ex)).toBeUndefined();
    cache.admit(ex, 200, { 'cache-control': cacheControl, 'x-request-id': 'r' }, body);
  };

  it('keeps at most maxEntries, the least recently used going first, and expires on a moving clock', () => {
    let now = 0;
    const cache = new ResponseCache({ maxEntries: 2, maxBytes: 1_000_000, maxEntryBytes: 1_000 }, () => now);
    store(cache, '/a', 'A');
    store(cache, '/b', 'B', 'max-age=2');
    expect(cache.lookup(exchange('/a'))?.body).toBe('A');
    store(cache, '/c', 'C');
    expect(cache.size).toBe(2);
    expect(cache.lookup(exchange('/b'))).toBeUndefined();
    now = 1_999;
    const hit = cache.lookup(exchange('/c'));
    expect([hit?.status, hit?.headers.age, hit?.headers['x-request-id']]).toEqual([200, '1', undefined]);
    // A request's max-age: older entries are not good enough for it.
    expect(cache.lookup(exchange('/c', { 'cache-control': 'max-age=0' }))).toBeUndefined();
    now = 10_000;
    expect(cache.lookup(exchange('/c'))).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it('counts bytes and gives them back on eviction', () => {
    const cache = new ResponseCache({ maxEntries: 100, maxBytes: 400, maxEntryBytes: 200 }, () => 0);
    store(cache, '/a', 'a'.repeat(100));
    const one = cache.byteSize;
    expect(one).toBeGreaterThan(100);
    store(cache, '/b', 'b'.repeat(100));
    expect(cache.byteSize).toBe(2 * one);
    store(cache, '/c', 'c'.repeat(100));
    expect([cache.size, cache.byteSize]).toEqual([2, 2 * one]);
    store(cache, '/d', 'd'.repeat(190));
    expect(cache.lookup(exchange('/d'))).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('keeps a copy of a body that is a view of a larger buffer, so maxBytes counts what is held', () => {
    const cache = new ResponseCache({ maxEntries: 10, maxBytes: 10_000, maxEntryBytes: 10_000 }, () => 0);
    const frame = Buffer.alloc(1_000_000, 1);
    const ex = exchange('/view');
    cache.lookup(ex);
    cache.admit(ex, 200, { 'cache-control': 'max-age=10' }, frame.subarray(10, 110));
    const body = cache.lookup(exchange('/view'))?.body as Buffer;
    expect([body.length, body.buffer.byteLength, body[0]]).toEqual([100, 100, 1]);
  });

  it('reads Cache-Control and If-None-Match as RFC 9111 and 9110 say', () => {
    expect(lifetimeOf({ 'cache-control': 'max-age=60' })).toBe(60);
    expect(lifetimeOf({ 'cache-control': 'max-age=60, s-maxage=5' })).toBe(5);
    expect(lifetimeOf({ 'cache-control': 'max-age="60"' })).toBe(60);
    expect(lifetimeOf({ 'cache-control': 'max-age=0' })).toBeUndefined();
    expect(lifetimeOf({ 'cache-control': 'max-age=-1' })).toBeUndefined();
    expect(lifetimeOf({ 'cache-control': 'no-cache="x", max-age=60' })).toBeUndefined();
    expect(lifetimeOf({ 'cache-control': 'max-age=60', vary: 'accept-encoding' })).toBe(60);
    expect(lifetimeOf({ 'cache-control': 'max-age=60', vary: '*' })).toBeUndefined();
    expect(lifetimeOf({})).toBeUndefined();
    expect(matches('*', '"x"')).toBe(true);
    expect(matches('W/"x"', '"x"')).toBe(true);
    expect(matches('"y", "x"', '"x"')).toBe(true);
    expect(matches('"y"', '"x"')).toBe(false);
    expect(matches(undefined, '"x"')).toBe(false);
  });
});
