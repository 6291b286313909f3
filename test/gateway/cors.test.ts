/** CORS by path prefix: preflights answered by the gateway (allowed and refused), credentials, exposed headers, per-prefix rules. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { defineService, reply } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const A = 'https://a.example';
const B = 'https://b.example';

/** A `shop` service under /api (with an OPTIONS route that counts, to see preflights are not forwarded) and a `plain` one no rule covers. */
async function setup() {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  const dir = join(base, 'run');
  const calls = { options: 0, get: 0 };
  const shop = defineService({
    name: 'shop',
    routes: {
      'GET /items': () => {
        calls.get++;
        // The service's own CORS header is replaced by the gateway's rule.
        return reply(200, ['i1', 'i2'], { 'x-total': '2', 'access-control-allow-origin': '*' });
      },
      'POST /items': ({ body }) => reply(201, body),
      'OPTIONS /items': () => {
        calls.options++;
        return reply(200, 'service options');
      },
      'GET /public/news': () => ['n1'],
    },
  });
  const plain = defineService({ name: 'plain', routes: { 'GET /plain': () => 'plain' } });
  servers.push((await serveService(shop, { socketDir: dir })) as ServiceServer<unknown>);
  servers.push((await serveService(plain, { socketDir: dir })) as ServiceServer<unknown>);
  const gateway = await startGateway({
    port: 0,
    socketDir: dir,
    logLevel: 'error',
    prefixes: { shop: '/api' },
    cors: [
      {
        prefix: '/api',
        origins: [A],
        headers: ['Content-Type', 'X-Token'],
        exposeHeaders: ['x-total'],
        credentials: true,
        maxAgeS: 600,
      },
      { prefix: '/api/public', origins: '*', methods: ['get'] },
      { prefix: '/healthz', origins: '*' },
    ],
  });
  gateways.push(gateway);
  return { gateway, calls };
}

function preflight(gateway: Gateway, path: string, origin: string, method: string, headers?: string) {
  const sent: Record<string, string> = { origin, 'access-control-request-method': method };
  if (headers !== undefined) sent['access-control-request-headers'] = headers;
  return fetch(`${gateway.url}${path}`, { method: 'OPTIONS', headers: sent });
}

const varyOf = (res: Response) => (res.headers.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase());

