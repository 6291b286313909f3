/**
 * NATS faults, each with a nats-server of the test's own on a port of its own: NATS restarted
 * while calls are in flight, and NATS unreachable when a client and a service start.
 */
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { defineService } from '../../src/service/define.js';
import { serveService } from '../../src/service/server.js';
import { until } from '../support/until.js';
import { freePort, natsFixtures, untilOnNats } from './support.js';

const { natsServer, socketDir, serviceProcess, client, natsConnection } = natsFixtures();

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isWarrenError(error) ? error.code : String(error);
  }
  return 'no error';
}

describe('NATS faults', () => {
  it('NATS restarted during calls: in-flight calls fail with WARREN_NATS_UNAVAILABLE before their deadline, later calls succeed', {
    timeout: 30_000,
  }, async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url);
    await untilOnNats(await natsConnection(nats.url), 'remote', 1);
    // A deadline longer than the test: a call that waited for it would fail the test, not pass it.
    const remote = client(callerDir, nats.url, 60_000).service('remote');
    expect((await remote.get('/who')).status).toBe(200);
    // Their outcomes are taken at once: they fail while the test waits for nats-server to exit.
    const inFlight = [codeOf(remote.get('/wait')), codeOf(remote.get('/wait')), codeOf(remote.get('/wait'))];
    await until(async () => ((await remote.get('/counts')).body as { waiting: number }).waiting === 3, 'three calls running');

    await nats.kill();
    expect(await Promise.all(inFlight)).toEqual(['WARREN_NATS_UNAVAILABLE', 'WARREN_NATS_UNAVAILABLE', 'WARREN_NATS_UNAVAILABLE']);
    // While NATS is down a call fails at once, with the same code.
    expect(await codeOf(remote.get('/who'))).toBe('WARREN_NATS_UNAVAILABLE');

    await nats.start();
    // Both sides reconnect by themselves; the service's subscriptions come back with it.
    const back = await until(async () => {
      try {
        return await remote.get('/who');
      } catch (error) {
        if (isWarrenError(error) && (error.code === 'WARREN_NATS_UNAVAILABLE' || error.code === 'WARREN_UNKNOWN_SERVICE')) return undefined;
        throw error;
      }
    }, 'a call to succeed after the restart');
    expect(back.status).toBe(200);
  });

  it('NATS unreachable at start-up: local calls work, remote calls fail fast, and the client connects once NATS is there', {
    timeout: 30_000,
  }, async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const dir = await socketDir();
    const local = await serveService(defineService({ name: 'nearby', routes: { 'GET /here': () => ({ here: true }) } }), {
      socketDir: dir,
      transport: 'nats',
      nats: { url },
    });
    try {
      const caller = client(dir, url, 60_000);
      expect(await caller.service('nearby').get('/here')).toMatchObject({ status: 200, body: { here: true } });
      const error = await caller
        .service('elsewhere')
        .get('/x')
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isWarrenError(error) && error.code).toBe('WARREN_NATS_UNAVAILABLE');
      expect((error as Error).message).toContain(url);

      // NATS comes up on that port: the client and the service find it without being told.
      await natsServer(port);
      await untilOnNats(await natsConnection(url), 'nearby', 1);
      const remoteOnly = client(await socketDir(dir), url, 60_000).service('nearby');
      await until(async () => (await remoteOnly.get('/here').catch(() => undefined))?.status === 200, 'a call over NATS');
      expect(await codeOf(caller.service('elsewhere').get('/x'))).toBe('WARREN_UNKNOWN_SERVICE');
    } finally {
      await local.close();
    }
  });
});
