import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, signChannel } from '../../src/realtime/index.js';
import { until } from '../support/until.js';
import { refusedHandshake, useHubs } from './helpers.js';

const { hub, client, url } = useHubs();

const users: Record<string, { userId: string; info?: Record<string, unknown> }> = {
  ann: { userId: 'ann', info: { name: 'Ann' } },
  bob: { userId: 'bob', info: { name: 'Bob' } },
};
const authenticate = (req: import('node:http').IncomingMessage) => {
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return token ? users[token] : undefined;
};

describe('handshake pipeline', () => {
  it('refuses a missing or wrong token with 401, a foreign origin with 403, too many handshakes with 429: never upgraded', async () => {
    const h = await hub({ authenticate, allowedOrigins: ['http://shop.example'], connectionRate: { perSecond: 0.001, burst: 2 } });
    expect(await refusedHandshake(url(h))).toMatchObject({ status: 401, upgraded: false });
    expect(await refusedHandshake(`${url(h)}?token=nobody`)).toMatchObject({ status: 401, upgraded: false });
    expect(await refusedHandshake(`${url(h)}?token=ann`, { headers: { Origin: 'http://evil.example' } })).toMatchObject({
      status: 403,
      upgraded: false,
    });
    // The origin is checked before the rate: the two 401s spent the burst of 2, the next is over the rate whatever its token.
    const over = await refusedHandshake(`${url(h)}?token=ann`, { headers: { Origin: 'http://shop.example' } });
    expect(over).toMatchObject({ status: 429, upgraded: false });
    expect(h.stats.refused).toEqual({ 401: 2, 403: 1, 429: 1 });
    expect(h.stats.connections).toBe(0);
  });

  it('accepts an allowed origin, a cookie or a Bearer token; refuses an unknown subprotocol (400) and another path (404)', async () => {
    const h = await hub({
      authenticate: (req) => users[/warren_token=(\w+)/.exec(req.headers.cookie ?? '')?.[1] ?? (req.headers.authorization ?? '').slice(7)],
    });
    const byCookie = await client(h, { headers: { Cookie: 'a=b; warren_token=ann', Origin: 'http://any.example' } });
    expect(byCookie.messages[0]?.data).toMatchObject({ userId: 'ann', heartbeatS: 60 });
    const byBearer = await client(h, { headers: { Authorization: 'Bearer bob' } });
    expect(byBearer.messages[0]?.data.userId).toBe('bob');
    expect(await refusedHandshake(url(h), { headers: { Authorization: 'Bearer bob' }, protocols: ['mqtt'] })).toMatchObject({
      status: 400,
    });
    expect(await refusedHandshake(`ws://127.0.0.1:${h.port}/other`, { headers: { Authorization: 'Bearer bob' } })).toMatchObject({
      status: 404,
    });
  });
});