describe('gateway CORS', () => {
  it('answers an allowed preflight itself: 204 with the origin echoed, credentials, methods, headers and max age', async () => {
    const { gateway, calls } = await setup();
    const res = await preflight(gateway, '/api/items', A, 'POST', 'content-type, x-token');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(A);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, x-token');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(varyOf(res)).toContain('origin');
    // Not forwarded: the service's own OPTIONS route never ran.
    expect(calls.options).toBe(0);
    // An OPTIONS that is not a preflight (no Access-Control-Request-Method) is routed as before.
    const routed = await fetch(`${gateway.url}/api/items`, { method: 'OPTIONS', headers: { origin: A } });
    expect([routed.status, await routed.text(), calls.options]).toEqual([200, 'service options', 1]);
  });

  it('refuses a preflight from an origin, with a method or a header the rule does not allow: 403 with the error body, no CORS headers', async () => {
    const { gateway, calls } = await setup();
    const origin = await preflight(gateway, '/api/items', 'https://evil.example', 'GET');
    expect(origin.status).toBe(403);
    expect(origin.headers.get('access-control-allow-origin')).toBeNull();
    expect(origin.headers.get('access-control-allow-methods')).toBeNull();
    const body = (await origin.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('WARREN_CORS_REFUSED');
    expect(body.error.message).toContain('origin https://evil.example is not allowed by the gateway.cors rule for "/api"');
    const header = await preflight(gateway, '/api/items', A, 'POST', 'content-type, x-other');
    expect(header.status).toBe(403);
    expect(((await header.json()) as { error: { message: string } }).error.message).toContain('x-other');
    const method = await preflight(gateway, '/api/public/news', B, 'DELETE');
    expect(method.status).toBe(403);
    expect(((await method.json()) as { error: { message: string } }).error.message).toContain('method DELETE is not allowed');
    expect(calls.options).toBe(0);
  });

  it('actual answers to an allowed origin get the origin echoed, credentials and exposed headers; others get none of them', async () => {
    const { gateway, calls } = await setup();
    const allowed = await fetch(`${gateway.url}/api/items`, { headers: { origin: A } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(A);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(allowed.headers.get('access-control-expose-headers')).toBe('x-total');
    expect(varyOf(allowed)).toContain('origin');
    const other = await fetch(`${gateway.url}/api/items`, { headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    // The service said `*`: under the rule the gateway decides, and this origin is not allowed.
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();
    expect(varyOf(other)).toContain('origin');
    const none = await fetch(`${gateway.url}/api/items`);
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
    expect(calls.get).toBe(3);
    // The gateway's own errors on a covered path are readable by an allowed origin too.
    const missing = await fetch(`${gateway.url}/api/nothing`, { headers: { origin: A } });
    expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([404, A]);
  });

  it('the longest prefix wins: "*" echoes any origin (never "*"), without credentials, and reflects the headers asked', async () => {
    const { gateway } = await setup();
    const res = await fetch(`${gateway.url}/api/public/news`, { headers: { origin: B } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(B);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-expose-headers')).toBeNull();
    const pre = await preflight(gateway, '/api/public/news', B, 'GET', 'X-Anything');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET');
    expect(pre.headers.get('access-control-allow-headers')).toBe('x-anything');
    expect(pre.headers.get('access-control-max-age')).toBeNull();
    // B is not allowed under /api itself.
    expect((await preflight(gateway, '/api/items', B, 'GET')).status).toBe(403);
  });

  it("covers the gateway's own endpoints too: their preflight is answered before them", async () => {
    const { gateway } = await setup();
    const pre = await preflight(gateway, '/healthz', B, 'GET');
    expect([pre.status, pre.headers.get('access-control-allow-origin'), await pre.text()]).toEqual([204, B, '']);
    const res = await fetch(`${gateway.url}/healthz`, { headers: { origin: B } });
    expect([res.status, res.headers.get('access-control-allow-origin')]).toEqual([200, B]);
  });

  it('a path no rule covers gets no CORS headers and its preflight is routed as any OPTIONS', async () => {
    const { gateway } = await setup();
    const res = await fetch(`${gateway.url}/plain`, { headers: { origin: A } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(varyOf(res)).not.toContain('origin');
    const pre = await preflight(gateway, '/plain', A, 'GET');
    expect([pre.status, pre.headers.get('allow'), pre.headers.get('access-control-allow-origin')]).toEqual([
      204,
      'GET, HEAD, OPTIONS',
      null,
    ]);
  });

  it('config: rules are checked, normalised, and default to none', () => {
    expect(resolveGatewayConfig({}).cors).toEqual([]);
    const [rule] = resolveGatewayConfig({
      cors: [{ prefix: '/api', origins: ['https://A.example:8443'], methods: ['get'], headers: ['X-A'] }],
    }).cors;
    expect(rule).toEqual({ prefix: '/api', origins: ['https://a.example:8443'], methods: ['GET'], headers: ['x-a'], credentials: false });
    expect(() => resolveGatewayConfig({ cors: [{ prefix: '/api', origins: '*', credentials: true }] })).toThrow(
      /gateway\.cors\.0\.credentials: expected a list of origins with credentials: true/,
    );
    expect(() => resolveGatewayConfig({ cors: [{ prefix: '/api', origins: ['https://a.example/'] }] })).toThrow(
      /gateway\.cors\.0\.origins\.0: expected an origin .*, got "https:\/\/a\.example\/"/,
    );
    expect(() => resolveGatewayConfig({ cors: [{ prefix: 'api', origins: '*' }] })).toThrow(/prefix starting with \//);
    expect(() => resolveGatewayConfig({ cors: [{ prefix: '/api', origins: [] }] })).toThrow(/at least one origin, got \[\]/);
    expect(() => resolveGatewayConfig({ cors: [{ prefix: '/api', origins: '*', maxAgeS: -1 }] })).toThrow(
      /maxAgeS: expected a whole number/,
    );
    expect(() => resolveGatewayConfig({ cors: [{ prefix: '/api', origins: '*', origin: 'x' }] })).toThrow(
      /gateway\.cors\.0: unknown key\(s\) origin$/,
    );
  });
});
