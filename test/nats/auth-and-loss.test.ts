/**
 * NATS credentials (user and password, a NATS token) from the environment and from options, and
 * an instance killed on one "host" while another calls it: the queue group's other instance takes
 * the calls. Each test runs a nats-server of its own.
 */
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { until } from '../support/until.js';
import { natsFixtures, pingAll, untilOnNats } from './support.js';

const { natsServer, socketDir, serviceProcess, client, natsConnection } = natsFixtures();

describe('NATS credentials', () => {
  it('user and password: the service logs in from NATS_USER/NATS_PASSWORD, the client from options; a wrong password is WARREN_NATS_UNAVAILABLE', async () => {
    const nats = await natsServer(undefined, ['--user', 'warren', '--pass', 's3cret']);
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url, 0, 'remote', { NATS_USER: 'warren', NATS_PASSWORD: 's3cret' });
    await untilOnNats(await natsConnection(nats.url, { user: 'warren', pass: 's3cret' }), 'remote', 1);

    const good = client(callerDir, nats.url, 10_000, { user: 'warren', pass: 's3cret' }).service('remote');
    expect((await good.get('/who')).status).toBe(200);
    const bad = client(callerDir, nats.url, 10_000, { user: 'warren', pass: 'wrong' }).service('remote');
    const error = await bad.get('/who').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isWarrenError(error) && error.code).toBe('WARREN_NATS_UNAVAILABLE');
    expect(error?.message).toMatch(/authorization/i);
  });

  it('a NATS token from NATS_TOKEN', async () => {
    const nats = await natsServer(undefined, ['--auth', 'nats-token-1']);
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url, 0, 'remote', { NATS_TOKEN: 'nats-token-1' });
    await untilOnNats(await natsConnection(nats.url, { token: 'nats-token-1' }), 'remote', 1);
    expect((await client(callerDir, nats.url, 10_000, { token: 'nats-token-1' }).service('remote').get('/who')).status).toBe(200);
  });
});

describe('an instance lost while another host calls it', () => {
  it('SIGKILL of one of two instances: once NATS has dropped it, every call goes to the other', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    const doomed = await serviceProcess(serviceDir, nats.url, 0);
    const survivor = await serviceProcess(serviceDir, nats.url, 1);
    const watcher = await natsConnection(nats.url);
    await untilOnNats(watcher, 'remote', 2);
    const remote = client(callerDir, nats.url, 10_000).service('remote');
    expect((await remote.get('/who')).status).toBe(200);

    const gone = new Promise((resolve) => doomed.once('exit', resolve));
    doomed.kill('SIGKILL');
    await gone;
    // NATS learns of the loss from the closed connection; until then a call may still be routed there.
    await until(async () => (await pingAll(watcher, 'remote', 100)).length === 1, 'NATS to drop the killed instance');
    for (let i = 0; i < 20; i++) expect((await remote.get('/who')).body).toMatchObject({ pid: survivor.pid });
  });
});
