/** warren/client in Node (with ws) against the real hub: channels, acks, presence, reconnect and recovery. */
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Channel, type ConnectOptions, connect, type WarrenClient } from '../../src/client/index.js';
import { type Hub, signChannel, startHub } from '../../src/realtime/index.js';
import { useHubs } from '../realtime/helpers.js';
import { until } from '../support/until.js';

const { hub, url } = useHubs();
const clients: WarrenClient[] = [];
const extraHubs: Hub[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(extraHubs.splice(0).map((h) => h.close()));
});

const users: Record<string, { userId: string; info: Record<string, unknown> }> = {
  ann: { userId: 'ann', info: { name: 'Ann' } },
  bob: { userId: 'bob', info: { name: 'Bob' } },
};
const authenticate = (req: IncomingMessage) => users[new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? ''];
const SECRET = 'a-channel-secret-of-some-length';

function client(target: string, options: Omit<ConnectOptions, 'WebSocket'> = {}): WarrenClient {
  const c = connect(target, {
    WebSocket: WebSocket,
    reconnect: { minMs: 20, maxMs: 200 },
    ...options,
  });
  clients.push(c);
  return c;
}

/** Every message of `event` a channel receives, in order. */
function record(channel: Channel | WarrenClient, event: string): unknown[] {
  const seen: unknown[] = [];
  channel.on(event, (data: unknown) => seen.push(data));
  return seen;
}

