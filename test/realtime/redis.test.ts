// Two hubs on one Redis (the real server on 127.0.0.1:6379): broadcasts and presence shared,
// a killed hub's members gone within the registry's ttl. Each test has a key prefix of its own.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { HubOptions } from '../../src/realtime/index.js';
import { RedisBroadcaster, RedisRegistry } from '../../src/realtime/redis/index.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const REDIS = 'redis://127.0.0.1:6379';
const FIXTURE = fileURLToPath(new URL('../fixtures/realtime-redis-hub.mjs', import.meta.url));
const { hub, client } = useHubs();
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
});

async function redisHub(prefix: string, ttlMs = 15_000, extra: HubOptions = {}) {
  const broadcaster = new RedisBroadcaster({ url: REDIS, prefix });
  await broadcaster.ready();
  const h = await hub({
    broadcaster,
    registry: new RedisRegistry({ url: REDIS, prefix, ttlMs }),
    authenticate: (req) => ({ userId: new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? 'anon' }),
    ...extra,
  });
  h.authorize(() => true);
  return { h, broadcaster };
}

describe('two hubs on one Redis', () => {
  it('share broadcasts: a hub receives only the channels it has members in', async () => {
    const prefix = `wt:${randomBytes(4).toString('hex')}:`;
    const one = await redisHub(prefix);
    const two = await redisHub(prefix);
    const a = await client(one.h, { token: 'ann' });
    const b = await client(two.h, { token: 'bob', format: 'msgpack' });
    await a.subscribe('room:lobby');
    await b.subscribe('room:lobby');
    await b.subscribe('room:two-only');
    one.h.to('room:lobby').emit('message', { text: 'from one' });
    two.h.to('room:lobby').emit('message', { text: 'from two' });
    for (const c of [a, b]) {
      await c.next((m) => m.event === 'message' && m.data.text === 'from one');
      await c.next((m) => m.event === 'message' && m.data.text === 'from two');
    }
    // user.<id> reaches the user on whichever hub it is.
    one.h.to('user.bob').emit('order', { id: 7 });
    expect((await b.next((m) => m.event === 'order')).channel).toBe('user.bob');
    // Hub one has no member in room:two-only, so it is not subscribed to it: it delivers nothing there.
    expect(one.h.stats.channels).toBe(2); // room:lobby and user.ann
    one.h.to('room:two-only').emit('ping-two');
    await b.next((m) => m.event === 'ping-two');
  });

  it('share presence: members across hubs, a user on both hubs counts once, joined/left cross the hubs', async () => {
    const prefix = `wt:${randomBytes(4).toString('hex')}:`;
    const one = await redisHub(prefix);
    const two = await redisHub(prefix);
    const ann1 = await client(one.h, { token: 'ann' });
    await ann1.subscribe('presence-shop');
    const bob = await client(two.h, { token: 'bob' });
    const ack = await bob.subscribe('presence-shop');
    expect(ack.data.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['ann', 'bob']);
    expect((await ann1.next((m) => m.event === 'presence:joined')).data.userId).toBe('bob');
    const ann2 = await client(two.h, { token: 'ann' });
    await ann2.subscribe('presence-shop');
    ann1.ws.close();
    await until(() => one.h.stats.connections === 0);
    // ann is still there through hub two: no presence:left.
    expect((await one.h.members('presence-shop')).map((m) => m.userId).sort()).toEqual(['ann', 'bob']);
    ann2.ws.close();
    expect((await bob.next((m) => m.event === 'presence:left')).data.userId).toBe('ann');
    expect(bob.events('presence:joined')).toHaveLength(0);
  });

  it('a hub killed with members in a presence channel: its members are gone within the ttl', async () => {
    const prefix = `wt:${randomBytes(4).toString('hex')}:`;
    const one = await redisHub(prefix);
    const child = spawn(process.execPath, [FIXTURE, REDIS, prefix, '300']);
    children.push(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    const port = (await until(() => /"port":(\d+)/.exec(out), 'the child hub to listen'))[1];
    const carl = await client(`ws://127.0.0.1:${port}/ws`, { token: 'carl' });
    await carl.subscribe('presence-shop');
    const watcher = await client(one.h, { token: 'dora' });
    expect((await watcher.subscribe('presence-shop')).data.members.map((m: { userId: string }) => m.userId).sort()).toEqual([
      'carl',
      'dora',
    ]);
    child.kill('SIGKILL');
    await until(async () => (await one.h.members('presence-shop')).every((m) => m.userId !== 'carl'), 'carl to vanish', {
      timeoutMs: 10_000,
    });
    expect((await one.h.members('presence-shop')).map((m) => m.userId)).toEqual(['dora']);
  });
});
