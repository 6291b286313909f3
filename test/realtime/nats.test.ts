// The hub's Broadcaster on NATS: two hubs on the real NATS (127.0.0.1:4222, a subject prefix per
// test) share broadcasts; each hub subscribes only to the channels it has members in (read from a
// nats-server of the test's own, through its monitoring port); a NATS restart loses broadcasts
// (counted, reported) and the subscriptions come back; the config keys; `warren hub` and
// `warren emit --nats` as real processes.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveRealtimeConfig } from '../../src/config/realtime.js';
import { ConfigError } from '../../src/errors.js';
import { packEnvelope, unpackEnvelope } from '../../src/realtime/index.js';
import {
  createNatsBroadcaster,
  decodeChannel,
  encodeChannel,
  NatsBroadcaster,
  type NatsBroadcasterClient,
  subjectOf,
} from '../../src/realtime/nats/index.js';
import { CHANNEL_NAME_PATTERN } from '../../src/realtime/protocol.js';
import { natsFixtures } from '../nats/support.js';
import { useCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';
import { type TestClient, useHubs } from './helpers.js';

const NATS = 'nats://127.0.0.1:4222';
const TEST_MS = 120_000;
const { hub, client } = useHubs();
const { natsServer } = natsFixtures();
const { run, start, workDir } = useCli(60_000);
const broadcasters: (NatsBroadcaster | NatsBroadcasterClient)[] = [];

afterEach(async () => {
  await Promise.all(broadcasters.splice(0).map((b) => b.close()));
});

function prefixOfTest(): string {
  return `wt.${randomBytes(4).toString('hex')}.ws`;
}

function natsBroadcaster(url: string, prefix: string, name?: string): NatsBroadcaster {
  const b = new NatsBroadcaster({ nats: { url }, prefix, ...(name === undefined ? {} : { name }), env: {} });
  broadcasters.push(b);
  return b;
}

async function natsHub(url: string, prefix: string, name?: string) {
  const broadcaster = natsBroadcaster(url, prefix, name);
  await broadcaster.ready();
  const h = await hub({
    broadcaster,
    authenticate: (req) => ({ userId: new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? 'anon' }),
  });
  h.authorize(() => true);
  return { h, broadcaster };
}

/** The subjects a connection (by name) has subscribed on a nats-server with monitoring on `monitorPort`. */
async function subjectsOf(monitorPort: number, name: string): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}/connz?subs=1`);
  const connz = (await response.json()) as { connections: { name?: string; subscriptions_list?: string[] }[] };
  return (connz.connections.find((c) => c.name === name)?.subscriptions_list ?? []).sort();
}

describe('channel names as NATS subject tokens', () => {
  it('keep letters, digits, _ - :; escape every other byte as ~XX; decode reverses it', () => {
    expect(encodeChannel('room:lobby')).toBe('room:lobby');
    expect(encodeChannel('user.42')).toBe('user~2E42');
    expect(encodeChannel('private-a=b@c,d;e')).toBe('private-a~3Db~40c~2Cd~3Be');
    expect(subjectOf('warren.ws', 'user.42')).toBe('warren.ws.user~2E42');
    expect(decodeChannel('user~2E42')).toBe('user.42');
    for (const bad of ['', 'a.b', 'a~2', 'a~zz', 'a b', 'a*', '~FF']) expect(decodeChannel(bad), bad).toBeUndefined();
  });

  it('round-trip any string, and give a valid NATS token (no . * > or whitespace) for every channel name', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 50 }), (name) => {
        const token = encodeChannel(name);
        expect(token).toMatch(/^[A-Za-z0-9_:~-]+$/);
        expect(decodeChannel(token)).toBe(name);
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(CHANNEL_NAME_PATTERN), (channel) => {
        expect(decodeChannel(encodeChannel(channel))).toBe(channel);
      }),
    );
  });
});

describe('two hubs on NATS', () => {
  it(
    'share broadcasts (user.<id> included); a publish reaches only the hubs with members in the channel',
    async () => {
      const prefix = prefixOfTest();
      const one = await natsHub(NATS, prefix);
      const two = await natsHub(NATS, prefix);
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
      one.h.to('user.bob').emit('order', { id: 7 });
      expect((await b.next((m) => m.event === 'order')).channel).toBe('user.bob');
      expect([...one.broadcaster.channels].sort()).toEqual(['room:lobby', 'user.ann']);
      expect([...two.broadcaster.channels].sort()).toEqual(['room:lobby', 'room:two-only', 'user.bob']);
      one.h.to('room:two-only').emit('ping-two');
      await b.next((m) => m.event === 'ping-two');
      // A client event relayed on a private channel skips its sender, on the other hub too.
      await a.subscribe('private-team');
      await b.subscribe('private-team');
      a.send({ event: 'client-typing', channel: 'private-team', data: { who: 'ann' } });
      b.send({ event: 'client-typing', channel: 'private-team', data: { who: 'bob' } });
      expect((await a.next((m) => m.event === 'client-typing')).data.who).toBe('bob');
      expect((await b.next((m) => m.event === 'client-typing')).data.who).toBe('ann');
      // Hub one published ann's event before this one, on the same connection: had ann been sent her own, it would be here.
      one.h.to('private-team').emit('sentinel');
      await a.next((m) => m.event === 'sentinel');
      expect(a.events('client-typing')).toHaveLength(1);
    },
    TEST_MS,
  );

  it(
    'a hub is subscribed on the NATS server to exactly the channels it has members in, and subscribe resolves once it is',
    async () => {
      const monitorPort = await freePort();
      const server = await natsServer(undefined, ['-m', String(monitorPort)]);
      const prefix = prefixOfTest();
      const one = await natsHub(server.url, prefix, 'hub-one');
      const two = await natsHub(server.url, prefix, 'hub-two');
      const a = await client(one.h, { token: 'ann' });
      await a.subscribe('room:lobby');
      expect(await subjectsOf(monitorPort, 'hub-one')).toEqual([subjectOf(prefix, 'room:lobby'), subjectOf(prefix, 'user.ann')]);
      expect(await subjectsOf(monitorPort, 'hub-two')).toEqual([]);
      // The ack came after the server had the subscription: a broadcast sent at once arrives.
      const b = await client(two.h, { token: 'bob' });
      await b.subscribe('room:new');
      one.h.to('room:new').emit('first');
      await b.next((m) => m.event === 'first');
      // The last member leaves: the hub unsubscribes.
      await a.request({ event: 'unsubscribe', channel: 'room:lobby' });
      await until(async () => (await subjectsOf(monitorPort, 'hub-one')).length === 1, 'hub one to unsubscribe from room:lobby');
      expect(await subjectsOf(monitorPort, 'hub-one')).toEqual([subjectOf(prefix, 'user.ann')]);
    },
    TEST_MS,
  );

  it('a broadcaster delivers only the channels it subscribed to (a publish elsewhere never reaches it)', async () => {
    const prefix = prefixOfTest();
    const receiver = natsBroadcaster(NATS, prefix);
    const sender = natsBroadcaster(NATS, prefix);
    await Promise.all([receiver.ready(), sender.ready()]);
    const got: string[] = [];
    receiver.onMessage((channel, bytes) => got.push(`${channel}:${unpackEnvelope(bytes)?.event}`));
    await receiver.subscribe('user.7');
    sender.publish('user.8', packEnvelope({ event: 'not-mine', data: null }));
    sender.publish('user.7', packEnvelope({ event: 'mine', data: null }));
    // One sender's messages reach a subscriber in order: had 'not-mine' been delivered, it would be first.
    await until(() => got.length > 0, 'the broadcast to user.7');
    expect(got).toEqual(['user.7:mine']);
    receiver.unsubscribe('user.7');
    await receiver.flush();
    sender.publish('user.7', packEnvelope({ event: 'after', data: null }));
    await receiver.subscribe('user.9');
    sender.publish('user.9', packEnvelope({ event: 'sentinel', data: null }));
    await until(() => got.length > 1, 'the sentinel broadcast');
    expect(got).toEqual(['user.7:mine', 'user.9:sentinel']);
  });
});

describe('NATS going away', () => {
  it(
    'broadcasts while NATS is down are lost, counted and reported; the hubs reconnect and their subscriptions are back',
    async () => {
      const server = await natsServer();
      const prefix = prefixOfTest();
      const one = await natsHub(server.url, prefix);
      const two = await natsHub(server.url, prefix);
      const downs: string[] = [];
      const lost: string[] = [];
      one.broadcaster.on('disconnect', (reason) => downs.push(reason));
      one.broadcaster.onLost((error, channel) => lost.push(`${error.code} ${channel}`));
      const b = await client(two.h, { token: 'bob' });
      await b.subscribe('room:lobby');
      one.h.to('room:lobby').emit('before');
      await b.next((m) => m.event === 'before');

      await server.kill();
      await until(() => downs.length > 0 && one.broadcaster.state === 'down', 'hub one to see NATS go');
      one.h.to('room:lobby').emit('during');
      expect(one.broadcaster.lost).toBe(1);
      expect(lost).toEqual(['WARREN_NATS_UNAVAILABLE room:lobby']);

      const back = new Promise<void>((resolve) => one.broadcaster.on('connect', () => resolve()));
      await server.start();
      await back;
      await until(() => two.broadcaster.state === 'up', 'hub two to reconnect');
      // Hub two's subscription came back with its connection: a broadcast from one reaches bob.
      await until(
        async () => {
          one.h.to('room:lobby').emit('after');
          await one.broadcaster.flush();
          await two.broadcaster.flush();
          return b.events('after').length > 0;
        },
        'a broadcast after the restart to arrive',
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(b.events('during')).toHaveLength(0);
    },
    TEST_MS,
  );

  it(
    'NATS unreachable at start: the hub serves, subscribes when NATS comes up, and delivers from then on',
    async () => {
      const port = await freePort();
      const prefix = prefixOfTest();
      const broadcaster = natsBroadcaster(`nats://127.0.0.1:${port}`, prefix);
      const h = await hub({ broadcaster });
      const a = await client(h);
      // Acked at once (nothing to wait for while NATS is unreachable).
      await a.subscribe('room:early');
      expect(broadcaster.state).not.toBe('up');
      const server = await natsServer(port);
      await broadcaster.ready();
      const sender = natsBroadcaster(server.url, prefix);
      await sender.ready();
      await until(
        async () => {
          sender.publish('room:early', packEnvelope({ event: 'hello', data: 1 }));
          await sender.flush();
          await broadcaster.flush();
          return a.events('hello').length > 0;
        },
        'a broadcast once NATS is up',
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    },
    TEST_MS,
  );
});

