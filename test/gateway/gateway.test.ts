/** The gateway against real instances on Unix sockets: fetch, curl and inject() through the same pipeline. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { defineService, reply, type ServiceDefinition } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

const users = defineService({
  name: 'users',
  routes: {
    'GET /users/:id': ({ params, requestId, headers }) =>
      params.id === '0' ? reply(404, { error: { code: 'E_NO_USER', message: 'no such user' } }) : { id: params.id, requestId, headers },
    'POST /users': {
      handler: ({ body }) => reply(201, body, { location: '/users/1', connection: 'x-secret', 'x-secret': 'no' }),
      schema: { body: z.object({ name: z.string().min(1) }) },
    },
    'GET /text': () => 'plain text',
    'GET /bytes': () => Buffer.from([1, 2, 3]),
    'GET /empty': () => undefined,
    'GET /slow': () => new Promise((resolve) => setTimeout(() => resolve('late'), 1_500)),
    'GET /unavailable': () => reply(503, { error: { code: 'E_BUSY', message: 'busy' } }),
  },
});

const orders = defineService({
  name: 'orders',
  routes: { 'GET /': () => ['o1'], 'GET /orders/:id': ({ params }) => ({ order: params.id }) },
});

async function setup(options: Parameters<typeof startGateway>[0] = {}, extra: ServiceDefinition<undefined>[] = []) {
  const dir = socketDir();
  servers.push((await serveService(users, { socketDir: dir })) as ServiceServer<unknown>);
  for (const definition of extra) servers.push((await serveService(definition, { socketDir: dir })) as ServiceServer<unknown>);
  const lines: string[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
  const gateway = await startGateway({ port: 0, socketDir: dir, logDestination: destination, ...options });
  gateways.push(gateway);
  return { dir, gateway, lines };
}

describe('gateway over HTTP', () => {
  it('forwards to the service: JSON, text, bytes, empty; request id taken or made, returned, passed and logged', async () => {
    const { gateway, lines } = await setup();
    const res = await fetch(`${gateway.url}/users/42`, { headers: { 'x-request-id': 'req-1', 'x-trace': 't' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-1');
    const body = (await res.json()) as { id: string; requestId: string; headers: Record<string, string> };
    expect(body).toMatchObject({ id: '42', requestId: 'req-1' });
    expect(body.headers['x-trace']).toBe('t');
    expect(body.headers.connection).toBeUndefined();
    const made = await fetch(`${gateway.url}/users/7`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await made.json()) as { requestId: string }).requestId).toBe(made.headers.get('x-request-id'));
    const text = await fetch(`${gateway.url}/text`);
    expect([text.headers.get('content-type'), await text.text()]).toEqual(['text/plain; charset=utf-8', 'plain text']);
    const bytes = await fetch(`${gateway.url}/bytes`);
    expect([...new Uint8Array(await bytes.arrayBuffer())]).toEqual([1, 2, 3]);
    expect((await fetch(`${gateway.url}/empty`)).status).toBe(204);
    await until(() => lines.some((line) => line.includes('"requestId":"req-1"')));
    const entry = JSON.parse(lines.find((line) => line.includes('"requestId":"req-1"')) as string);
    expect(entry).toMatchObject({ method: 'GET', path: '/users/42', status: 200, service: 'users', msg: 'request' });
    expect(entry.bytes).toBeGreaterThan(0);
    expect(typeof entry.ms).toBe('number');
  });

  it("passes the service's own statuses and errors; 404 and 405 in the same error shape; hop-by-hop headers dropped", async () => {
    const { gateway } = await setup();
    const missing = await fetch(`${gateway.url}/users/0`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: { code: 'E_NO_USER', message: 'no such user' } }]);
    const created = await fetch(`${gateway.url}/users`, {
      method: 'POST',
      body: JSON.stringify({ name: 'ann' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/users/1');
    expect(created.headers.get('x-secret')).toBe('no');
    const invalid = await fetch(`${gateway.url}/users`, {
      method: 'POST',
      body: JSON.stringify({ name: '' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('WARREN_VALIDATION');
    const none = await fetch(`${gateway.url}/nothing/here`);
    expect([none.status, ((await none.json()) as { error: { code: string } }).error.code]).toEqual([404, 'WARREN_NOT_FOUND']);
    const wrong = await fetch(`${gateway.url}/users/1`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    const busy = await fetch(`${gateway.url}/unavailable`);
    expect([busy.status, busy.headers.get('retry-after')]).toEqual([503, '1']);
  });

  it('HEAD answers the headers of GET without a body; OPTIONS answers 204 with Allow', async () => {
    const { gateway } = await setup();
    const head = await fetch(`${gateway.url}/users/5`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
    const options = await fetch(`${gateway.url}/users/5`, { method: 'OPTIONS' });
    expect([options.status, options.headers.get('allow')]).toEqual([204, 'GET, HEAD, OPTIONS']);
  });

  it('curl: a listing, a 404 and a validation 400', async () => {
    const { gateway } = await setup();
    const ok = await run('curl', ['-s', '-w', '\n%{http_code}', `${gateway.url}/users/3`]);
    expect(ok.stdout.trim().split('\n').at(-1)).toBe('200');
    const bad = await run('curl', [
      '-s',
      '-w',
      '\n%{http_code}',
      '-H',
      'content-type: application/json',
      '-d',
      '{"name":""}',
      `${gateway.url}/users`,
    ]);
    expect(bad.stdout.trim().split('\n').at(-1)).toBe('400');
    const none = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${gateway.url}/nope`]);
    expect(none.stdout).toBe('404');
  });

  it('/healthz answers 200; /readyz 200 once every routed service has an instance, else 503', async () => {
    const { gateway } = await setup();
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', services: ['users'] }]);
    await servers.splice(0)[0]?.close();
    await until(async () => (await fetch(`${gateway.url}/readyz`)).status === 503);
    // Its routes are kept: a call is 503 (no instance), not 404.
    const gone = await fetch(`${gateway.url}/users/1`);
    expect([gone.status, gone.headers.get('retry-after')]).toEqual([503, '1']);
  });

  it('a call past timeoutMs is 504', async () => {
    const { gateway } = await setup({ timeoutMs: 200 });
    const res = await fetch(`${gateway.url}/slow`);
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([504, 'WARREN_TIMEOUT']);
  });
});

describe('gateway limits and bad input', () => {
  it('a body over bodyLimit is 413 (by Content-Length, and by the bytes of a chunked body)', async () => {
    const { gateway } = await setup({ bodyLimit: 100 });
    const big = JSON.stringify({ name: 'x'.repeat(200) });
    const res = await fetch(`${gateway.url}/users`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([413, 'WARREN_BODY_TOO_LARGE']);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gateway.url}/users`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(big.slice(0, 50));
      req.write(big.slice(50));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('headers over maxHeaderBytes are 431; a malformed request 400; bad JSON 400; a malformed percent-encoding 400; an unknown body encoding 400', async () => {
    const { gateway } = await setup();
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(gateway.address.port, '127.0.0.1');
        let out = '';
        socket.on('data', (d) => {
          out += d;
        });
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
        socket.write(text);
      });
    const huge = await raw(`GET /users/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain('WARREN_HEADERS_TOO_LARGE');
    const garbage = await raw('NOT A REQUEST\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).toContain('WARREN_BAD_REQUEST');
    const json = await fetch(`${gateway.url}/users`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
    expect([json.status, ((await json.json()) as { error: { code: string } }).error.code]).toEqual([400, 'WARREN_BAD_REQUEST']);
    const percent = await raw('GET /users/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(percent).toMatch(/^HTTP\/1\.1 400 /);
    const gz = await fetch(`${gateway.url}/users`, {
      method: 'POST',
      body: 'xx',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(gz.status).toBe(400);
    const method = await raw('PROPFIND /users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(method).toMatch(/^HTTP\/1\.1 405 /);
  });
});

describe('access log', () => {
  it('a request id or path with quotes and backslashes still makes one JSON line', async () => {
    const { gateway, lines } = await setup();
    const id = 'odd"id\\x';
    await gateway.inject({ url: '/users/"q"', headers: { 'x-request-id': id } });
    await until(() => lines.some((line) => line.includes('odd')));
    const entry = JSON.parse(lines.find((line) => line.includes('odd')) as string);
    expect(entry).toMatchObject({ level: 30, component: 'gateway', requestId: id, path: '/users/"q"', msg: 'request' });
  });
});

describe('gateway.inject()', () => {
  it('runs the pipeline without a socket', async () => {
    const { gateway } = await setup();
    const res = await gateway.inject({ url: '/users/9', headers: { 'X-Request-Id': 'inj' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('inj');
    expect(res.json()).toMatchObject({ id: '9', requestId: 'inj' });
    const created = await gateway.inject({ method: 'POST', url: '/users', body: { name: 'zed' } });
    expect([created.status, created.json()]).toEqual([201, { name: 'zed' }]);
    expect((await gateway.inject({ url: '/none' })).status).toBe(404);
  });
});

describe('routing across services', () => {
  it('serves each service under its prefix; the prefix is stripped before forwarding', async () => {
    const { gateway } = await setup({ prefixes: { orders: '/api/orders' } }, [orders]);
    expect((await gateway.inject({ url: '/api/orders' })).json()).toEqual(['o1']);
    expect((await gateway.inject({ url: '/api/orders/orders/5?x=1' })).json()).toEqual({ order: '5' });
    expect((await gateway.inject({ url: '/users/1' })).status).toBe(200);
    expect(gateway.routes().map((r) => `${r.service} ${r.method} ${r.httpPath}`)).toContain('orders GET /api/orders/orders/:id');
  });

  it('two services claiming the same route: start-up fails with one line naming both', async () => {
    const dir = socketDir();
    const other = defineService({ name: 'accounts', routes: { 'GET /users/:name': () => 'acc' } });
    servers.push((await serveService(users, { socketDir: dir })) as ServiceServer<unknown>);
    servers.push((await serveService(other, { socketDir: dir })) as ServiceServer<unknown>);
    const error = await startGateway({ port: 0, socketDir: dir, logDestination: new PassThrough() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WARREN_INVALID_ROUTE' });
    expect((error as Error).message).toMatch(
      /GET \/users\/:\w+ of service '(users|accounts)' clashes with GET \/users\/:\w+ of service '(users|accounts)'/,
    );
    expect((error as Error).message).not.toContain('\n');
    // With a prefix there is no clash.
    const gateway = await startGateway({ port: 0, socketDir: dir, prefixes: { accounts: '/acc' }, logDestination: new PassThrough() });
    gateways.push(gateway);
    expect((await gateway.inject({ url: '/acc/users/x' })).text()).toBe('acc');
  });

  it('a service that starts later is served without a restart', async () => {
    const { gateway, dir } = await setup();
    expect((await gateway.inject({ url: '/orders/1' })).status).toBe(404);
    servers.push((await serveService(orders, { socketDir: dir })) as ServiceServer<unknown>);
    await until(async () => (await gateway.inject({ url: '/orders/1' })).status === 200);
  });
});
