/**
 * `gateway.websocket`: WebSocket upgrades on one path of the gateway's port go to a real hub (over
 * TCP or a Unix socket), and every decision of the handshake stays the hub's (origin, per-IP rate,
 * authentication), with the client's address from the gateway's X-Forwarded-For.
 */

import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway.js';
import { withHubDefault } from '../../src/config/gateway-websocket.js';
import { isWarrenError } from '../../src/errors.js';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { createBroadcaster } from '../../src/realtime/index.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { parseConfig } from '../../src/supervisor/config.js';
import { REALTIME_CONFIG_ENV } from '../../src/supervisor/realtime-for-gateway.js';
import { refusedHandshake, useHubs } from '../realtime/helpers.js';
import { freePort } from '../support/ports.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers } = serviceCleanup();
const { hub, client } = useHubs();
const gateways: Gateway[] = [];
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const hello = defineService({ name: 'hello', routes: { 'GET /hello': () => ({ hello: 'world' }) } });

function tempDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-wsf-'));
  dirs.push(base);
  return base;
}

/** A gateway in front of one HTTP service, forwarding `/ws` to `hubAddress`. */
async function gatewayTo(
  hubAddress: string,
  websocket: Record<string, unknown> = {},
  socketDir = join(tempDir(), 'run'),
): Promise<Gateway> {
  servers.push((await serveService(hello, { socketDir })) as ServiceServer<unknown>);
  const gateway = await startGateway({ port: 0, socketDir, logLevel: 'silent', websocket: { hub: hubAddress, ...websocket } });
  gateways.push(gateway);
  return gateway;
}

const wsUrl = (gateway: Gateway, path = '/ws') => `${gateway.url.replace('http', 'ws')}${path}`;

/** Sends a WebSocket upgrade request on a raw socket and resolves with everything the gateway wrote before it closed. */
function rawUpgrade(gateway: Gateway, path = '/ws'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.address.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${gateway.address.port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        '',
        '',
      ].join('\r\n'),
    );
  });
}

const bodyOf = (response: string) =>
  JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