describe('warren/client against the hub', () => {
  for (const protocol of ['json', 'msgpack'] as const) {
    it(`${protocol}: connects, subscribes, receives broadcasts, gets acks and ack errors, removes listeners`, async () => {
      const h = await hub();
      h.on('add', (data) => (data as { a: number; b: number }).a + (data as { a: number; b: number }).b);
      h.on('fail', () => {
        throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
      });
      h.on('never', () => new Promise(() => {}));
      const c = client(url(h), { protocol });
      const states: string[] = [];
      c.on('state', (state: string) => states.push(state));
      expect(c.state).toBe('connecting');
      const lobby = c.subscribe('room:lobby');
      expect(c.subscribe('room:lobby')).toBe(lobby);
      const ack = await lobby.ready;
      expect(ack).toMatchObject({ channel: 'room:lobby', offset: 0 });
      expect(c.state).toBe('open');
      expect(states).toEqual(['open']);
      const onChannel = record(lobby, 'message');
      const onClient = record(c, 'message');
      let first = 0;
      const remove = lobby.on('message', () => first++);
      h.to('room:lobby').emit('message', { text: 'hi' });
      await until(() => onChannel.length === 1);
      remove();
      h.to('room:lobby').emit('message', { text: 'again' });
      await until(() => onChannel.length === 2);
      expect(onChannel).toEqual([{ text: 'hi' }, { text: 'again' }]);
      expect(onClient).toEqual(onChannel);
      expect(first).toBe(1);
      expect(await c.emit('add', { a: 2, b: 3 }, { ack: true })).toBe(5);
      await expect(c.emit('fail', null, { ack: true })).rejects.toMatchObject({ name: 'RemoteError', code: 'E_NOPE', message: 'nope' });
      await expect(c.emit('nothing', 1, { ack: true })).rejects.toMatchObject({ code: 'WARREN_NO_HANDLER' });
      await expect(c.emit('never', 1, { ack: true, timeoutMs: 50 })).rejects.toMatchObject({ code: 'WARREN_TIMEOUT' });
      expect(() => c.subscribe('bad name!')).toThrow(/channel name/);
    });
  }

  it('presence: members from the ack, kept current from presence:joined/left, a user with two tabs counted once', async () => {
    const h = await hub({ authenticate });
    h.authorize(({ channel }) => channel.startsWith('presence-shop'));
    const ann = client(url(h), { token: 'ann' });
    const annShop = ann.subscribe('presence-shop');
    expect((await annShop.ready).members).toEqual([{ userId: 'ann', info: { name: 'Ann' } }]);
    const bobTab1 = client(url(h), { token: 'bob' });
    const bobTab2 = client(url(h), { token: 'bob', protocol: 'msgpack' });
    const bob1 = bobTab1.subscribe('presence-shop');
    await bob1.ready;
    await until(() => annShop.members().length === 2);
    expect(annShop.members()).toEqual([
      { userId: 'ann', info: { name: 'Ann' } },
      { userId: 'bob', info: { name: 'Bob' } },
    ]);
    const bob2 = bobTab2.subscribe('presence-shop');
    expect((await bob2.ready).members?.map((m) => m.userId).sort()).toEqual(['ann', 'bob']);
    const left = record(annShop, 'presence:left');
    bob1.leave();
    // bob's other tab keeps him present; when it leaves too, he is gone.
    bobTab2.close();
    await until(() => left.length === 1);
    expect(left).toEqual([{ userId: 'bob', info: { name: 'Bob' } }]);
    expect(annShop.members()).toEqual([{ userId: 'ann', info: { name: 'Ann' } }]);
    await expect(ann.subscribe('presence-other').ready).rejects.toMatchObject({ code: 'WARREN_FORBIDDEN' });
  });

  it('private channel with a token made per connection; client events relayed to the others; the user stream needs no subscribe', async () => {
    const h = await hub({ authenticate, channelSecret: SECRET });
    const token = ({ connectionId, channel }: { connectionId: string; channel: string }) => signChannel(SECRET, connectionId, channel);
    const ann = client(url(h), { token: 'ann' });
    const bob = client(url(h), { token: 'bob' });
    const annRoom = ann.subscribe('private-room', { token });
    const bobRoom = bob.subscribe('private-room', { token });
    await Promise.all([annRoom.ready, bobRoom.ready]);
    const typing = record(bobRoom, 'client-typing');
    const annTyping = record(annRoom, 'client-typing');
    await annRoom.emit('client-typing', { who: 'ann' }, { ack: true });
    await until(() => typing.length === 1);
    expect(typing).toEqual([{ who: 'ann' }]);
    expect(annTyping).toEqual([]);
    const orders = record(ann, 'order');
    h.to('user.ann').emit('order', { id: 7 });
    await until(() => orders.length === 1);
    expect(orders).toEqual([{ id: 7 }]);
    expect(ann.userId).toBe('ann');
    await expect(ann.subscribe('private-other', { token: 'forged' }).ready).rejects.toMatchObject({ code: 'WARREN_FORBIDDEN' });
  });

  it('reconnects after the hub cuts the connection, resubscribes with since and gets the missed broadcasts once, in order', async () => {
    const h = await hub({ authenticate, channelSecret: SECRET });
    const c = client(url(h), { token: 'ann' });
    const sign = ({ connectionId, channel }: { connectionId: string; channel: string }) => signChannel(SECRET, connectionId, channel);
    const room = c.subscribe('private-room', { token: sign });
    // A second member keeps the channel alive on the hub while the first is away (see the Changes of the protocol brief).
    const witness = client(url(h), { token: 'bob', reconnect: false });
    await Promise.all([room.ready, witness.subscribe('private-room', { token: sign }).ready]);
    const ticks = record(room, 'tick');
    h.to('private-room').emit('tick', 1);
    await until(() => ticks.length === 1);
    const firstConnection = c.connectionId;
    h.on('echo', (data) => data);
    let queued: Promise<unknown> | undefined;
    const reconnecting: Array<{ code: number; delayMs: number }> = [];
    c.on('reconnecting', (detail: { code: number; delayMs: number }) => {
      reconnecting.push(detail);
      // Waits in the queue, goes out after the resubscribe on the next connection.
      queued = c.emit('echo', 'later', { ack: true });
      // Sent while the client is away: the hub keeps them for recovery.
      h.to('private-room').emit('tick', 2);
      h.to('private-room').emit('tick', 3);
    });
    const subscribed = record(room, 'subscribed');
    for (const connection of h.connections) if (connection.userId === 'ann') connection.socket.terminate();
    await until(() => subscribed.length === 1);
    expect(reconnecting).toHaveLength(1);
    expect(reconnecting[0]!.code).toBe(1006);
    expect(reconnecting[0]!.delayMs).toBeLessThanOrEqual(20);
    expect(c.connectionId).not.toBe(firstConnection);
    expect(subscribed[0]).toMatchObject({ recovered: true, offset: 3 });
    h.to('private-room').emit('tick', 4);
    await until(() => ticks.length === 4);
    expect(ticks).toEqual([1, 2, 3, 4]);
    await expect(queued).resolves.toBe('later');
  });

  it('reconnects when the hub restarts on the same port: told it missed messages (new epoch), then live again', async () => {
    const first = await startHub({ port: 0 });
    extraHubs.push(first);
    const port = first.port!;
    const c = client(`ws://127.0.0.1:${port}/ws`);
    const room = c.subscribe('room:lobby');
    const before = await room.ready;
    const unrecovered = record(room, 'unrecovered');
    const closes: number[] = [];
    c.on('reconnecting', ({ code }: { code: number }) => closes.push(code));
    await first.close();
    await until(() => c.state === 'reconnecting' && closes.length >= 2, 'a failed attempt while no hub listens');
    const second = await startHub({ port });
    extraHubs.push(second);
    await until(() => unrecovered.length === 1);
    expect(closes[0]).toBe(1001);
    expect((unrecovered[0] as { epoch: string }).epoch).not.toBe(before.epoch);
    expect(c.state).toBe('open');
    const news = record(room, 'news');
    second.to('room:lobby').emit('news', 'back');
    await until(() => news.length === 1);
    expect(news).toEqual(['back']);
  });

  it('close() is final: state closed, no reconnect, waiting emits rejected; reconnect: false stays closed', async () => {
    const h = await hub();
    const c = client(url(h));
    await c.subscribe('room:a').ready;
    c.close();
    expect(c.state).toBe('closed');
    await expect(c.emit('x', 1)).rejects.toMatchObject({ code: 'WARREN_PEER_CLOSED' });
    await until(() => h.stats.connections === 0);
    const once = client(url(h), { reconnect: false });
    await until(() => once.state === 'open');
    const closed = record(once, 'closed');
    for (const connection of h.connections) connection.socket.close(1008, 'revoked');
    await until(() => closed.length === 1);
    expect(closed[0]).toMatchObject({ code: 1008, reason: 'revoked' });
    expect(once.state).toBe('closed');
  });

  it('refuses bad options with one clear line', () => {
    expect(() => connect('http://x', { WebSocket: WebSocket })).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => connect('ws://x', { WebSocket: WebSocket, protocol: 'xml' as 'json' })).toThrow(/'protocol'/);
    expect(() => connect('ws://x', { WebSocket: WebSocket, reconnect: { jitter: 2 } })).toThrow(/jitter/);
  });
});
