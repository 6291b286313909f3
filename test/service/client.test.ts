/** The pooled client against real instances on Unix sockets: discovery, balancing, failover, draining, load. */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WarrenError } from '../../src/errors.js';
import { ServiceClient } from '../../src/service/client.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers, clients } = serviceCleanup();

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

/** A 'products' instance that says which instance answered. */
function products(instance: number, gate?: Promise<void>) {
  return defineService({
    name: 'products',
    dependencies: () => ({ instance }),
    routes: {
      'GET /products': async (_input, { deps }) => {
        await gate;
        return { instance: deps.instance, items: ['tea', 'cake'] };
      },
      'POST /orders': ({ body }, { deps }) => ({ instance: deps.instance, ordered: body }),
    },
  });
}

async function start(dir: string, instance: number, gate?: Promise<void>) {
  const server = await serveService(products(instance, gate), { socketDir: dir, instance });
  servers.push(server as ServiceServer<unknown>);
  return server;
}

function client(dir: string): ServiceClient {
  const c = new ServiceClient({ socketDir: dir, timeout: 10_000 });
  clients.push(c);
  return c;
}

describe('ServiceClient', () => {
  it('finds instances by name and calls them with the token', async () => {
    const dir = socketDir();
    await start(dir, 0);
    const res = await client(dir).service('products').get('/products');
    expect(res).toEqual({ status: 200, headers: {}, body: { instance: 0, items: ['tea', 'cake'] } });
    const posted = await client(dir).service('products').post('/orders', { sku: 'tea' });
    expect(posted.body).toEqual({ instance: 0, ordered: { sku: 'tea' } });
  });

  it('an unknown service name is WARREN_UNKNOWN_SERVICE naming the directory; a missing directory is WARREN_SOCKET_DIR', async () => {
    const dir = socketDir();
    await start(dir, 0);
    const unknown = await client(dir)
      .service('nope')
      .get('/x')
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(WarrenError);
    expect((unknown as WarrenError).code).toBe('WARREN_UNKNOWN_SERVICE');
    expect((unknown as Error).message).toContain(dir);
    const missing = await client(join(dir, 'absent'))
      .service('products')
      .get('/products')
      .catch((e: unknown) => e);
    expect((missing as WarrenError).code).toBe('WARREN_SOCKET_DIR');
    expect((missing as Error).message).toContain(`socket directory ${join(dir, 'absent')} does not exist`);
  });

  it('a socket directory with loose permissions is refused with WARREN_SOCKET_DIR, and the call fails without hanging', async () => {
    const dir = socketDir();
    await start(dir, 0);
    chmodSync(dir, 0o777);
    try {
      const refused = await client(dir)
        .service('products')
        .get('/products')
        .catch((e: unknown) => e);
      expect((refused as WarrenError).code).toBe('WARREN_SOCKET_DIR');
      expect((refused as Error).message).toContain(dir);
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  it('opens minConnections per instance as soon as it is found, and stats() shows them', async () => {
    const dir = socketDir();
    await start(dir, 0);
    await start(dir, 1);
    const c = new ServiceClient({ socketDir: dir, minConnections: 2, maxConnections: 3 });
    clients.push(c);
    const svc = c.service('products');
    await svc.ready;
    await until(() => svc.stats().every((s) => s.connections === 2), 'two connections to each instance');
    expect(svc.stats().map(({ instance, connections, inFlight, down }) => ({ instance, connections, inFlight, down }))).toEqual([
      { instance: 0, connections: 2, inFlight: 0, down: false },
      { instance: 1, connections: 2, inFlight: 0, down: false },
    ]);
    expect((await svc.get('/products')).status).toBe(200);
  });

  it('first calls made before the warm connection is open wait for it instead of opening more', async () => {
    const dir = socketDir();
    await start(dir, 0);
    const svc = client(dir).service('products');
    // Sent at once, before discovery and the connect: none of them may open a connection of its own.
    const answers = await Promise.all(Array.from({ length: 8 }, () => svc.post('/orders', 'tea')));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(svc.stats().map(({ connections }) => connections)).toEqual([1]);
  });

  it('spreads concurrent calls over the instances, least in flight first', async () => {
    const dir = socketDir();
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    await start(dir, 0, gate);
    await start(dir, 1, gate);
    const users = client(dir).service('products');
    await users.post('/orders', {}); // discovery has settled once a first call is answered
    const calls = Array.from({ length: 8 }, () => users.get('/products'));
    open();
    const answered = (await Promise.all(calls)).map((r) => (r.body as { instance: number }).instance);
    expect(answered.filter((i) => i === 0).length).toBe(4);
    expect(answered.filter((i) => i === 1).length).toBe(4);
  });

  it('calls made one at a time go round the instances instead of all to the first', async () => {
    const dir = socketDir();
    await start(dir, 0);
    await start(dir, 1);
    const svc = client(dir).service('products');
    await until(() => svc.stats().length === 2, 'both instances found');
    const answered: number[] = [];
    for (let i = 0; i < 10; i++) answered.push(((await svc.get('/products')).body as { instance: number }).instance);
    expect(answered.filter((i) => i === 0).length).toBe(5);
    expect(answered.filter((i) => i === 1).length).toBe(5);
  });

  it('calls made one at a time reach an instance whose connection could not be opened before, once it listens again', async () => {
    const dir = socketDir();
    await start(dir, 0);
    // What a crashed process leaves: a socket file nothing listens on (a process killed with SIGKILL).
    const path = join(dir, 'products.1.sock');
    const crashed = spawn(
      process.execPath,
      ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((resolve) => crashed.stdout.once('data', resolve));
    const gone = new Promise((resolve) => crashed.once('exit', resolve));
    crashed.kill('SIGKILL');
    await gone;
    const c = new ServiceClient({ socketDir: dir, timeout: 10_000, connectTimeoutMs: 50, downForMs: 20 });
    clients.push(c);
    const svc = c.service('products');
    // Its first connection was refused: the instance is marked down, with no connection.
    await until(() => svc.stats().find((i) => i.instance === 1)?.down, 'instance 1 marked down');
    await start(dir, 1);
    await until(() => svc.stats().find((i) => i.instance === 1)?.down === false, 'instance 1 no longer down');
    const answered: number[] = [];
    for (let i = 0; i < 10; i++) answered.push(((await svc.get('/products')).body as { instance: number }).instance);
    // Each call that picks it connects to it: it is not passed by for the one with a connection.
    expect(answered).toContain(1);
  });

  it('a draining instance refuses with 503 and the call is sent to the other instance', async () => {
    const dir = socketDir();
    const first = await start(dir, 0);
    await start(dir, 1);
    const svc = client(dir).service('products');
    await svc.get('/products');
    await first.drain();
    for (let i = 0; i < 4; i++) {
      const res = await svc.post('/orders', { n: i });
      expect(res.status).toBe(200);
      expect((res.body as { instance: number }).instance).toBe(1);
    }
  });

  it('an instance that stops is left out: later calls go to the one still running', async () => {
    const dir = socketDir();
    const first = await start(dir, 0);
    await start(dir, 1);
    const svc = client(dir).service('products');
    await svc.post('/orders', {});
    await first.close();
    for (let i = 0; i < 6; i++) {
      const res = await svc.get('/products');
      expect(res.status).toBe(200);
      expect((res.body as { instance: number }).instance).toBe(1);
    }
  });

  it('an answer the service cannot encode is a 500, a request too large to send is a 413', async () => {
    const dir = socketDir();
    const server = await serveService(
      defineService({ name: 'odd', routes: { 'GET /fn': () => ({ s: Symbol('not data') }), 'POST /echo': ({ body }) => body } }),
      { socketDir: dir },
    );
    servers.push(server as ServiceServer<unknown>);
    const c = new ServiceClient({ socketDir: dir, timeout: 10_000 });
    clients.push(c);
    const odd = c.service('odd');
    const fn = await odd.get('/fn');
    expect(fn.status).toBe(500);
    expect(fn.body).toMatchObject({ error: { code: 'WARREN_INTERNAL' } });
    const big = await odd.post('/echo', 'x'.repeat(17 * 1024 * 1024));
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: { code: 'WARREN_FRAME_TOO_LARGE' } });
    // The connection is still good.
    expect((await odd.post('/echo', 'small')).body).toBe('small');
  });

  it('1,000 concurrent callers all get their answers', async () => {
    const dir = socketDir();
    await start(dir, 0);
    await start(dir, 1);
    const svc = client(dir).service('products');
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => svc.post('/orders', { i })));
    results.forEach((res, i) => {
      expect(res.status).toBe(200);
      expect((res.body as { ordered: { i: number } }).ordered.i).toBe(i);
    });
  });
});
