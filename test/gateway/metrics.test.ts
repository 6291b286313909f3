/** The gateway's /metrics against real instances on Unix sockets, read with a strict exposition parser. */
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { figuresOf, keys } from '../../src/gateway/service-totals.js';
import { defineService, reply } from '../../src/service/define.js';
import type { MetricsSnapshot } from '../../src/service/metrics.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { type ParsedFamily, parseExposition, sampleValue } from '../support/exposition.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** A request of GET /hold waits until release() is called. */
let held = 0;
let releaseHeld: () => void = () => undefined;

const users = defineService({
  name: 'users',
  routes: {
    'GET /users/:id': ({ params }) =>
      params.id === '0' ? reply(404, { error: { code: 'E_NO_USER', message: 'no such user' } }) : { id: params.id },
    'POST /users': { handler: ({ body }) => body, schema: { body: z.object({ name: z.string() }) } },
    'GET /hold': () =>
      new Promise((resolve) => {
        held += 1;
        releaseHeld = () => resolve('released');
      }),
  },
});

const orders = defineService({ name: 'orders', routes: { 'GET /orders/:id': ({ params }) => ({ order: params.id }) } });

async function setup(options: { instances?: number; gateway?: Parameters<typeof startGateway>[0] } = {}) {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  const dir = join(base, 'run');
  const instances: ServiceServer<unknown>[] = [];
  for (let instance = 0; instance < (options.instances ?? 2); instance++) {
    const server = (await serveService(users, { socketDir: dir, instance })) as ServiceServer<unknown>;
    servers.push(server);
    instances.push(server);
  }
  servers.push((await serveService(orders, { socketDir: dir })) as ServiceServer<unknown>);
  const gateway = await startGateway({ port: 0, socketDir: dir, logDestination: new PassThrough().resume(), ...options.gateway });
  gateways.push(gateway);
  return { dir, gateway, instances };
}

