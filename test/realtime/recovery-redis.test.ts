// Recovery across hubs (the real Redis on 127.0.0.1:6379): offsets kept in Redis Streams, so a
// client that reconnects to another hub gets what it missed. Each test has a key prefix of its own.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HubOptions } from '../../src/realtime/index.js';
import { RedisBroadcaster } from '../../src/realtime/redis/index.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const REDIS = 'redis://127.0.0.1:6379';
const { hub, client } = useHubs();
const admin = new Redis(REDIS);
const prefixes: string[] = [];

afterEach(async () => {
  for (const prefix of prefixes.splice(0)) {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});
afterAll(() => {
  admin.disconnect();
});

function newPrefix(): string {
  const prefix = `wt:${randomBytes(4).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

async function redisHub(prefix: string, extra: HubOptions = {}) {
  const broadcaster = new RedisBroadcaster({ url: REDIS, prefix });
  await broadcaster.ready();
  return hub({ broadcaster, ...extra });
}

describe('recovery across hubs on one Redis', () => {
  it('a client that reconnects to another hub gets what it missed; too many missed: recovered: false', async () => {
    const prefix = newPrefix();
    const one = await redisHub(prefix, { recovery: { size: 5 } });
    const two = await redisHub(prefix, { recovery: { size: 5 } });
    const a = await client(one);
    // A channel's offsets start at Redis's time in ms × 1000, then go up by one.
    const { epoch, offset: base } = (await a.subscribe('feed')).data;
    expect(base).toBeGreaterThan(Date.now() * 1000 - 60_000_000);
    expect(Number.isSafeInteger(base)).toBe(true);
    one.to('feed').emit('n', 1);
    const first = await a.next((m) => m.event === 'n');
    expect(first.offset).toBe(base + 1);
    a.ws.close();
    await until(() => one.stats.connections === 0);
    // Neither hub has a member in 'feed' now; the broadcasts are kept in Redis all the same.
    for (let i = 2; i <= 4; i++) two.to('feed').emit('n', i);
    await until(async () => Number(await admin.hget(`${prefix}rm:feed`, 'n')) === base + 4, 'the broadcasts to reach Redis');
    const b = await client(two, { format: 'msgpack' }); // offsets past 2^32 travel as float64, exactly
    const ack = await b.subscribe('feed', { since: { epoch, offset: first.offset } });
    expect(ack.data).toMatchObject({ recovered: true, epoch, offset: base + 4 });
    expect(b.events('n').map((m) => [m.data, m.offset! - base])).toEqual([
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    // Live broadcasts continue the same numbering on every hub.
    one.to('feed').emit('n', 5);
    expect((await b.next((m) => m.event === 'n' && m.data === 5)).offset).toBe(base + 5);
    // Nothing missed: recovered with nothing replayed.
    const c = await client(one);
    expect((await c.subscribe('feed', { since: { epoch, offset: base + 5 } })).data).toMatchObject({ recovered: true, offset: base + 5 });
    expect(c.events('n')).toHaveLength(0);
    // 8 missed, 5 kept: told recovered: false, nothing replayed.
    c.ws.close();
    await until(() => one.stats.connections === 0);
    for (let i = 6; i <= 13; i++) two.to('feed').emit('n', i);
    await b.next((m) => m.event === 'n' && m.data === 13);
    const d = await client(one);
    const late = await d.subscribe('feed', { since: { epoch, offset: base + 5 } });
    expect(late.data).toMatchObject({ recovered: false, epoch, offset: base + 13 });
    expect(d.events('n')).toHaveLength(0);
    // Another epoch (or one made up): recovered: false.
    expect((await d.subscribe('feed', { since: { epoch: 'other', offset: base + 13 } })).data.recovered).toBe(false);
  });

  it('a channel Redis knows nothing of: recovered: false for an offset, and a fresh position is good on any hub', async () => {
    const prefix = newPrefix();
    const one = await redisHub(prefix);
    const two = await redisHub(prefix);
    const a = await client(one);
    const ack = await a.subscribe('quiet', { since: { epoch: 'whatever', offset: 3 } });
    expect(ack.data.recovered).toBe(false);
    const b = await client(two);
    const again = await b.subscribe('quiet', { since: { epoch: ack.data.epoch, offset: ack.data.offset } });
    expect(again.data).toMatchObject({ recovered: true, epoch: ack.data.epoch, offset: ack.data.offset });
  });

  it('broadcasts older than the window are not replayed: recovered: false', async () => {
    const prefix = newPrefix();
    const one = await redisHub(prefix, { recovery: { windowMs: 200 } });
    const a = await client(one);
    const { epoch, offset: base } = (await a.subscribe('feed')).data;
    one.to('feed').emit('n', 1);
    await a.next((m) => m.event === 'n');
    a.ws.close();
    await until(() => one.stats.connections === 0);
    one.to('feed').emit('n', 2);
    await until(async () => Number(await admin.hget(`${prefix}rm:feed`, 'n')) === base + 2, 'the broadcast to reach Redis');
    // The stream lives a window after its last broadcast.
    await until(async () => (await admin.exists(`${prefix}rs:feed`)) === 0, 'the stream to expire');
    const b = await client(one);
    const ack = await b.subscribe('feed', { since: { epoch, offset: base + 1 } });
    expect(ack.data).toMatchObject({ recovered: false, epoch, offset: base + 2 });
    expect(b.events('n')).toHaveLength(0);
  });

  it('the Redis keys vanish and come back under a new epoch, numbered higher: an old offset gets recovered: false', async () => {
    const prefix = newPrefix();
    const one = await redisHub(prefix);
    const a = await client(one);
    const { epoch } = (await a.subscribe('feed')).data;
    one.to('feed').emit('n', 1);
    const first = await a.next((m) => m.event === 'n');
    // As if Redis had lost its data (restarted without persistence).
    await admin.del(`${prefix}rm:feed`, `${prefix}rs:feed`);
    one.to('feed').emit('n', 2);
    // Numbered anew, above the offsets of before: a client still connected takes it for a new one.
    const second = await a.next((m) => m.event === 'n' && m.data === 2);
    expect(second.offset).toBeGreaterThan(first.offset!);
    const b = await client(one);
    const ack = await b.subscribe('feed', { since: { epoch, offset: first.offset } });
    expect(ack.data.recovered).toBe(false);
    expect(ack.data.epoch).not.toBe(epoch);
    expect(b.events('n')).toHaveLength(0);
  });
});
