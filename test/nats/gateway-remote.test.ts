/**
 * The gateway forwards to a service that lives only on another host: two supervisors (`warren up`)
 * share one nats-server, each with its own socket directory (hosts stood in for on one machine;
 * test/nats/netns.test.ts does it across network namespaces). Host A runs the gateway and
 * `orders`; host B runs `remote`. The gateway learns `remote`'s routes over NATS (`$SRV.PING`, then
 * protocol §15.7), serves them, and forwards its calls over NATS; when host B stops, they get 503.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ensureSocketDir } from '../../src/service/socket-dir.js';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';
import { natsFixtures, pingAll, untilOnNats } from './support.js';

const FIXTURE = new URL('../fixtures/nats-service.mjs', import.meta.url).pathname;
const { natsServer, natsConnection } = natsFixtures();
const { run: cli, workDir } = useCli(60_000);

/** Host A turns NATS on in its `.env`, host B with the config keys `transport` and `nats`. */
function project(dir: string, service: string, natsUrl: string, options: { gateway?: object; keys?: boolean } = {}): void {
  const config: Record<string, unknown> = {
    socketDir: 's',
    services: [{ name: service, entry: FIXTURE, env: { TEST_SERVICE_NAME: service } }],
  };
  if (options.gateway !== undefined) config.gateway = options.gateway;
  if (options.keys) Object.assign(config, { transport: 'nats', nats: { url: [natsUrl] } });
  else writeFileSync(join(dir, '.env'), `WARREN_TRANSPORT=nats\nNATS_URL=${natsUrl}\n`);
  writeFileSync(join(dir, 'warren.config.json'), JSON.stringify(config));
}

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe('the gateway across hosts', () => {
  it('serves the routes of a service that lives only on another host, forwards over NATS, and answers 503 once it is gone', {
    timeout: 120_000,
  }, async () => {
    const nats = await natsServer();
    const port = await freePort();
    const hostA = workDir('wg-');
    const hostB = workDir('wg-');
    project(hostA.dir, 'orders', nats.url, { gateway: { host: '127.0.0.1', port, prefixes: { orders: '/orders', remote: '/remote' } } });
    project(hostB.dir, 'remote', nats.url, { keys: true });
    expect((await cli(['up', '--detach'], { cwd: hostA.dir })).code).toBe(0);
    await ensureSocketDir(hostB.socketDir);
    copyFileSync(join(hostA.socketDir, '.auth_token'), join(hostB.socketDir, '.auth_token'));
    try {
      const base = `http://127.0.0.1:${port}`;
      const local = await get(`${base}/orders/who`);
      expect(local.status).toBe(200);
      // Before host B exists, nothing routes /remote.
      expect((await get(`${base}/remote/who`)).status).toBe(404);

      expect((await cli(['up', '--detach'], { cwd: hostB.dir })).code).toBe(0);
      const watcher = await natsConnection(nats.url);
      await untilOnNats(watcher, 'remote', 1);
      let remote = { status: 0, body: undefined as unknown };
      await until(async () => {
        remote = await get(`${base}/remote/who`);
        return remote.status === 200;
      }, 'the gateway to route /remote/who to host B');
      const remotePid = (remote.body as { pid: number }).pid;
      expect(remotePid).not.toBe((local.body as { pid: number }).pid);
      // A body crosses too, and the gateway reports both services ready.
      const echo = await fetch(`${base}/remote/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      expect(await echo.json()).toEqual({ echoed: { a: 1 } });
      // The routes subject (§15.7) answers only to Warren's token.
      const [pinged] = await pingAll(watcher, 'remote');
      const refused = await watcher.request(`warren.svc.remote.routes.${String(pinged?.id)}`, new Uint8Array(0), { timeout: 5_000 });
      expect((unpack(refused.data) as unknown[])[0]).toBe(401);
      const ready = await get(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect((ready.body as { services: string[] }).services.sort()).toEqual(['orders', 'remote']);

      expect((await cli(['stop', '--socket-dir', hostB.socketDir])).code).toBe(0);
      await until(async () => (await get(`${base}/remote/who`)).status === 503, 'calls to the stopped host to get 503');
      const gone = await get(`${base}/remote/who`);
      expect((gone.body as { error: { code: string } }).error.code).toBe('WARREN_UNKNOWN_SERVICE');
      expect((await get(`${base}/orders/who`)).status).toBe(200);
    } finally {
      await cli(['stop', '--socket-dir', hostB.socketDir]);
      await cli(['stop', '--socket-dir', hostA.socketDir]);
    }
  });
});