describe('gateway.websocket: upgrades forwarded to the hub', () => {
  it('a client through the gateway joins a channel and receives broadcasts, on the port that also serves HTTP', async () => {
    const dir = tempDir();
    const h = await hub({ socketDir: join(dir, 'run') });
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`, {}, join(dir, 'run'));

    const res = await fetch(`${gateway.url}/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ hello: 'world' });

    const c = await client(wsUrl(gateway));
    expect(h.connections.size).toBe(1);
    const ack = await c.subscribe('room:lobby');
    expect(ack.error).toBeUndefined();
    // From another process's side: the broadcaster over hub.sock, as a service would.
    const broadcaster = createBroadcaster({ socketDir: join(dir, 'run') });
    cleanups.push(() => broadcaster.close());
    broadcaster.to('room:lobby').emit('message', { text: 'hi through the gateway' });
    const message = await c.next((m) => m.event === 'message');
    expect(message).toMatchObject({ channel: 'room:lobby', data: { text: 'hi through the gateway' } });

    // And the other way: a client event reaches the hub's handler and is answered.
    h.on('echo', (data) => ({ echoed: data }));
    const answer = await c.request({ event: 'echo', data: 42 });
    expect(answer.data).toEqual({ echoed: 42 });
  });

  it('keeps Origin: a wrong origin is still refused by the hub (403 through the gateway), a right one passes', async () => {
    const h = await hub({ allowedOrigins: ['http://shop.example'] });
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`);
    const refused = await refusedHandshake(wsUrl(gateway), { headers: { Origin: 'http://evil.example' } });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('origin http://evil.example is not allowed');
    const ok = await refusedHandshake(wsUrl(gateway), { headers: { Origin: 'http://shop.example' } });
    expect(ok.upgraded).toBe(true);
  });

  it("keeps the token: the hub's authentication refuses without one (401) and knows the user with one", async () => {
    const h = await hub({ authenticate: (req) => (req.url?.includes('token=ada') ? { userId: 'ada' } : null) });
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`);
    expect((await refusedHandshake(wsUrl(gateway))).status).toBe(401);
    const c = await client(wsUrl(gateway), { token: 'ada' });
    expect(c.events('connected')[0]?.data).toMatchObject({ userId: 'ada' });
  });

  it("the hub's per-IP rate counts the client the gateway saw, not an X-Forwarded-For the client made up", async () => {
    const h = await hub({ connectionRate: { perSecond: 0.001, burst: 1 } });
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`);
    // Through the gateway: each claims another address, the gateway adds 127.0.0.1, the hub counts that.
    const first = await refusedHandshake(wsUrl(gateway), { headers: { 'X-Forwarded-For': '10.0.0.1' } });
    expect(first.upgraded).toBe(true);
    const second = await refusedHandshake(wsUrl(gateway), { headers: { 'X-Forwarded-For': '10.0.0.2' } });
    expect(second.status).toBe(429);
    // Directly from this machine (as the gateway itself connects), the header is believed: new addresses, new buckets.
    const direct = `ws://127.0.0.1:${h.port}/ws`;
    expect((await refusedHandshake(direct, { headers: { 'X-Forwarded-For': '10.0.0.3' } })).upgraded).toBe(true);
    expect((await refusedHandshake(direct, { headers: { 'X-Forwarded-For': '10.0.0.3' } })).status).toBe(429);
    expect((await refusedHandshake(direct, { headers: { 'X-Forwarded-For': 'not-an-address, 10.0.0.4' } })).upgraded).toBe(true);
  });

  it('another path gets 404, a hub that is down 502, each on the raw socket in the gateway error shape', async () => {
    const nobody = await freePort();
    const gateway = await gatewayTo(`127.0.0.1:${nobody}`);
    const wrongPath = await rawUpgrade(gateway, '/elsewhere?x=1');
    expect(wrongPath).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(bodyOf(wrongPath).error).toEqual({
      code: 'WARREN_NOT_FOUND',
      message: 'no WebSocket endpoint at /elsewhere: WebSockets are taken on /ws',
    });
    const down = await rawUpgrade(gateway);
    expect(down).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(bodyOf(down).error).toEqual({
      code: 'WARREN_HUB_UNREACHABLE',
      message: `the WebSocket hub at 127.0.0.1:${nobody} is unreachable (ECONNREFUSED)`,
    });
    // The gateway still serves HTTP.
    expect((await fetch(`${gateway.url}/hello`)).status).toBe(200);
  });

  it('maxSockets bounds the forwarded connections (503), and a closed one frees its place', async () => {
    const h = await hub();
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`, { maxSockets: 1 });
    const first = await client(wsUrl(gateway));
    const refused = await refusedHandshake(wsUrl(gateway));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'WARREN_OVERLOADED' } });
    first.ws.close();
    await first.closedWith();
    const again = await until(async () => {
      const attempt = await refusedHandshake(wsUrl(gateway));
      return attempt.upgraded ? attempt : undefined;
    }, 'a place once the first connection closed');
    expect(again.upgraded).toBe(true);
  });

  it("a hub that closes the connection closes the client's, and gateway.close() ends the forwarded ones", async () => {
    const h = await hub();
    const gateway = await gatewayTo(`127.0.0.1:${h.port}`);
    const a = await client(wsUrl(gateway));
    const connection = [...h.connections][0];
    connection?.close(4000, 'bye');
    expect(await a.closedWith()).toBe(4000);
    expect(a.closed?.reason).toBe('bye');

    const b = await client(wsUrl(gateway));
    await gateway.close();
    // Cut, not closed with a frame: the client sees an abnormal closure and may reconnect.
    expect(await b.closedWith()).toBe(1006);
    await until(() => h.connections.size === 0, 'the hub to see its connections go');
  });

  it('forwards to a hub listening on a Unix socket', async () => {
    const path = join(tempDir(), 'hub.ws.sock');
    const server: Server = createServer((_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const h = await hub({ server });
    cleanups.push(() => h.close());
    const gateway = await gatewayTo(path);
    const c = await client(wsUrl(gateway));
    await c.subscribe('room:unix');
    h.to('room:unix').emit('ping', { over: 'unix' });
    expect((await c.next((m) => m.event === 'ping')).data).toEqual({ over: 'unix' });
  });
});

describe('gateway.websocket config', () => {
  it('defaults the path to /ws and the hub to WS_HOST:WS_PORT (else 127.0.0.1:6001); the realtime section fills both in for warren gateway', () => {
    expect(resolveGatewayConfig({ websocket: {} }).websocket).toEqual({ path: '/ws', hub: '127.0.0.1:6001', maxSockets: 10_000 });
    expect(resolveGatewayConfig({ websocket: {} }, { WS_PORT: '7001', WARREN_WS_HOST: '::1' }).websocket?.hub).toBe('[::1]:7001');
    expect(resolveGatewayConfig({}).websocket).toBeUndefined();
    const section = withHubDefault({ port: 80, websocket: { path: '/live' } }, { host: '0.0.0.0', port: 6100 }, { WS_PORT: '6200' });
    expect(section).toEqual({ port: 80, websocket: { path: '/live', hub: '127.0.0.1:6200' } });
    // The hub's path unless the gateway says otherwise: the request line is replayed as it came.
    expect(withHubDefault({ websocket: { hub: '/run/hub.sock' } }, { port: 6100, path: '/rt' })).toEqual({
      websocket: { hub: '/run/hub.sock', path: '/rt' },
    });
    expect(withHubDefault({ websocket: {} }, undefined)).toEqual({ websocket: { hub: '127.0.0.1:6001', path: '/ws' } });
    expect(withHubDefault({ port: 80 }, { port: 6100 })).toEqual({ port: 80 });
  });

  it('under warren up, the gateway process gets the realtime section (WARREN_REALTIME_CONFIG) to find the hub by', () => {
    const dir = tempDir();
    const services = [{ name: 'web', entry: './web.mjs' }];
    const realtime = { port: 6100, path: '/rt' };
    const both = parseConfig({ services, gateway: { websocket: {} }, realtime }, { baseDir: dir, cwd: dir, env: {} });
    const gateway = both.services.find((service) => service.name === 'gateway');
    expect(JSON.parse(gateway?.env[REALTIME_CONFIG_ENV] ?? 'null')).toEqual(realtime);
    // What the gateway process makes of it (src/cli/gateway.ts), its environment over the file.
    expect(withHubDefault({ websocket: {} }, realtime, { WARREN_WS_PORT: '6200' })).toEqual({
      websocket: { hub: '127.0.0.1:6200', path: '/rt' },
    });
    const alone = parseConfig({ services, gateway: {} }, { baseDir: dir, cwd: dir, env: {} });
    expect(alone.services.find((service) => service.name === 'gateway')?.env[REALTIME_CONFIG_ENV]).toBeUndefined();
  });

  it('refuses a bad hub, path or maxSockets with one line naming the key', () => {
    const message = (websocket: unknown) => {
      try {
        resolveGatewayConfig({ websocket });
      } catch (error) {
        expect(isWarrenError(error) && error.code).toBe('WARREN_CONFIG');
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(message({ hub: 'localhost' })).toBe(
      'invalid gateway config: gateway.websocket.hub: expected the hub\'s address as "host:port" or an absolute Unix socket path (e.g. "127.0.0.1:6001"), got "localhost"',
    );
    expect(message({ path: 'ws' })).toContain('gateway.websocket.path: expected a path starting with "/"');
    expect(message({ maxSockets: 0 })).toContain('gateway.websocket.maxSockets: expected a whole number of WebSocket connections');
    expect(message({ hub: '127.0.0.1:6001', extra: 1 })).toContain('unknown key(s) extra');
  });
});
