// Recovery on one hub (the hub's own RecoveryLog): broadcasts made while a channel had no member
// here are recorded too, and a position the hub no longer has is never vouched for.
import { describe, expect, it } from 'vitest';
import { type Envelope, packEnvelope } from '../../src/realtime/envelope.js';
import type { Position, RecoveryResult, RecoveryStore } from '../../src/realtime/recovery.js';
import { RecoveryLog } from '../../src/realtime/recovery.js';
import { type Broadcaster, LocalBroadcaster } from '../../src/realtime/seams.js';
import { until } from '../support/until.js';
import { useHubs } from './helpers.js';

const { hub, client } = useHubs();

describe('recovery on one hub', () => {
  it('replays the broadcasts made while the channel had no member on the hub', async () => {
    const h = await hub();
    const first = await client(h);
    const { epoch } = (await first.subscribe('feed')).data;
    h.to('feed').emit('n', 1);
    const one = await first.next((m) => m.event === 'n');
    first.ws.close();
    await until(() => h.stats.connections === 0 && h.memberCount('feed') === 0);
    // Nobody is in 'feed' on this hub now.
    h.to('feed').emit('n', 2);
    h.to('feed').emit('n', 3);
    const back = await client(h);
    const ack = await back.subscribe('feed', { since: { epoch, offset: one.offset } });
    expect(ack.data).toMatchObject({ recovered: true, epoch, offset: 3 });
    expect(back.events('n').map((m) => [m.data, m.offset])).toEqual([
      [2, 2],
      [3, 3],
    ]);
  });

  it('answers recovered: false for an offset on a channel it keeps nothing of', async () => {
    const h = await hub();
    const probe = await client(h);
    const { epoch } = (await probe.subscribe('other')).data;
    const c = await client(h);
    const ack = await c.subscribe('never-used', { since: { epoch, offset: 4 } });
    expect(ack.data.recovered).toBe(false);
    expect(ack.data.offset).toBe(0);
    // A fresh subscribe's position is good for a reconnect with nothing missed.
    const again = await client(h);
    const position = (await c.subscribe('quiet')).data;
    expect((await again.subscribe('quiet', { since: { epoch: position.epoch, offset: position.offset } })).data.recovered).toBe(true);
  });
});

