/**
 * Service calls over NATS with a real nats-server (one of the test's own, on a free port).
 * Hosts are stood in for by socket directories: the service lives in one, the caller in another
 * that shares only the Warren token, so nothing is local to the caller and every call it makes
 * goes through NATS.
 */
import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { until } from '../support/until.js';
import { natsFixtures, pingAll, untilOnNats } from './support.js';

const { natsServer, socketDir, serviceProcess, client, natsConnection } = natsFixtures();

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isWarrenError(error) ? error.code : String(error);
  }
  return 'no error';
}

describe('service calls over NATS', () => {
  it('a service in one process is called from another through NATS only, and answers $SRV.PING/INFO/STATS', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    const service = await serviceProcess(serviceDir, nats.url);
    const watcher = await natsConnection(nats.url);
    await untilOnNats(watcher, 'remote', 1);

    const remote = client(callerDir, nats.url).service('remote');
    const who = await remote.get('/who');
    expect(who).toEqual({ status: 200, headers: {}, body: { pid: service.pid, instance: 0 } });
    expect((await remote.post('/echo', { a: [1, 2] })).body).toEqual({ echoed: { a: [1, 2] } });
    // Nothing of it is local: the caller's directory holds no socket of the service.
    expect(remote.stats()).toEqual([]);

    const [ping] = await pingAll(watcher, 'remote');
    expect(ping).toMatchObject({ type: 'io.nats.micro.v1.ping_response', name: 'remote', metadata: { 'warren.instance': '0' } });
    const info = JSON.parse(new TextDecoder().decode((await watcher.request('$SRV.INFO.remote', '', { timeout: 2000 })).data));
    expect(info).toMatchObject({
      type: 'io.nats.micro.v1.info_response',
      id: ping?.id,
      endpoints: [{ name: 'call', subject: 'warren.svc.remote.call', queue_group: 'remote' }],
    });
    const stats = JSON.parse(
      new TextDecoder().decode((await watcher.request(`$SRV.STATS.remote.${ping?.id}`, '', { timeout: 2000 })).data),
    );
    expect(stats.type).toBe('io.nats.micro.v1.stats_response');
    expect(stats.endpoints[0].num_requests).toBe(2);
    expect(stats.endpoints[0].data.metrics.routes['GET /who'].requests).toBe(1);
    // Also answered without a name, as `nats micro ls` asks.
    const everyone = await watcher.request('$SRV.PING', '', { timeout: 2000 });
    expect(JSON.parse(new TextDecoder().decode(everyone.data)).name).toBe('remote');
  });

  it('NATS balances calls across the instances of the queue group', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    const first = await serviceProcess(serviceDir, nats.url, 0);
    const second = await serviceProcess(serviceDir, nats.url, 1);
    await untilOnNats(await natsConnection(nats.url), 'remote', 2);
    const remote = client(callerDir, nats.url).service('remote');
    const seen = new Set<number>();
    // NATS picks a queue member at random for each message: both are seen long before 200 calls.
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(((await remote.get('/who')).body as { pid: number }).pid);
    expect(seen).toEqual(new Set([first.pid, second.pid]));
  });

  it('a service no instance serves anywhere fails at once with WARREN_UNKNOWN_SERVICE, not at the deadline', {
    timeout: 8_000,
  }, async () => {
    const nats = await natsServer();
    const dir = await socketDir();
    // A deadline longer than the test's own timeout: waiting for it would fail the test.
    const nobody = client(dir, nats.url, 20_000).service('nobody');
    expect(await codeOf(nobody.get('/x'))).toBe('WARREN_UNKNOWN_SERVICE');
    expect(await codeOf(nobody.get('/x'))).toBe('WARREN_UNKNOWN_SERVICE');
  });

  it('a wrong Warren token is refused on every call, public routes included; no token reaches public routes only', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const strangerDir = await socketDir(); // a token of its own
    await serviceProcess(serviceDir, nats.url);
    await untilOnNats(await natsConnection(nats.url), 'remote', 1);
    const stranger = client(strangerDir, nats.url).service('remote');
    const refused = await stranger.get('/who');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: 'WARREN_UNAUTHORIZED' } });
    expect((await stranger.get('/open')).status).toBe(401);

    const raw = await natsConnection(nats.url);
    const { pack, unpack } = await import('msgpackr');
    const anonymous = (url: string) => raw.request('warren.svc.remote.call', pack(['GET', url]), { timeout: 2000 });
    expect(unpack((await anonymous('/open')).data)).toEqual([200, { open: true }]);
    expect(unpack((await anonymous('/who')).data)[0]).toBe(401);
  });

  it('cancelling a call over NATS aborts the handler on the instance running it', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url);
    await untilOnNats(await natsConnection(nats.url), 'remote', 1);
    const remote = client(callerDir, nats.url).service('remote');
    const abort = new AbortController();
    const call = remote.get('/wait', { signal: abort.signal });
    await until(async () => ((await remote.get('/counts')).body as { waiting: number }).waiting === 1, 'the call to be running');
    abort.abort();
    expect(await codeOf(call)).toBe('WARREN_CANCELLED');
    await until(async () => ((await remote.get('/counts')).body as { cancelled: number }).cancelled === 1, 'the handler to be aborted');
  });

  it('a call past its deadline is WARREN_TIMEOUT, and the handler is told to stop', async () => {
    const nats = await natsServer();
    const serviceDir = await socketDir();
    const callerDir = await socketDir(serviceDir);
    await serviceProcess(serviceDir, nats.url);
    await untilOnNats(await natsConnection(nats.url), 'remote', 1);
    const remote = client(callerDir, nats.url).service('remote');
    expect(await codeOf(remote.get('/wait', { timeoutMs: 300 }))).toBe('WARREN_TIMEOUT');
    await until(async () => ((await remote.get('/counts')).body as { cancelled: number }).cancelled === 1, 'the handler to be aborted');
  });

  it('prefers an instance on its own host, and goes over NATS when the local one is down (killed, its socket left behind)', async () => {
    const nats = await natsServer();
    const hostB = await socketDir();
    const hostA = await socketDir(hostB);
    const far = await serviceProcess(hostB, nats.url, 0);
    const near = await serviceProcess(hostA, nats.url, 0);
    const watcher = await natsConnection(nats.url);
    await untilOnNats(watcher, 'remote', 2);
    const remote = client(hostA, nats.url).service('remote');
    for (let i = 0; i < 10; i++) expect((await remote.get('/who')).body).toMatchObject({ pid: near.pid });

    const gone = new Promise((resolve) => near.once('exit', resolve));
    near.kill('SIGKILL');
    await gone;
    await until(async () => (await pingAll(watcher, 'remote', 100)).length === 1, 'NATS to drop the killed instance');
    // Its socket file is still in host A's directory: the connect is refused, and the call goes over NATS.
    for (let i = 0; i < 5; i++) expect((await remote.get('/who')).body).toMatchObject({ pid: far.pid });
  });
});
