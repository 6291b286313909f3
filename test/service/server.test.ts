/** A service served on a real Unix socket: hello and token, calls, metrics, draining, closing, socket ownership. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteError, WarrenError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix } from '../../src/peer/transports/socket.js';
import { readToken } from '../../src/service/auth.js';
import { decodeReply, encodeCall } from '../../src/service/call-format.js';
import { defineService, type ServiceResponse } from '../../src/service/define.js';
import { SERVICE_METHODS, type ServiceServer, serveService } from '../../src/service/server.js';

const dirs: string[] = [];
const servers: ServiceServer<unknown>[] = [];
const peers: Peer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

async function serve<D>(definition: Parameters<typeof serveService<D>>[0], dir: string, instance = 0) {
  const server = await serveService(definition, { socketDir: dir, instance });
  servers.push(server as ServiceServer<unknown>);
  return server;
}

async function connect(path: string): Promise<Peer> {
  const peer = await connectUnix(path, { timeout: 5_000 });
  peers.push(peer);
  return peer;
}

function call(peer: Peer, method: string, url: string, body?: unknown): Promise<ServiceResponse> {
  return peer.request(SERVICE_METHODS.call, encodeCall(method, url, body)).then(decodeReply);
}

const users = defineService({
  name: 'users',
  dependencies: () => ({ names: new Map([['42', 'Ada']]) }),
  routes: {
    'GET /users/:id': ({ params }, { deps }) => ({ id: params.id, name: deps.names.get(params.id ?? '') }),
    'GET /health': { public: true, handler: () => 'ok' },
    'GET /slow': (_input, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('aborted'), { once: true })),
  },
});

describe('serveService', () => {
  it('listens on <socketDir>/<service>.<instance>.sock (0600, directory 0700) and answers calls after a hello with the token', async () => {
    const dir = socketDir();
    const server = await serve(users, dir, 2);
    expect(server.path).toBe(join(dir, 'users.2.sock'));
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '.auth_token')).mode & 0o777).toBe(0o600);
    const peer = await connect(server.path);
    // Without a hello only public routes answer.
    expect((await call(peer, 'GET', '/health')).body).toBe('ok');
    expect((await call(peer, 'GET', '/users/42')).status).toBe(401);
    const hello = await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir), client: 'test' });
    expect(hello).toEqual({ service: 'users', instance: 2, pid: process.pid });
    expect(await call(peer, 'GET', '/users/42')).toEqual({ status: 200, headers: {}, body: { id: '42', name: 'Ada' } });
    expect((await call(peer, 'GET', '/nowhere')).status).toBe(404);
  });

  it('also accepts a call written as a map, and answers a call that is neither form with 400', async () => {
    const dir = socketDir();
    const server = await serve(users, dir);
    const peer = await connect(server.path);
    await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir) });
    const asMap = decodeReply(await peer.request(SERVICE_METHODS.call, { method: 'GET', url: '/users/42', headers: { 'x-a': 'b' } }));
    expect(asMap).toEqual({ status: 200, headers: {}, body: { id: '42', name: 'Ada' } });
    for (const bad of [null, 'GET /users/42', ['GET'], { method: 'GET' }, ['GET', '/users/42', null, { n: 1 }]]) {
      const answer = decodeReply(await peer.request(SERVICE_METHODS.call, bad));
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(answer.body).toMatchObject({ error: { code: 'WARREN_BAD_URL' } });
    }
    // The connection is still good after bad input.
    expect((await call(peer, 'GET', '/users/42')).status).toBe(200);
  });

  it('refuses a wrong token and closes the connection after three failures', async () => {
    const dir = socketDir();
    const server = await serve(users, dir);
    const peer = await connect(server.path);
    for (let i = 0; i < 2; i++) {
      const error = await peer.request(SERVICE_METHODS.hello, { token: 'f'.repeat(64) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteError);
      expect((error as RemoteError).code).toBe('WARREN_UNAUTHORIZED');
    }
    const closed = new Promise((resolve) => peer.on('close', resolve));
    const third = await peer.request(SERVICE_METHODS.hello, {}).catch((e: unknown) => e);
    expect((third as WarrenError).code).toBe('WARREN_UNAUTHORIZED');
    await closed;
    expect(peer.closed).toBe(true);
  });

  it('counts calls per route for warren.metrics, which needs the token', async () => {
    const dir = socketDir();
    const server = await serve(users, dir);
    const peer = await connect(server.path);
    await expect(peer.request(SERVICE_METHODS.metrics)).rejects.toMatchObject({ code: 'WARREN_UNAUTHORIZED' });
    await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir) });
    for (let i = 0; i < 3; i++) await call(peer, 'GET', '/users/42');
    await call(peer, 'GET', '/nowhere');
    const snapshot = (await peer.request(SERVICE_METHODS.metrics)) as {
      service: { requests: number; clientErrors: number };
      routes: Record<string, { requests: number }>;
    };
    expect(snapshot.service.requests).toBe(4);
    expect(snapshot.service.clientErrors).toBe(1);
    expect(snapshot.routes['GET /users/:id']?.requests).toBe(3);
    expect(snapshot.routes['(no route)']?.requests).toBe(1);
  });

  it('drains: calls in progress finish, new calls get 503, then close runs onClose', async () => {
    const dir = socketDir();
    const closedWith: unknown[] = [];
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const service = defineService({
      name: 'jobs',
      dependencies: () => ({ db: 'open' }),
      onClose: (deps) => void closedWith.push(deps),
      routes: {
        'POST /jobs': {
          public: true,
          handler: async () => {
            started();
            await gate;
            return 'done';
          },
        },
      },
    });
    const server = await serveService(service, { socketDir: dir });
    const peer = await connect(server.path);
    const inProgress = call(peer, 'POST', '/jobs');
    await running;
    const drained = server.drain();
    const refused = await call(peer, 'POST', '/jobs');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: { code: 'WARREN_DRAINING' } });
    release?.();
    expect((await inProgress).body).toBe('done');
    await drained;
    // close() now waits (up to closeGraceMs) for the clients to close their connections after warren.goaway.
    await peer.close();
    await server.close();
    expect(closedWith).toEqual([{ db: 'open' }]);
  });

  it('never takes a socket a live server owns: the second start fails naming the path', async () => {
    const dir = socketDir();
    const server = await serve(users, dir);
    const second = await serveService(users, { socketDir: dir }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(WarrenError);
    expect((second as Error).message).toContain(server.path);
    // The first server still answers.
    const peer = await connect(server.path);
    expect((await call(peer, 'GET', '/health')).body).toBe('ok');
  });
});