async function scrape(gateway: Gateway, path = '/metrics'): Promise<Map<string, ParsedFamily>> {
  const res = await fetch(`${gateway.url}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

async function get(gateway: Gateway, path: string, init?: RequestInit): Promise<number> {
  const res = await fetch(`${gateway.url}${path}`, init);
  await res.arrayBuffer();
  return res.status;
}

/** The sum of the instances' own counters of `service` (what the gateway must report). */
function instanceTotal(instances: ServiceServer<unknown>[], field: 'requests' | 'errors' | 'clientErrors'): number {
  return instances.reduce((sum, server) => sum + server.metrics.snapshot().service[field], 0);
}

describe('gateway /metrics: its own series', () => {
  it('counts requests by service, method and status class, times them, and the counters move', async () => {
    const { gateway } = await setup();
    const first = await scrape(gateway);
    expect(sampleValue(first, 'warren_gateway_requests_total', { service: 'users' })).toBeUndefined();
    expect(sampleValue(first, 'warren_gateway_routes')).toBe(4);
    expect(await get(gateway, '/users/1')).toBe(200);
    expect(await get(gateway, '/users/2')).toBe(200);
    expect(await get(gateway, '/users/3')).toBe(200);
    expect(await get(gateway, '/users/0')).toBe(404);
    expect(await get(gateway, '/nothing/here')).toBe(404);
    const post = { method: 'POST', body: JSON.stringify({ name: 'ann' }), headers: { 'content-type': 'application/json' } };
    expect(await get(gateway, '/users', post)).toBe(200);
    expect(await get(gateway, '/orders/9')).toBe(200);
    const second = await scrape(gateway);
    const requests = (labels: Record<string, string>, from = second) => sampleValue(from, 'warren_gateway_requests_total', labels);
    expect(requests({ service: 'users', method: 'GET', status_class: '2xx' })).toBe(3);
    expect(requests({ service: 'users', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(requests({ service: 'users', method: 'POST', status_class: '2xx' })).toBe(1);
    expect(requests({ service: 'orders', method: 'GET', status_class: '2xx' })).toBe(1);
    // The first scrape (answered by the gateway itself) and the route that does not exist.
    expect(requests({ service: '(none)', method: 'GET', status_class: '2xx' })).toBe(1);
    expect(requests({ service: '(none)', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(sampleValue(second, 'warren_gateway_request_duration_seconds_count', { service: 'users' })).toBe(5);
    expect(sampleValue(second, 'warren_gateway_request_duration_seconds_sum', { service: 'users' })).toBeGreaterThan(0);
    expect(sampleValue(second, 'warren_gateway_response_bytes_total', { service: 'users' })).toBeGreaterThan(0);
    // The scrape being answered is the one request in flight.
    expect(sampleValue(second, 'warren_gateway_requests_in_flight')).toBe(1);
    // Process series are there (prom-client's default metrics, in the gateway's own registry).
    expect(second.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(await get(gateway, '/users/4')).toBe(200);
    expect(await get(gateway, '/users/5')).toBe(200);
    const third = await scrape(gateway);
    expect(requests({ service: 'users', method: 'GET', status_class: '2xx' }, third)).toBe(5);
    expect(requests({ service: '(none)', method: 'GET', status_class: '2xx' }, third)).toBe(2);
    expect(sampleValue(third, 'warren_gateway_request_duration_seconds_count', { service: 'users' })).toBe(7);
  });

  it('answers HEAD without a body and other methods 405 with Allow', async () => {
    const { gateway } = await setup({ instances: 1 });
    const head = await fetch(`${gateway.url}/metrics`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const post = await fetch(`${gateway.url}/metrics`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow'), ((await post.json()) as { error: { code: string } }).error.code]).toEqual([
      405,
      'GET, HEAD',
      'WARREN_METHOD_NOT_ALLOWED',
    ]);
  });
});

describe("gateway /metrics: the services' series", () => {
  it("adds up every instance's counters per service and per route, with a histogram of their latency", async () => {
    const { gateway, instances } = await setup();
    for (let i = 1; i <= 6; i++) expect(await get(gateway, `/users/${i}`)).toBe(200);
    expect(await get(gateway, '/users/0')).toBe(404);
    expect(await get(gateway, '/orders/1')).toBe(200);
    // Counted by the second instance alone, whatever the gateway's choice of instance above.
    const second = instances[1] as ServiceServer<unknown>;
    second.metrics.start('GET /users/:id')(500);
    second.metrics.start('GET /users/:id')(200);
    const families = await scrape(gateway);
    const users = { service: 'users' };
    expect(sampleValue(families, 'warren_service_instances', users)).toBe(2);
    expect(sampleValue(families, 'warren_service_instances', { service: 'orders' })).toBe(1);
    expect(instanceTotal(instances, 'requests')).toBe(9);
    expect(sampleValue(families, 'warren_service_requests_total', users)).toBe(9);
    expect(sampleValue(families, 'warren_service_errors_total', users)).toBe(1);
    expect(sampleValue(families, 'warren_service_client_errors_total', users)).toBe(1);
    expect(sampleValue(families, 'warren_service_requests_total', { service: 'orders' })).toBe(1);
    const route = { service: 'users', route: 'GET /users/:id' };
    expect(sampleValue(families, 'warren_service_route_requests_total', route)).toBe(9);
    expect(sampleValue(families, 'warren_service_route_errors_total', route)).toBe(1);
    expect(sampleValue(families, 'warren_service_route_client_errors_total', route)).toBe(1);
    expect(sampleValue(families, 'warren_service_route_requests_total', { service: 'orders', route: 'GET /orders/:id' })).toBe(1);
    expect(families.get('warren_service_request_duration_seconds')?.type).toBe('histogram');
    expect(sampleValue(families, 'warren_service_request_duration_seconds_count', users)).toBe(9);
    expect(sampleValue(families, 'warren_service_request_duration_seconds_bucket', { service: 'users', le: '+Inf' })).toBe(9);
    expect(sampleValue(families, 'warren_service_request_duration_seconds_sum', users)).toBeGreaterThan(0);
    expect(sampleValue(families, 'warren_service_requests_in_flight', users)).toBe(0);
    expect(await get(gateway, '/users/7')).toBe(200);
    const later = await scrape(gateway);
    expect(sampleValue(later, 'warren_service_requests_total', users)).toBe(10);
    expect(sampleValue(later, 'warren_service_request_duration_seconds_count', users)).toBe(10);
  });

  it('shows the requests in flight, in the gateway and in the service', async () => {
    const { gateway } = await setup({ instances: 1 });
    held = 0;
    const holding = fetch(`${gateway.url}/hold`).then((res) => res.text());
    await until(() => held === 1, 'the held request to reach the service');
    const families = await scrape(gateway);
    // The held request and the scrape.
    expect(sampleValue(families, 'warren_gateway_requests_in_flight')).toBe(2);
    expect(sampleValue(families, 'warren_service_requests_in_flight', { service: 'users' })).toBe(1);
    releaseHeld();
    expect(await holding).toBe('released');
    const after = await scrape(gateway);
    expect(sampleValue(after, 'warren_gateway_requests_in_flight')).toBe(1);
    expect(sampleValue(after, 'warren_service_requests_in_flight', { service: 'users' })).toBe(0);
  });

  it('leaves out an instance that does not answer in time and counts it in the scrape failures', async () => {
    const { dir, gateway } = await setup({ instances: 1 });
    expect(await get(gateway, '/users/1')).toBe(200);
    // An "instance" that accepts connections and never says a word.
    const sockets: Socket[] = [];
    const mute = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => mute.listen(join(dir, 'users.7.sock'), resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      mute.close();
    });
    const failures = () =>
      scrape(gateway).then((f) => [f, sampleValue(f, 'warren_gateway_metrics_scrape_failures_total', { service: 'users' })] as const);
    const [families] = await until(async () => {
      const [f, count] = await failures();
      return count === 1 ? [f] : undefined;
    }, 'a scrape that counts the mute instance as a failure');
    expect(sampleValue(families, 'warren_service_instances', { service: 'users' })).toBe(1);
    expect(sampleValue(families, 'warren_service_requests_total', { service: 'users' })).toBe(1);
    const [, again] = await failures();
    expect(again).toBe(2);
  });

  it('keeps the counts of an instance that went away: the counters never go down', async () => {
    const { gateway, instances } = await setup();
    const [first, second] = instances as [ServiceServer<unknown>, ServiceServer<unknown>];
    for (let i = 1; i <= 4; i++) expect(await get(gateway, `/users/${i}`)).toBe(200);
    for (let i = 0; i < 3; i++) second.metrics.start('GET /users/:id')(200);
    const before = await scrape(gateway);
    expect(sampleValue(before, 'warren_service_requests_total', { service: 'users' })).toBe(7);
    const secondCount = second.metrics.snapshot().service.requests;
    expect(secondCount).toBeGreaterThanOrEqual(3);
    servers.splice(servers.indexOf(second), 1);
    await second.close();
    const after = await until(async () => {
      const families = await scrape(gateway);
      return sampleValue(families, 'warren_service_instances', { service: 'users' }) === 1 ? families : undefined;
    }, 'a scrape without the closed instance');
    expect(sampleValue(after, 'warren_service_requests_total', { service: 'users' })).toBe(7);
    expect(sampleValue(after, 'warren_service_request_duration_seconds_count', { service: 'users' })).toBe(7);
    expect(sampleValue(after, 'warren_service_route_requests_total', { service: 'users', route: 'GET /users/:id' })).toBe(7);
    expect(await get(gateway, '/users/9')).toBe(200);
    const last = await scrape(gateway);
    expect(sampleValue(last, 'warren_service_requests_total', { service: 'users' })).toBe(8);
    expect(first.metrics.snapshot().service.requests).toBe(8 - secondCount);
  });
});

describe('gateway /metrics: config', () => {
  it('serves at the configured path, or not at all', async () => {
    const { gateway } = await setup({ instances: 1, gateway: { metrics: '/internal/metrics' } });
    expect(sampleValue(await scrape(gateway, '/internal/metrics'), 'warren_gateway_routes')).toBe(4);
    expect(await get(gateway, '/metrics')).toBe(404);
    const off = await setup({ instances: 1, gateway: { metrics: false } });
    expect(await get(off.gateway, '/metrics')).toBe(404);
    const env = await setup({ instances: 1, gateway: { env: { WARREN_GATEWAY_METRICS: 'false' } } });
    expect(await get(env.gateway, '/metrics')).toBe(404);
  });

  it('checks the setting: true, false or a path not taken by another endpoint', () => {
    expect(resolveGatewayConfig({}).metrics).toBe(true);
    expect(resolveGatewayConfig({}, { GATEWAY_METRICS: '/m' }).metrics).toBe('/m');
    expect(resolveGatewayConfig({}, { GATEWAY_METRICS: 'true' }).metrics).toBe(true);
    expect(() => resolveGatewayConfig({ metrics: 'metrics' })).toThrow(
      /gateway\.metrics: expected true, false, or a path starting with "\/".*got "metrics"/,
    );
    expect(() => resolveGatewayConfig({ metrics: 1 })).toThrow(/gateway\.metrics: expected true, false, or a path/);
    expect(() => resolveGatewayConfig({ metrics: '/healthz' })).toThrow(
      /gateway\.metrics: expected a path other than \/healthz and \/readyz/,
    );
    expect(() => resolveGatewayConfig({ metrics: '/x', openapi: '/x' })).toThrow(/gateway\.openapi: expected a path other than metrics'/);
    expect(() => resolveGatewayConfig({}, { WARREN_GATEWAY_METRICS: 'often' })).toThrow(/got WARREN_GATEWAY_METRICS="often"/);
  });
});

describe('gateway /metrics: what an instance answers is checked', () => {
  it('reads figures that are not numbers ≥ 0 as 0 and skips buckets out of range', () => {
    const snapshot = {
      service: {
        requests: 5,
        errors: -1,
        clientErrors: 'x',
        inFlight: Number.NaN,
        since: 1,
        sumMs: 12,
        buckets: [3, 2, 99_999, 1, -1, 1, 1.5, 1, 4],
      },
      routes: { 'GET /a': { requests: 5, errors: null }, 'GET /b': 'nonsense' },
    } as unknown as MetricsSnapshot;
    const { figures, inFlight } = figuresOf(snapshot);
    expect(figures.get(keys.requests)).toBe(5);
    expect(figures.get(keys.errors)).toBe(0);
    expect(figures.get(keys.clientErrors)).toBe(0);
    expect(inFlight).toBe(0);
    expect(figures.get(keys.sumS)).toBe(0.012);
    // Bucket 3 (≤ 0.001·γ³ ms) is under the first bound; the others are out of range or not whole.
    expect(figures.get(keys.bucket(0))).toBe(2);
    expect([...figures.keys()].filter((key) => key.startsWith('le')).length).toBe(1);
    expect(figures.get(keys.route('requests', 'GET /a'))).toBe(5);
    expect(figures.get(keys.route('errors', 'GET /a'))).toBe(0);
    expect(figures.has(keys.route('requests', 'GET /b'))).toBe(false);
    expect(figuresOf(null as unknown as MetricsSnapshot).figures.get(keys.requests)).toBe(0);
  });
});
