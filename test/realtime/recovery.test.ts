// Recovery on one hub (the hub's own RecoveryLog): broadcasts made while a channel had no member
// here are recorded too, and a position the hub no longer has is never vouched for.
import { describe, expect, it } from 'vitest';
import { RecoveryLog } from '../../src/realtime/recovery.js';
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

describe('RecoveryLog', () => {
  it('a channel idle longer than the window is forgotten: its old offsets get recovered: false, its new ring another epoch', () => {
    let now = 1_000;
    const log = new RecoveryLog<string>(10, 100, () => now);
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
    const log = new RecoveryLog<string>(10, 100, () => now);
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
