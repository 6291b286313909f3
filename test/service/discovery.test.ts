import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The test's own timers come from node:timers, so that spying on the global ones sees only the watcher's.
import { clearTimeout as clearOwnTimeout, setTimeout as ownTimeout } from 'node:timers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { type Instance, InstanceWatcher, listInstances, watchInstances } from '../../src/service/discovery.js';

const DEADLINE_MS = 10_000;

let root: string;
const servers = new Set<Server>();
const watchers = new Set<InstanceWatcher>();

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'warren-test-'));
});

afterEach(async () => {
  for (const watcher of watchers) watcher.close();
  watchers.clear();
  await Promise.all([...servers].map(stop));
  rmSync(root, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/** A node:net server listening on `dir/name`. */
function listen(dir: string, name: string): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  servers.add(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(dir, name), () => resolve(server));
  });
}

/** Stops listening (node removes the socket file). */
function stop(server: Server): Promise<void> {
  servers.delete(server);
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

type Event = ['add' | 'remove', number];

/** Records a watcher's callbacks and waits, with a deadline, for a condition on them. */
function recorder() {
  const events: Event[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const check of [...waiters]) check();
  };
  return {
    events,
    errors,
    options: {
      onAdd: (instance: Instance) => {
        expect(instance.service).toBe('users');
        events.push(['add', instance.instance]);
        changed();
      },
      onRemove: (instance: Instance) => {
        events.push(['remove', instance.instance]);
        changed();
      },
      onError: (error: Error) => {
        errors.push(error);
        changed();
      },
    },
    /** How often `event` was reported. */
    count(kind: Event[0], instance: number): number {
      return events.filter(([k, i]) => k === kind && i === instance).length;
    },
    /** Resolves as soon as `condition()` holds; rejects after the deadline, naming `what`. */
    until(what: string, condition: () => boolean): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          waiters.delete(check);
          clearOwnTimeout(timer);
          resolve();
        };
        const timer = ownTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`timed out waiting for ${what}; events so far: ${JSON.stringify(events)}, errors: ${errors.map((e) => e.message)}`),
          );
        }, DEADLINE_MS);
        waiters.add(check);
        check();
      });
    },
  };
}

function track<T extends InstanceWatcher>(watcher: T): T {
  watchers.add(watcher);
  return watcher;
}

/** The users/orders fixture of the brief: three live sockets, a regular file with a socket's name and a token file. */
async function fixture(dir: string): Promise<void> {
  await listen(dir, 'users.1.sock');
  await listen(dir, 'users.0.sock');
  await listen(dir, 'orders.0.sock');
  writeFileSync(join(dir, 'users.9.sock'), 'not a socket');
  writeFileSync(join(dir, '.auth_token'), 'x'.repeat(64), { mode: 0o600 });
}

describe('listInstances', () => {
  it('lists exactly the sockets of the service, sorted by instance number', async () => {
    await fixture(root);
    await listen(root, 'users.10.sock');
    await listen(root, 'users.2.sock');
    mkdirSync(join(root, 'users.3.sock'));
    symlinkSync(join(root, 'users.0.sock'), join(root, 'users.4.sock'));
    writeFileSync(join(root, 'users.sock'), '');
    writeFileSync(join(root, 'users.01.sock'), '');

    expect(await listInstances(root, 'users')).toEqual([
      { service: 'users', instance: 0, path: join(root, 'users.0.sock') },
      { service: 'users', instance: 1, path: join(root, 'users.1.sock') },
      { service: 'users', instance: 2, path: join(root, 'users.2.sock') },
      { service: 'users', instance: 10, path: join(root, 'users.10.sock') },
    ]);
    expect(await listInstances(root, 'orders')).toEqual([{ service: 'orders', instance: 0, path: join(root, 'orders.0.sock') }]);
    expect(await listInstances(root, 'products')).toEqual([]);
  });

  it('finds no instance in a directory that does not exist (yet)', async () => {
    expect(await listInstances(join(root, 'missing'), 'users')).toEqual([]);
    writeFileSync(join(root, 'file'), '');
    expect(await listInstances(join(root, 'file'), 'users')).toEqual([]);
  });

  it('refuses an invalid service name and reports a directory that cannot be read', async () => {
    for (const name of ['', 'Users', 'users.0', '../users', '1users']) {
      const error = await listInstances(root, name).catch((e: unknown) => e);
      expect(isWarrenError(error) && error.code).toBe('WARREN_INVALID_ARGUMENT');
    }
    // A symbolic link to itself: ELOOP, which even root cannot read through.
    const loop = join(root, 'loop');
    symlinkSync(loop, loop);
    const error = await listInstances(loop, 'users').catch((e: unknown) => e);
    expect(isWarrenError(error) && error.code).toBe('WARREN_SOCKET_DIR');
    expect((error as Error).message).toContain(loop);
  });
});

