/**
 * What the service layer gives an HTTP front: warren.routes (§13.5), a watcher of every service,
 * request ids passed through, a deadline for a whole call and failures told apart (sent or not).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ServiceClient } from '../../src/service/client.js';
import { defineService } from '../../src/service/define.js';
import { type Instance, watchServices } from '../../src/service/discovery.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers, clients } = serviceCleanup();

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

function client(dir: string): ServiceClient {
  const c = new ServiceClient({ socketDir: dir, timeout: 10_000 });
  clients.push(c);
  return c;
}

const users = defineService({
  name: 'users',
  routes: {
    'GET /users/:id': {
      handler: ({ params, requestId }) => ({ id: params.id, requestId }),
      schema: { params: z.object({ id: z.string() }) },
    },
    'POST /users': {
      handler: ({ body }) => body,
      schema: { body: z.object({ name: z.string().min(1) }), query: z.object({ at: z.date() }) },
    },
    'GET,HEAD /ping': () => 'pong',
    'GET /slow': () => new Promise((resolve) => setTimeout(() => resolve('late'), 2_000)),
  },
});

async function serve(dir: string, definition = users, instance = 0) {
  const server = await serveService(definition, { socketDir: dir, instance });
  servers.push(server as ServiceServer<unknown>);
  return server;
}

describe('warren.routes', () => {
  it('lists every route once per method with the JSON Schemas that convert (a date does not)', async () => {
    const dir = socketDir();
    const server = await serve(dir);
    const routes = await client(dir).service('users').instanceRoutes(server.path);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /users/:id', 'POST /users', 'GET /ping', 'HEAD /ping', 'GET /slow']);
    expect(routes[0]?.schema?.params).toMatchObject({ type: 'object', properties: { id: { type: 'string' } }, required: ['id'] });
    expect(routes[1]?.schema?.body).toMatchObject({ type: 'object', required: ['name'] });
    expect(routes[1]?.schema?.query).toBeUndefined();
    expect(routes[2]?.schema).toBeUndefined();
  });
});

describe('watchServices', () => {
  it('reports the instances of every service as they come and go', async () => {
    const dir = socketDir();
    const seen: string[] = [];
    const watcher = watchServices(dir, {
      pollInterval: 50,
      onAdd: (i: Instance) => seen.push(`+${i.service}.${i.instance}`),
      onRemove: (i: Instance) => seen.push(`-${i.service}.${i.instance}`),
    });
    try {
      await watcher.ready;
      const a = await serve(dir);
      await serve(dir, defineService({ name: 'orders', routes: { 'GET /orders': () => [] } }), 3);
      await until(() => seen.length === 2);
      expect(seen.sort()).toEqual(['+orders.3', '+users.0']);
      await a.close();
      await until(() => seen.includes('-users.0'));
      expect(watcher.instances().map((i) => `${i.service}.${i.instance}`)).toEqual(['orders.3']);
    } finally {
      watcher.close();
    }
  });
});

describe('call options for a front', () => {
  it('passes the request id to the handler', async () => {
    const dir = socketDir();
    await serve(dir);
    const res = await client(dir).service('users').get('/users/7', { requestId: 'req-abc' });
    expect(res.body).toEqual({ id: '7', requestId: 'req-abc' });
  });

  it('a deadline ends the whole call with WARREN_TIMEOUT', async () => {
    const dir = socketDir();
    await serve(dir);
    const started = Date.now();
    const error = await client(dir)
      .service('users')
      .get('/slow', { deadline: Date.now() + 200 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WARREN_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_900);
  });

  it('classifyFailures: an instance that refuses connections is WARREN_UNAVAILABLE; one that dies during the call WARREN_PEER_CLOSED', async () => {
    const dir = socketDir();
    const server = await serve(dir);
    const c = new ServiceClient({ socketDir: dir, timeout: 10_000, connectTimeoutMs: 300 });
    clients.push(c);
    // Dies mid-call: the connection is dropped while /slow runs (not idempotent: not sent again).
    const slow = c
      .service('users')
      .request('GET', '/slow', { classifyFailures: true, idempotent: false })
      .catch((e: unknown) => e);
    await until(() => server.inFlight === 1);
    server.destroy();
    expect(await slow).toMatchObject({ code: 'WARREN_PEER_CLOSED' });

    // A socket file nobody listens on (a process killed with SIGKILL leaves it).
    const stale = join(dir, 'ghost.0.sock');
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(stale)).toBe(true);
    const refused = await c
      .service('ghost')
      .post('/x', {}, { classifyFailures: true })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'WARREN_UNAVAILABLE' });
    const plain = await c
      .service('ghost')
      .post('/x', {})
      .catch((e: unknown) => e);
    expect((plain as { code: string }).code).not.toBe('WARREN_UNAVAILABLE');
  });
});