/** Delivers only the channels the hub subscribed to, as the Redis and NATS broadcasters do. */
class PerChannelBroadcaster implements Broadcaster {
  readonly #subscribed = new Set<string>();
  #handler: ((channel: string, message: Uint8Array) => void) | undefined;
  publish(channel: string, message: Uint8Array): void {
    if (this.#subscribed.has(channel)) this.#handler?.(channel, message);
  }
  subscribe(channel: string): void {
    this.#subscribed.add(channel);
  }
  unsubscribe(channel: string): void {
    this.#subscribed.delete(channel);
  }
  onMessage(handler: (channel: string, message: Uint8Array) => void): () => void {
    this.#handler = handler;
    return () => {};
  }
  async close(): Promise<void> {}
}

describe('recovery with a broadcaster that delivers per channel', () => {
  it('the hub forgets a channel when its last member leaves: a reconnect is told recovered: false', async () => {
    const h = await hub({ broadcaster: new PerChannelBroadcaster() });
    const first = await client(h);
    const { epoch } = (await first.subscribe('feed')).data;
    h.to('feed').emit('n', 1);
    const one = await first.next((m) => m.event === 'n');
    first.ws.close();
    await until(() => h.memberCount('feed') === 0);
    h.to('feed').emit('n', 2); // never reaches this hub
    const back = await client(h);
    const ack = await back.subscribe('feed', { since: { epoch, offset: one.offset } });
    expect(ack.data.recovered).toBe(false);
    // While another member stays, the hub keeps receiving and recovers.
    const stay = await client(h);
    const position = (await stay.subscribe('feed')).data;
    back.ws.close();
    await until(() => h.memberCount('feed') === 1);
    h.to('feed').emit('n', 3);
    await stay.next((m) => m.event === 'n' && m.data === 3);
    const again = await client(h);
    const ack2 = await again.subscribe('feed', { since: { epoch: position.epoch, offset: position.offset } });
    expect(ack2.data.recovered).toBe(true);
    expect(again.events('n').map((m) => m.data)).toEqual([3]);
  });
});

/** A shared store that answers `since` when the test says so, and a broadcaster that numbers as the test says. */
class SlowStore implements RecoveryStore<Envelope> {
  readonly shared = true;
  pending: ((result: RecoveryResult<Envelope>) => void) | undefined;
  record(_channel: string, _entry: Envelope, position: Position | undefined): Position {
    return position ?? { epoch: '', offset: 0 };
  }
  position(): Position {
    return { epoch: 'E', offset: 0 };
  }
  since(): Promise<RecoveryResult<Envelope>> {
    return new Promise((resolve) => {
      this.pending = resolve;
    });
  }
  release(): void {}
  prune(): void {}
}

class NumberedBroadcaster extends LocalBroadcaster {
  readonly store = new SlowStore();
  #handler: ((channel: string, message: Uint8Array, position?: Position) => void) | undefined;
  override onMessage(handler: (channel: string, message: Uint8Array, position?: Position) => void): () => void {
    this.#handler = handler;
    return () => {};
  }
  at(channel: string, event: string, data: unknown, offset: number): void {
    this.#handler?.(channel, packEnvelope({ event, data }), { epoch: 'E', offset });
  }
  recoveryStore(): RecoveryStore<Envelope> {
    return this.store;
  }
}

describe('recovery from a store that answers later', () => {
  it('live broadcasts that arrive meanwhile come after the replayed ones, each once', async () => {
    const broadcaster = new NumberedBroadcaster();
    const h = await hub({ broadcaster });
    const c = await client(h);
    const acked = c.subscribe('feed', { since: { epoch: 'E', offset: 1 } });
    await until(() => broadcaster.store.pending, 'the hub to ask the store');
    // Arrive live while the store is looked up: 2 is also in the replay, 3 only live.
    broadcaster.at('feed', 'n', 2, 2);
    broadcaster.at('feed', 'n', 3, 3);
    expect(c.events('n')).toHaveLength(0);
    broadcaster.store.pending!({
      recovered: true,
      missed: [{ offset: 2, at: 0, entry: { event: 'n', data: 2 } }],
      position: { epoch: 'E', offset: 2 },
    });
    expect((await acked).data).toMatchObject({ recovered: true, epoch: 'E', offset: 2 });
    expect(c.events('n').map((m) => [m.data, m.offset])).toEqual([
      [2, 2],
      [3, 3],
    ]);
    // Held no longer: the next one is written at once.
    broadcaster.at('feed', 'n', 4, 4);
    expect((await c.next((m) => m.event === 'n' && m.data === 4)).offset).toBe(4);
  });
});

describe('RecoveryLog', () => {
  it('a channel idle longer than the window is forgotten: its old offsets get recovered: false, its new ring another epoch', () => {
    let now = 1_000;
    const log = new RecoveryLog<string>(10, 100, { now: () => now });
    log.record('c', 'a');
    const position = log.record('c', 'b');
    expect(position.offset).toBe(2);
    expect(log.since('c', position.epoch, 1)).toMatchObject({ recovered: true, missed: [{ offset: 2, entry: 'b' }] });
    now += 50;
    log.prune(() => false);
    expect(log.channels).toBe(1);
    now += 101;
    log.prune(() => false);
    expect(log.channels).toBe(0);
    expect(log.since('c', position.epoch, 2).recovered).toBe(false);
    const later = log.record('c', 'c');
    expect(later.epoch).not.toBe(position.epoch);
    expect(later.offset).toBe(1); // a new ring (made by since()), then 'c'
    expect(log.since('c', position.epoch, 2).recovered).toBe(false);
  });

  it('keeps the position of a channel with members, and of one left less than a window ago', () => {
    let now = 0;
    const log = new RecoveryLog<string>(10, 100, { now: () => now });
    const position = log.record('busy', 'x');
    log.record('left', 'y');
    now = 150;
    log.release('left');
    log.prune((channel) => channel === 'busy');
    expect(log.channels).toBe(2);
    expect(log.since('busy', position.epoch, 1)).toMatchObject({ recovered: true, missed: [] });
    // Entries older than the window: too old to replay.
    expect(log.since('busy', position.epoch, 0).recovered).toBe(false);
    now = 400;
    log.prune((channel) => channel === 'busy');
    expect(log.channels).toBe(1);
  });

  it('too many missed: recovered: false', () => {
    const log = new RecoveryLog<number>(3, 1_000);
    let position = log.position('c');
    for (let i = 1; i <= 5; i++) position = log.record('c', i);
    expect(log.since('c', position.epoch, 1).recovered).toBe(false);
    expect(log.since('c', position.epoch, 2)).toMatchObject({ recovered: true, missed: [{ entry: 3 }, { entry: 4 }, { entry: 5 }] });
    expect(log.since('c', position.epoch, 6).recovered).toBe(false);
  });
});