describe('createNatsBroadcaster (services publishing without a hub beside them)', () => {
  it('publishes to the hubs of the same prefix; buffers while NATS is unreachable, then drops over maxBuffered and on close', async () => {
    const prefix = prefixOfTest();
    const { h } = await natsHub(NATS, prefix);
    const a = await client(h, { token: '5' });
    expect((await a.subscribe('user.5')).error).toBeUndefined();
    await a.subscribe('room:lobby');
    const service = createNatsBroadcaster({ nats: { url: NATS }, prefix, env: {} });
    broadcasters.push(service);
    service.channel('user.{id}', { id: 5 }).emit('order', { id: 7 });
    service.to('room:lobby').emit('message', 'hi');
    await service.flush();
    expect(service.sent).toBe(2);
    expect(await a.next((m) => m.event === 'order')).toMatchObject({ channel: 'user.5', data: { id: 7 } });
    expect(await a.next((m) => m.event === 'message')).toMatchObject({ channel: 'room:lobby', data: 'hi' });
    expect(() => service.to('bad channel')).toThrow(/not a valid channel name/);

    const nowhere = createNatsBroadcaster({ nats: { url: `nats://127.0.0.1:${await freePort()}` }, prefix, maxBuffered: 1, env: {} });
    broadcasters.push(nowhere);
    const drops: string[] = [];
    nowhere.on('drop', (error, { event }) => drops.push(`${error.code} ${event}`));
    nowhere.emit('room:lobby', 'kept');
    nowhere.emit('room:lobby', 'over');
    expect(nowhere.buffered).toBe(1);
    await expect(nowhere.flush(200)).rejects.toMatchObject({ code: 'WARREN_NATS_UNAVAILABLE' });
    await nowhere.close();
    expect(drops).toEqual(['WARREN_BROADCAST_DROPPED over', 'WARREN_BROADCAST_DROPPED kept']);
    expect(nowhere.dropped).toBe(2);
  });
});

