// Redis restarted under two hubs: a redis-server of the test's own (no persistence) is killed
// while broadcasts go on and started again on the same port. The hubs count what they could not
// publish, reconnect by themselves, deliver again, and tell reconnecting clients that recovery
// is impossible (the restarted Redis lost the streams).
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBroadcaster } from '../../src/realtime/redis/index.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const { hub, client } = useHubs();
const servers: ChildProcess[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await stop(server);
});

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}

/** A redis-server on `port` without persistence; resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(server);
  let out = '';
  server.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  server.stderr?.resume();
  await until(() => {
    if (server.exitCode !== null) throw new Error(`redis-server exited (${server.exitCode}): ${out}`);
    return out.includes('Ready to accept connections');
  }, 'redis-server to accept connections');
  return server;
}

describe('Redis restarted during broadcasts', () => {
  it('the hubs count the lost broadcasts, reconnect, deliver again, and answer recovered: false for positions from before', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let redis = await startRedis(port);
    const hubs = [];
    for (let i = 0; i < 2; i++) {
      const broadcaster = new RedisBroadcaster({ url });
      await broadcaster.ready();
      hubs.push(await hub({ broadcaster }));
    }
    const [one, two] = hubs as [(typeof hubs)[0], (typeof hubs)[0]];
    const a = await client(one);
    const b = await client(two);
    const { epoch, offset: base } = (await a.subscribe('feed')).data;
    await b.subscribe('feed');
    one.to('feed').emit('n', 1);
    for (const c of [a, b]) expect((await c.next((m) => m.event === 'n' && m.data === 1)).offset).toBe(base + 1);

    await stop(redis);
    // Broadcasts while Redis is down: refused at once and counted, never thrown.
    let sent = 0;
    await until(() => {
      one.to('feed').emit('down', ++sent);
      two.to('feed').emit('down', ++sent);
      return one.stats.broadcastsLost > 0 && two.stats.broadcastsLost > 0;
    }, 'both hubs to count lost broadcasts');
    expect(one.stats.broadcastsLost + two.stats.broadcastsLost).toBeLessThanOrEqual(sent);

    redis = await startRedis(port);
    // Both hubs reconnected (publisher and subscriber): a broadcast from each reaches both clients.
    let probe = 0;
    await until(
      () => {
        one.to('feed').emit('probe-one', ++probe);
        two.to('feed').emit('probe-two', probe);
        return [a, b].every((c) => c.events('probe-one').length > 0 && c.events('probe-two').length > 0);
      },
      'both hubs to deliver again',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    two.to('feed').emit('after', 'restart');
    // Numbered anew by the restarted Redis, above the offsets of before.
    for (const c of [a, b]) expect((await c.next((m) => m.event === 'after')).offset).toBeGreaterThan(base + 1);
    // The restarted Redis has no streams of before: a client back with its old position is told so.
    const back = await client(two);
    const ack = await back.subscribe('feed', { since: { epoch, offset: base + 1 } });
    expect(ack.data.recovered).toBe(false);
    expect(ack.data.epoch).not.toBe(epoch);
    expect(a.closed).toBeUndefined();
    expect(b.closed).toBeUndefined();
  });
});
