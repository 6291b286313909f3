/**
 * Two supervisors (`warren up`) that share one nats-server, each with its own socket directory:
 * hosts stood in for on one machine (this test makes no network namespaces). Their `.env` turns
 * the nats transport on; the two socket directories share one Warren token. A call from one to a
 * service that lives only under the other goes through ServiceClient and `warren call`, both see
 * every instance with `warren status --cluster`, and a supervisor that stops takes its instances
 * off NATS.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { ServiceClient } from '../../src/service/client.js';
import { ensureSocketDir } from '../../src/service/socket-dir.js';
import { useCli } from '../support/cli.js';
import { until } from '../support/until.js';
import { natsFixtures, pingAll, untilOnNats } from './support.js';

const FIXTURE = new URL('../fixtures/nats-service.mjs', import.meta.url).pathname;
const { natsServer, natsConnection } = natsFixtures();
const { run: cli, workDir } = useCli(60_000);

function project(dir: string, service: string, natsUrl: string): void {
  writeFileSync(
    join(dir, 'warren.config.json'),
    JSON.stringify({ socketDir: 's', services: [{ name: service, entry: FIXTURE, env: { TEST_SERVICE_NAME: service } }] }),
  );
  writeFileSync(join(dir, '.env'), `WARREN_TRANSPORT=nats\nNATS_URL=${natsUrl}\n`);
}

describe('two supervisors sharing NATS', () => {
  it('a service under one supervisor is called from the other host, listed by status --cluster, and gone from NATS when stopped', {
    timeout: 120_000,
  }, async () => {
    const nats = await natsServer();
    const hostA = workDir('wn-');
    const hostB = workDir('wn-');
    project(hostA.dir, 'orders', nats.url);
    project(hostB.dir, 'remote', nats.url);
    expect((await cli(['up', '--detach'], { cwd: hostA.dir })).code).toBe(0);
    // Host B gets host A's token before its services start, as an operator copies it.
    await ensureSocketDir(hostB.socketDir);
    copyFileSync(join(hostA.socketDir, '.auth_token'), join(hostB.socketDir, '.auth_token'));
    expect((await cli(['up', '--detach'], { cwd: hostB.dir })).code).toBe(0);
    const watcher = await natsConnection(nats.url);
    await untilOnNats(watcher, 'orders', 1);
    await untilOnNats(watcher, 'remote', 1);

    const client = new ServiceClient({ socketDir: hostA.socketDir, transport: 'nats', nats: { url: nats.url } });
    try {
      const fromA = await client.service('remote').get('/who');
      expect(fromA.status).toBe(200);
      // The local one is still taken locally (its socket in host A's directory).
      expect((await client.service('orders').get('/who')).status).toBe(200);
      expect(client.service('orders').stats()).toHaveLength(1);

      const env = { WARREN_TRANSPORT: 'nats', NATS_URL: nats.url, WARREN_SOCKET_DIR: hostA.socketDir };
      const call = await cli(['call', 'remote', 'GET', '/who', '--json'], { env });
      expect(call.code).toBe(0);
      expect(JSON.parse(call.stdout).body).toEqual(fromA.body);

      const cluster = await cli(['status', '--cluster', '--json', '--nats-url', nats.url]);
      expect(cluster.code).toBe(0);
      const { instances } = JSON.parse(cluster.stdout) as { instances: { service: string; pid: number }[] };
      expect(instances.map((i) => i.service)).toEqual(['orders', 'remote']);
      expect(instances[1]?.pid).toBe((fromA.body as { pid: number }).pid);

      // Host B stops: its instance drains and leaves NATS; a call from A then finds no one.
      expect((await cli(['stop', '--socket-dir', hostB.socketDir])).code).toBe(0);
      await until(async () => (await pingAll(watcher, 'remote', 100)).length === 0, 'the stopped instance to leave NATS');
      const error = await client
        .service('remote')
        .get('/who')
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isWarrenError(error) && error.code).toBe('WARREN_UNKNOWN_SERVICE');
    } finally {
      client.close();
    }
  });
});