describe('config: realtime.broadcast "nats"', () => {
  it('natsUrl from the file or NATS_URL, natsPrefix from the file or WS_NATS_PREFIX (default warren.ws)', () => {
    expect(resolveRealtimeConfig({ broadcast: 'nats' }, {})).toMatchObject({ broadcast: 'nats', natsPrefix: 'warren.ws' });
    expect(resolveRealtimeConfig({ broadcast: 'nats' }, {}).natsUrl).toBeUndefined();
    expect(
      resolveRealtimeConfig({ broadcast: 'nats', natsUrl: 'nats://a:4222', natsPrefix: 'shop.ws' }, { WS_BROADCAST: 'nats' }),
    ).toMatchObject({ natsUrl: 'nats://a:4222', natsPrefix: 'shop.ws' });
    expect(
      resolveRealtimeConfig(
        { natsUrl: 'nats://a:4222' },
        { WS_BROADCAST: 'nats', NATS_URL: 'nats://b:4222,nats://c:4222', WS_NATS_PREFIX: 'x' },
      ),
    ).toMatchObject({ broadcast: 'nats', natsUrl: 'nats://b:4222,nats://c:4222', natsPrefix: 'x' });
  });

  it('bad values name the key or variable, the value and what was expected', () => {
    const issue = (section: unknown, env: NodeJS.ProcessEnv) => {
      try {
        resolveRealtimeConfig(section, env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('\n');
      }
      throw new Error('expected a ConfigError');
    };
    expect(issue({ broadcast: 'kafka' }, {})).toBe('realtime.broadcast: expected "unix", "redis" or "nats" (got "kafka")');
    expect(issue({ natsPrefix: 'warren.*' }, {})).toMatch(/^realtime\.natsPrefix: expected a NATS subject prefix.*\(got "warren\.\*"\)$/);
    expect(issue({}, { WS_NATS_PREFIX: 'a..b' })).toMatch(/^WS_NATS_PREFIX: expected a NATS subject prefix/);
    expect(issue({ broadcast: 'nats', natsUrl: 'http://x:80' }, {})).toBe(
      'realtime.natsUrl: "http://x:80" is not a NATS server URL (nats://host:port or tls://host:port) (needed by broadcast "nats")',
    );
    expect(issue({}, { WS_BROADCAST: 'nats', NATS_URL: 'redis://x' })).toMatch(/^NATS_URL: "redis:\/\/x" is not a NATS server URL/);
    expect(issue({ broadcast: 'nats' }, { NATS_USER: 'u' })).toMatch(/^realtime\.broadcast: NATS user and password go together/);
    // Only broadcast "nats" reads the NATS settings: a hub on unix ignores them.
    expect(resolveRealtimeConfig({}, { NATS_URL: 'redis://x' }).broadcast).toBe('unix');
  });
});

describe('warren hub and warren emit over NATS', () => {
  it(
    'two hub processes with WS_BROADCAST=nats share broadcasts; warren emit --nats reaches both without a hub.sock',
    async () => {
      const prefix = prefixOfTest();
      const env = (socketDir: string) => ({
        WARREN_SOCKET_DIR: socketDir,
        WS_PORT: '0',
        WS_BROADCAST: 'nats',
        NATS_URL: NATS,
        WS_NATS_PREFIX: prefix,
      });
      const first = workDir('wn-');
      const second = workDir('wn-');
      const hubs = [
        start(['hub'], { cwd: first.dir, env: env(first.socketDir) }),
        start(['hub'], { cwd: second.dir, env: env(second.socketDir) }),
      ];
      const clients: TestClient[] = [];
      for (const h of hubs) {
        const port = (
          await until(
            () => /ws:\/\/127\.0\.0\.1:(\d+)\/ws/.exec(h.output()),
            () => `the hub's address in: ${h.output()}`,
          )
        )[1];
        await until(
          () => h.output().includes('hub broadcasts through NATS at'),
          () => `the hub on NATS: ${h.output()}`,
        );
        const c = await client(`ws://127.0.0.1:${port}/ws`);
        expect((await c.subscribe('news.today')).error).toBeUndefined();
        clients.push(c);
      }
      // Through the first hub's socket: the second hub's member gets it through NATS.
      const local = await run(['emit', 'news.today', 'via-sock', '1'], { cwd: first.dir, env: env(first.socketDir) });
      expect(local).toMatchObject({ code: 0 });
      // Straight to NATS, from a directory with no hub.
      const elsewhere = workDir('wn-');
      const remote = await run(['emit', 'news.today', 'via-nats', '{"n":2}', '--nats'], {
        cwd: elsewhere.dir,
        env: env(elsewhere.socketDir),
      });
      expect(remote).toMatchObject({
        code: 0,
        stdout: `via-nats sent to news.today through NATS at ${NATS} (subject ${prefix}.news~2Etoday)\n`,
      });
      for (const c of clients) {
        expect(await c.next((m) => m.event === 'via-sock')).toMatchObject({ channel: 'news.today', data: 1 });
        expect(await c.next((m) => m.event === 'via-nats')).toMatchObject({ channel: 'news.today', data: { n: 2 } });
      }
      const unreachable = await run(['emit', 'news.today', 'x', '--nats', '--timeout', '300'], {
        cwd: elsewhere.dir,
        env: { ...env(elsewhere.socketDir), NATS_URL: `nats://127.0.0.1:${await freePort()}` },
      });
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toMatch(
        /^warren emit: WARREN_NATS_UNAVAILABLE: NATS at nats:\/\/127\.0\.0\.1:\d+ took not all broadcasts within 300 ms/,
      );
      for (const h of hubs) h.child.kill('SIGTERM');
      for (const h of hubs) expect((await h.closed).code).toBe(0);
    },
    TEST_MS,
  );

  it(
    'warren hub with a bad NATS setting stops with one line naming it; one that cannot listen exits (its NATS link closed)',
    async () => {
      const { dir, socketDir } = workDir('wn-');
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      try {
        const busy = await run(['hub'], {
          cwd: dir,
          env: {
            WARREN_SOCKET_DIR: socketDir,
            WS_BROADCAST: 'nats',
            NATS_URL: NATS,
            WS_PORT: String((taken.address() as AddressInfo).port),
          },
        });
        expect(busy.code).toBe(1);
        expect(busy.stderr).toMatch(/^warren hub: .*EADDRINUSE/m);
      } finally {
        taken.close();
      }
      const result = await run(['hub'], { cwd: dir, env: { WARREN_SOCKET_DIR: socketDir, WS_BROADCAST: 'nats', NATS_URL: 'http://nats' } });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'warren hub: WARREN_CONFIG: NATS_URL: "http://nats" is not a NATS server URL (nats://host:port or tls://host:port) (needed by broadcast "nats")\n',
      );
    },
    TEST_MS,
  );
});