describe('messages', () => {
  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: subscribe, broadcast with offsets, acks from hub.on handlers, errors for bad messages`, async () => {
      const h = await hub();
      h.on('add', (data) => (data as { a: number; b: number }).a + (data as { a: number; b: number }).b);
      h.on('fail', () => {
        throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
      });
      const c = await client(h, { format });
      expect(c.ws.protocol).toBe(`warren.${format}`);
      const ack = await c.subscribe('room:lobby');
      expect(ack.data).toMatchObject({ channel: 'room:lobby', offset: 0 });
      expect(typeof ack.data.epoch).toBe('string');
      h.to('room:lobby').emit('message', { text: 'hi' });
      h.to('room:lobby').emit('message', { text: 'again' });
      const first = await c.next((m) => m.event === 'message');
      const second = await c.next((m) => m.event === 'message');
      expect(first).toEqual({ event: 'message', channel: 'room:lobby', data: { text: 'hi' }, offset: 1 });
      expect(second.offset).toBe(2);
      expect((await c.request({ event: 'add', data: { a: 2, b: 3 } })).data).toBe(5);
      expect((await c.request({ event: 'fail' })).error).toEqual({ code: 'E_NOPE', message: 'nope' });
      expect((await c.request({ event: 'nothing' })).error?.code).toBe('WARREN_NO_HANDLER');
      expect((await c.request({ event: 'add', channel: 'room:other' })).error?.code).toBe('WARREN_WS_NOT_SUBSCRIBED');
      expect((await c.request({ event: 'subscribe', channel: 'bad name!' })).error?.code).toBe('WARREN_WS_BAD_MESSAGE');
      c.ws.send(format === 'json' ? '{"no event"' : Buffer.from([0xc1]));
      expect((await c.next((m) => m.event === 'error')).data.code).toBe('WARREN_WS_BAD_MESSAGE');
    });
  }

  it('closes with 4002 after repeated undecodable messages, 1009 for a message over the size limit', async () => {
    const h = await hub({ maxMessageSize: 1024 });
    const bad = await client(h);
    for (let i = 0; i < 3; i++) bad.ws.send('garbage');
    expect(await bad.closedWith()).toBe(CloseCode.BAD_PROTOCOL);
    const big = await client(h);
    big.send({ event: 'x', data: 'y'.repeat(2000) });
    expect(await big.closedWith()).toBe(1009);
  });

  it('server API: join/leave, except(conn), unsubscribe', async () => {
    const h = await hub();
    const a = await client(h);
    const b = await client(h);
    const [ca, cb] = [...h.connections];
    await h.join(ca!, 'news');
    await h.join(cb!, 'news');
    h.to('news').except(ca!).emit('headline', 1);
    await b.next((m) => m.event === 'headline');
    await h.leave(cb!, 'news');
    h.to('news').emit('headline', 2);
    await a.next((m) => m.event === 'headline' && m.data === 2);
    expect(a.events('headline')).toHaveLength(1);
    expect(b.events('headline')).toHaveLength(1);
    await a.request({ event: 'unsubscribe', channel: 'news' });
    expect(h.stats.channels).toBe(0);
  });
});

describe('channels', () => {
  it('private: refused without an authorizer; authorizers by priority, the first deny wins; HMAC channel tokens', async () => {
    const h = await hub({ authenticate, channelSecret: 'a-secret-of-16-chars' });
    const ann = await client(h, { token: 'ann' });
    expect((await ann.subscribe('private-a')).error?.code).toBe('WARREN_FORBIDDEN');
    const order: string[] = [];
    h.authorize(
      ({ channel }) => {
        order.push('low');
        return channel === 'private-a' ? true : undefined;
      },
      { priority: 1 },
    );
    h.authorize(
      ({ channel, connection }) => {
        order.push('high');
        return channel === 'private-b' && connection.userId === 'ann' ? false : undefined;
      },
      { priority: 10 },
    );
    expect((await ann.subscribe('private-a')).data.channel).toBe('private-a');
    expect(order).toEqual(['high', 'low']);
    expect((await ann.subscribe('private-c')).error?.code).toBe('WARREN_FORBIDDEN');
    const connectionId = ann.messages[0]!.data.connectionId as string;
    // A valid token allows, but an authorizer's deny still wins.
    expect((await ann.subscribe('private-c', { token: signChannel('a-secret-of-16-chars', connectionId, 'private-c') })).data.channel).toBe(
      'private-c',
    );
    expect((await ann.subscribe('private-b', { token: signChannel('a-secret-of-16-chars', connectionId, 'private-b') })).error?.code).toBe(
      'WARREN_FORBIDDEN',
    );
    expect((await ann.subscribe('private-d', { token: signChannel('a-secret-of-16-chars', 'other.1', 'private-d') })).error?.code).toBe(
      'WARREN_FORBIDDEN',
    );
  });

  it('user.<id> reaches every connection of that user and no one else; another user cannot subscribe to it', async () => {
    const h = await hub({ authenticate });
    const phone = await client(h, { token: 'ann' });
    const laptop = await client(h, { token: 'ann', format: 'msgpack' });
    const bob = await client(h, { token: 'bob' });
    expect((await bob.subscribe('user.ann')).error?.code).toBe('WARREN_FORBIDDEN');
    h.to('user.ann').emit('order', { id: 7 });
    await phone.next((m) => m.event === 'order');
    await laptop.next((m) => m.event === 'order');
    h.to('user.bob').emit('order', { id: 8 });
    await bob.next((m) => m.event === 'order');
    expect(phone.events('order')).toHaveLength(1);
    expect(bob.events('order')).toEqual([{ event: 'order', channel: 'user.bob', data: { id: 8 }, offset: 1 }]);
  });

  it('presence: members on join, joined/left to the others, a user with several tabs counts once', async () => {
    const h = await hub({ authenticate });
    h.authorize(() => true);
    const ann1 = await client(h, { token: 'ann' });
    expect((await ann1.subscribe('presence-shop')).data.members).toEqual([{ userId: 'ann', info: { name: 'Ann' } }]);
    const bob = await client(h, { token: 'bob' });
    const joinAck = await bob.subscribe('presence-shop');
    expect(joinAck.data.members).toHaveLength(2);
    expect((await ann1.next((m) => m.event === 'presence:joined')).data).toEqual({ userId: 'bob', info: { name: 'Bob' } });
    const ann2 = await client(h, { token: 'ann' });
    expect((await ann2.subscribe('presence-shop')).data.members).toHaveLength(2);
    ann1.ws.close();
    await until(() => h.stats.connections === 3 - 1);
    // ann still has a tab open: no presence:left yet.
    ann2.ws.close();
    const left = await bob.next((m) => m.event === 'presence:left');
    expect(left.data.userId).toBe('ann');
    expect(bob.events('presence:joined')).toHaveLength(0);
    expect(bob.events('presence:left')).toHaveLength(1);
    expect(await h.members('presence-shop')).toEqual([{ userId: 'bob', info: { name: 'Bob' } }]);
  });

  it('client events on private/presence channels are relayed to the others, never back to the sender; refused on public channels', async () => {
    const h = await hub({ authenticate });
    h.authorize(() => true);
    const ann = await client(h, { token: 'ann' });
    const bob = await client(h, { token: 'bob', format: 'msgpack' });
    await ann.subscribe('private-chat');
    await bob.subscribe('private-chat');
    await ann.subscribe('lobby');
    expect((await ann.request({ event: 'client-typing', channel: 'private-chat', data: { on: true } })).error).toBeUndefined();
    expect(await bob.next((m) => m.event === 'client-typing')).toMatchObject({ channel: 'private-chat', data: { on: true } });
    // ann's own ack came back and nothing else: a marker broadcast after the relay arrives after it would have.
    h.to('private-chat').emit('marker');
    await ann.next((m) => m.event === 'marker');
    expect(ann.events('client-typing')).toHaveLength(0);
    expect((await ann.request({ event: 'client-typing', channel: 'lobby' })).error?.code).toBe('WARREN_FORBIDDEN');
  });
});

describe('recovery', () => {
  it('a reconnecting client gets what it missed within the window, or recovered: false when too much was missed or the epoch differs', async () => {
    const h = await hub({ recovery: { size: 3 } });
    const first = await client(h);
    const { epoch, offset } = (await first.subscribe('feed')).data;
    h.to('feed').emit('n', 1);
    await first.next((m) => m.event === 'n');
    first.ws.close();
    await until(() => h.stats.connections === 0);
    const keep = await client(h); // keeps the channel alive on this hub
    await keep.subscribe('feed');
    h.to('feed').emit('n', 2);
    h.to('feed').emit('n', 3);
    await keep.next((m) => m.event === 'n' && m.data === 3);
    const back = await client(h);
    const ack = await back.subscribe('feed', { since: { epoch, offset: offset + 1 } });
    expect(ack.data).toMatchObject({ recovered: true, offset: 3 });
    expect(back.events('n').map((m) => [m.data, m.offset])).toEqual([
      [2, 2],
      [3, 3],
    ]);
    for (let i = 4; i <= 8; i++) h.to('feed').emit('n', i);
    const late = await client(h);
    expect((await late.subscribe('feed', { since: { epoch, offset: 3 } })).data.recovered).toBe(false);
    expect(late.events('n')).toHaveLength(0);
    const other = await client(h);
    expect((await other.subscribe('feed', { since: { epoch: 'another', offset: 8 } })).data.recovered).toBe(false);
  });
});

describe('liveness and limits', () => {
  it('a client that does not answer pings is closed with 4001', async () => {
    const h = await hub({ heartbeatMs: 100 });
    const silent = await client(h, { ws: { autoPong: false } });
    const lively = await client(h);
    expect(await silent.closedWith()).toBe(CloseCode.HEARTBEAT);
    expect(h.stats.heartbeatsMissed).toBe(1);
    expect(lively.closed).toBeUndefined();
  });

  it('a client that never reads is cut at the write buffer cap, counted, and the others go on', async () => {
    const writeBufferSize = 256 * 1024;
    const h = await hub({ writeBufferSize });
    const reader = await client(h);
    await reader.subscribe('firehose');
    const stuck = await client(h);
    await stuck.subscribe('firehose');
    stuck.ws.pause(); // stops reading: the kernel buffers fill, then the hub's
    const [, stuckConnection] = [...h.connections];
    const chunk = 'x'.repeat(16 * 1024);
    let maxBuffered = 0;
    for (let i = 0; i < 2000 && h.stats.slowReadersClosed === 0; i++) {
      h.to('firehose').emit('chunk', chunk);
      maxBuffered = Math.max(maxBuffered, stuckConnection!.socket.bufferedAmount);
      // A burst within one tick is held (corked) for one write: keep each under the cap, as the reader is meant to keep up.
      if (i % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(h.stats.slowReadersClosed).toBe(1);
    expect(maxBuffered).toBeLessThanOrEqual(writeBufferSize);
    await until(() => h.stats.connections === 1);
    expect(stuckConnection!.closedWith).toBe(CloseCode.SLOW_READER);
    h.to('firehose').emit('end');
    await reader.next((m) => m.event === 'end');
  });

  it('closes every connection with 1001 when the hub closes', async () => {
    const h = await hub();
    const c = await client(h);
    await h.close();
    expect(await c.closedWith()).toBe(1001);
    await expect(new Promise((_, reject) => new WebSocket(url(h)).on('error', reject))).rejects.toThrow();
  });
});