describe('InstanceWatcher', () => {
  it('reports the initial instances, then instances that start and stop listening', async () => {
    await fixture(root);
    const rec = recorder();
    const watcher = track(watchInstances(root, 'users', rec.options));
    await watcher.ready;
    expect(rec.events).toEqual([
      ['add', 0],
      ['add', 1],
    ]);
    expect(watcher.instances().map((i) => i.path)).toEqual([join(root, 'users.0.sock'), join(root, 'users.1.sock')]);

    const two = await listen(root, 'users.2.sock');
    await rec.until('users.2 added', () => rec.count('add', 2) === 1);
    expect(watcher.instances().map((i) => i.instance)).toEqual([0, 1, 2]);

    await stop(two);
    await rec.until('users.2 removed', () => rec.count('remove', 2) === 1);
    expect(watcher.instances().map((i) => i.instance)).toEqual([0, 1]);

    // Another service, a regular file and a directory with socket names are never reported: by the
    // time users.3 is seen, they have been scanned too.
    await listen(root, 'orders.1.sock');
    writeFileSync(join(root, 'users.5.sock'), '');
    mkdirSync(join(root, 'users.6.sock'));
    await listen(root, 'users.3.sock');
    await rec.until('users.3 added', () => rec.count('add', 3) === 1);
    await watcher.refresh();
    expect(rec.events).toEqual([
      ['add', 0],
      ['add', 1],
      ['add', 2],
      ['remove', 2],
      ['add', 3],
    ]);
    expect(rec.errors).toEqual([]);
  });

  it('reports each of many instances that appear and disappear at once exactly once', async () => {
    const rec = recorder();
    const watcher = track(new InstanceWatcher(root, 'users', rec.options));
    await watcher.ready;
    const numbers = Array.from({ length: 40 }, (_, i) => i);
    const started = await Promise.all(numbers.map((i) => listen(root, `users.${i}.sock`)));
    await rec.until('40 instances added', () => numbers.every((i) => rec.count('add', i) >= 1));
    await watcher.refresh();
    for (const i of numbers) expect(rec.count('add', i)).toBe(1);
    expect(watcher.instances().map((i) => i.instance)).toEqual(numbers);

    await Promise.all(started.map(stop));
    await rec.until('40 instances removed', () => numbers.every((i) => rec.count('remove', i) >= 1));
    await watcher.refresh();
    for (const i of numbers) expect(rec.count('remove', i)).toBe(1);
    expect(rec.events).toHaveLength(80);
    expect(watcher.instances()).toEqual([]);
    expect(rec.errors).toEqual([]);
  });

  it('stops reporting and leaves no timer or fs watcher behind once closed', async () => {
    // Spies on the global timer functions that count only the timers started from discovery.ts
    // (the test's own come from node:timers, and vitest keeps its own copies).
    const live = new Set<unknown>();
    let created = 0;
    const fromDiscovery = () => new Error().stack?.includes('discovery.ts') === true;
    const real = { setTimeout, setInterval, clearTimeout, clearInterval };
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const timer = real.setTimeout(() => {
        live.delete(timer);
        fn();
      }, ms);
      if (fromDiscovery()) {
        created++;
        live.add(timer);
      }
      return timer;
    }) as typeof setTimeout);
    vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms?: number) => {
      const timer = real.setInterval(fn, ms);
      if (fromDiscovery()) {
        created++;
        live.add(timer);
      }
      return timer;
    }) as typeof setInterval);
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation(((timer: NodeJS.Timeout) => {
      live.delete(timer);
      real.clearTimeout(timer);
    }) as typeof clearTimeout);
    vi.spyOn(globalThis, 'clearInterval').mockImplementation(((timer: NodeJS.Timeout) => {
      live.delete(timer);
      real.clearInterval(timer);
    }) as typeof clearInterval);

    const rec = recorder();
    const watcher = track(new InstanceWatcher(root, 'users', { ...rec.options, pollInterval: 50 }));
    await watcher.ready;
    expect(live.size).toBe(1); // the poll
    await listen(root, 'users.0.sock');
    await rec.until('users.0 added', () => rec.count('add', 0) === 1);

    // A change just before close() may leave a debounce timer pending: close() clears it too.
    await listen(root, 'users.1.sock');
    watcher.close();
    expect(live.size).toBe(0);
    const createdAtClose = created;
    const eventsAtClose = rec.events.length;
    watcher.close();

    // A plain fs.watch is the witness: libuv hands one inotify event to every watcher of the
    // directory in the same turn, so after the witness has seen users.2.sock (and one more turn),
    // a watcher still open would have started a debounce timer.
    const seen = new Promise<void>((resolve) => {
      const witness = watch(root, (_event, name) => {
        if (name !== 'users.2.sock') return;
        witness.close();
        setImmediate(resolve);
      });
    });
    await listen(root, 'users.2.sock');
    await seen;
    expect(created).toBe(createdAtClose);
    expect(live.size).toBe(0);
    await watcher.refresh();
    expect(rec.events).toHaveLength(eventsAtClose);
    expect(watcher.instances().map((i) => i.instance)).not.toContain(2);
  });

  it('waits for a directory that does not exist yet, and survives its removal and re-creation', async () => {
    const dir = join(root, 'later');
    const rec = recorder();
    const watcher = track(new InstanceWatcher(dir, 'users', { ...rec.options, pollInterval: 50 }));
    await watcher.ready;
    expect(watcher.instances()).toEqual([]);

    mkdirSync(dir, { mode: 0o700 });
    const zero = await listen(dir, 'users.0.sock');
    await rec.until('users.0 added in the new directory', () => rec.count('add', 0) === 1);

    // The directory goes away (its fs.watch dies with it): its instances are removed.
    await stop(zero);
    rmSync(dir, { recursive: true, force: true });
    await rec.until('users.0 removed', () => rec.count('remove', 0) === 1);

    // And comes back: watched again.
    mkdirSync(dir, { mode: 0o700 });
    await listen(dir, 'users.1.sock');
    await rec.until('users.1 added in the re-created directory', () => rec.count('add', 1) === 1);
    await listen(dir, 'users.2.sock');
    await rec.until('users.2 added', () => rec.count('add', 2) === 1);
    expect(rec.errors).toEqual([]);
  });

  it('watches the new directory when the watched one is replaced', async () => {
    const dir = join(root, 'sockets');
    mkdirSync(dir);
    const rec = recorder();
    // Polls too rare to matter: only fs.watch events drive this test.
    const watcher = track(new InstanceWatcher(dir, 'users', { ...rec.options, pollInterval: 600_000 }));
    await watcher.ready;
    // Replaced in one go: the old fs.watch reports that its directory went away, and is dead after.
    const next = join(root, 'next');
    mkdirSync(next);
    await listen(next, 'users.7.sock');
    rmSync(dir, { recursive: true });
    renameSync(next, dir);
    await rec.until('users.7 added', () => rec.count('add', 7) === 1);
    expect(watcher.instances()).toEqual([{ service: 'users', instance: 7, path: join(dir, 'users.7.sock') }]);
    // Seen through a watcher of the new directory.
    await listen(dir, 'users.8.sock');
    await rec.until('users.8 added', () => rec.count('add', 8) === 1);
  });

  it('reports a directory that cannot be read once, keeps its instances, and carries on', async () => {
    const dir = join(root, 'sockets');
    mkdirSync(dir);
    await listen(dir, 'users.0.sock');
    const rec = recorder();
    const watcher = track(new InstanceWatcher(join(root, 'link'), 'users', { ...rec.options, pollInterval: 20 }));
    await watcher.ready;
    expect(rec.events).toEqual([]);
    // A symbolic link to itself cannot be read (ELOOP): reported once, not at every poll.
    symlinkSync(join(root, 'link'), join(root, 'link'));
    await rec.until('an error', () => rec.errors.length === 1);
    expect(isWarrenError(rec.errors[0]) && rec.errors[0].code).toBe('WARREN_SOCKET_DIR');
    await watcher.refresh();
    await watcher.refresh();
    expect(rec.errors).toHaveLength(1);
    // Pointed at the real directory: read again.
    rmSync(join(root, 'link'));
    symlinkSync(dir, join(root, 'link'));
    await rec.until('users.0 added through the link', () => rec.count('add', 0) === 1);
  });

  it('reports an exception from onAdd to onError and keeps reporting the other changes', async () => {
    await listen(root, 'users.0.sock');
    await listen(root, 'users.1.sock');
    const errors: Error[] = [];
    const added: number[] = [];
    const watcher = track(
      new InstanceWatcher(root, 'users', {
        onAdd: (instance) => {
          added.push(instance.instance);
          if (instance.instance === 0) throw new Error('handler bug');
        },
        onError: (error) => errors.push(error),
      }),
    );
    await watcher.ready;
    expect(added).toEqual([0, 1]);
    expect(errors.map((e) => e.message)).toEqual(['handler bug']);
  });

  it('refuses bad arguments', () => {
    for (const create of [
      () => new InstanceWatcher(root, 'Users'),
      () => new InstanceWatcher(root, 'users', { pollInterval: 0 }),
      () => new InstanceWatcher(root, 'users', { pollInterval: Number.NaN }),
      () => new InstanceWatcher(root, 'users', { debounce: -1 }),
    ]) {
      let error: unknown;
      try {
        track(create());
      } catch (e) {
        error = e;
      }
      expect(isWarrenError(error) && error.code).toBe('WARREN_INVALID_ARGUMENT');
    }
  });
});
