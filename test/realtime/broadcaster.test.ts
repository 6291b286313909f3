import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { type BroadcasterClient, createBroadcaster } from '../../src/realtime/index.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const run = promisify(execFile);
const fixture = new URL('../fixtures/realtime-emit.mjs', import.meta.url).pathname;
const { hub, client } = useHubs();
const dirs: string[] = [];
const broadcasters: BroadcasterClient[] = [];

afterEach(async () => {
  await Promise.all(broadcasters.splice(0).map((b) => b.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wrt-'));
  dirs.push(dir);
  return dir;
}

describe('broadcaster over hub.sock', () => {
  it('another process broadcasts to a channel and to user.{id} through the hub socket', async () => {
    const dir = socketDir();
    const h = await hub({ socketDir: dir, authenticate: () => ({ userId: '42' }) });
    const c = await client(h);
    await c.subscribe('room:lobby');
    const { stdout } = await run(process.execPath, [fixture, dir, 'room:lobby', '5'], { timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({ sent: 6, dropped: 0 });
    const ticks = await until(() => (c.events('tick').length === 5 ? c.events('tick') : undefined));
    expect(ticks.map((m) => m.data.i)).toEqual([1, 2, 3, 4, 5]);
    expect((await c.next((m) => m.event === 'order')).channel).toBe('user.42');
  });

  it('a wrong token is refused and nothing is broadcast', async () => {
    const dir = socketDir();
    const h = await hub({ socketDir: dir });
    const c = await client(h);
    await c.subscribe('room:lobby');
    const { connectUnix } = await import('../../src/peer/transports/socket.js');
    const peer = await connectUnix(join(dir, 'hub.sock'));
    const error = await peer.request('hub.hello', { token: 'f'.repeat(64) }).catch((e: unknown) => e);
    expect(isWarrenError(error) && error.code).toBe('WARREN_UNAUTHORIZED');
    const refused = await peer.request('hub.emit', { channel: 'room:lobby', event: 'x' }).catch((e: unknown) => e);
    expect(isWarrenError(refused) && refused.code).toBe('WARREN_UNAUTHORIZED');
    peer.destroy();
    h.to('room:lobby').emit('marker');
    await c.next((m) => m.event === 'marker');
    expect(c.events('x')).toHaveLength(0);
  });

  it('while the hub is down broadcasts wait in a bounded buffer, the rest are dropped and reported; the waiting ones go out once it is up', async () => {
    const dir = socketDir();
    const b = createBroadcaster({ socketDir: dir, maxBuffered: 2, reconnectMs: { first: 10, max: 50 } });
    broadcasters.push(b);
    const drops: string[] = [];
    b.on('drop', (error, { event }) => drops.push(`${error.code} ${event}`));
    for (const event of ['a', 'b', 'c', 'd']) b.to('feed').emit(event);
    expect(b.dropped).toBe(2);
    expect(drops).toEqual(['WARREN_BROADCAST_DROPPED c', 'WARREN_BROADCAST_DROPPED d']);
    await expect(b.send('feed', 'e', null, 100)).rejects.toMatchObject({ code: 'WARREN_HUB_UNREACHABLE' });
    const h = await hub({ socketDir: dir });
    const c = await client(h);
    await c.subscribe('feed');
    await b.flush(10_000);
    await until(() => c.events('b').length === 1);
    expect(c.messages.filter((m) => m.channel === 'feed').map((m) => m.event)).toEqual(['a', 'b']);
    expect(await b.send('feed', 'f', { n: 1 })).toEqual({ members: 1 });
    // The hub goes away and comes back: the broadcaster reconnects by itself.
    await h.close();
    await until(() => !b.connected);
    const h2 = await hub({ socketDir: dir });
    const c2 = await client(h2);
    await c2.subscribe('feed');
    b.to('feed').emit('again');
    await c2.next((m) => m.event === 'again');
  });

  it('templates fill in their parameters and refuse missing ones or bad names', () => {
    const b = createBroadcaster({ socketDir: socketDir() });
    broadcasters.push(b);
    expect(b.channel('user.{id}', { id: 42 }).channel).toBe('user.42');
    expect(b.privateChannel('orders').channel).toBe('private-orders');
    expect(b.presenceChannel('shop').channel).toBe('presence-shop');
    expect(() => b.channel('user.{id}')).toThrow(/needs a value for \{id\}/);
    expect(() => b.to('bad name')).toThrow(/not a valid channel name/);
  });
});
