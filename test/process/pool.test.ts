/**
 * spawnPool with real child processes: least-busy dispatch, replacing a child killed with
 * SIGKILL (idempotent requests retried, others rejected) and closing every child.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerClosedError, TimeoutError } from '../../src/errors.js';
import { type PoolOptions, spawnPool, type WorkerPool } from '../../src/peer/pool.js';
import type { ChildExit, ChildPeer } from '../../src/peer/transports/child.js';
import { isGone } from '../support/processes.js';

const WORKER = fileURLToPath(new URL('../fixtures/pool-worker.mjs', import.meta.url));

interface Started {
  tag: string;
  pid: number;
}

interface Harness {
  pool: WorkerPool;
  /** Every child the pool started, replacements included. */
  workers: ChildPeer[];
  /** 'started' notifications from all children. */
  bus: EventEmitter;
}

const harnesses: Harness[] = [];

afterEach(async () => {
  for (const { pool, workers } of harnesses.splice(0)) {
    // close() first so that nothing killed below is replaced.
    const closing = pool.close();
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.kill('SIGKILL');
    }
    await closing;
    for (const worker of workers) {
      await worker.exited;
      expect(isGone(worker.pid as number)).toBe(true);
    }
  }
});

async function startPool(options: PoolOptions = {}): Promise<Harness> {
  const bus = new EventEmitter();
  const workers: ChildPeer[] = [];
  const pool = await spawnPool(3, process.execPath, [WORKER], {
    stderr: 'pipe',
    ...options,
    onWorker: (worker) => {
      workers.push(worker);
      worker.onNotify('started', (params) => {
        bus.emit('started', params as Started);
        return undefined;
      });
    },
  });
  const harness = { pool, workers, bus };
  harnesses.push(harness);
  return harness;
}

/** Resolves with tag → pid once every tag reported 'started' (from a pid `accept` allows). */
function whenStarted(bus: EventEmitter, tags: string[], accept: (s: Started) => boolean = () => true): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  return new Promise((resolve) => {
    const listener = (s: Started) => {
      if (!tags.includes(s.tag) || !accept(s)) return;
      seen.set(s.tag, s.pid);
      if (seen.size === tags.length) {
        bus.off('started', listener);
        resolve(seen);
      }
    };
    bus.on('started', listener);
  });
}

function next<T extends unknown[]>(pool: WorkerPool, event: 'spawn' | 'exit'): Promise<T> {
  return new Promise((resolve) => {
    const off = pool.on(event, (...args: unknown[]) => {
      off();
      resolve(args as T);
    });
  });
}

describe('spawnPool', () => {
  it('starts three children and sends new requests to the least busy one', async () => {
    const { pool, bus } = await startPool();
    expect(pool.peers.length).toBe(3);
    const pids = pool.peers.map((p) => p.pid as number);
    expect(new Set(pids).size).toBe(3);

    // Two slow requests sent at once land on two different children...
    const started = whenStarted(bus, ['s1', 's2']);
    const s1 = pool.request('slow', { tag: 's1' });
    const s2 = pool.request('slow', { tag: 's2' });
    const where = await started;
    const busy = new Set(where.values());
    expect(busy.size).toBe(2);
    const idle = pids.filter((pid) => !busy.has(pid));
    expect(idle.length).toBe(1);

    // ...and while they run, every new request goes to the idle child.
    for (let i = 0; i < 5; i++) {
      await expect(pool.request('pid')).resolves.toBe(idle[0]);
    }

    pool.broadcast('release');
    await expect(s1).resolves.toEqual({ tag: 's1', pid: where.get('s1') });
    await expect(s2).resolves.toEqual({ tag: 's2', pid: where.get('s2') });

    // Three slow requests at once use all three children.
    const three = whenStarted(bus, ['t1', 't2', 't3']);
    const slow = ['t1', 't2', 't3'].map((tag) => pool.request('slow', { tag }));
    expect(new Set((await three).values())).toEqual(new Set(pids));
    pool.broadcast('release');
    await Promise.all(slow);
  });

  it('replaces a child killed with SIGKILL: non-idempotent requests reject, idempotent ones are retried elsewhere', async () => {
    const { pool, bus, workers } = await startPool({ respawnDelay: 20 });
    const spawned: ChildPeer[] = [];
    const exits: [ChildPeer, ChildExit][] = [];
    pool.on('spawn', (worker) => spawned.push(worker));
    pool.on('exit', (worker, exit) => exits.push([worker, exit]));
    const original = pool.peers.map((p) => p.pid as number);

    // Six slow requests, alternately not idempotent (n*) and idempotent (i*): two per child.
    const tags = ['n0', 'i0', 'n1', 'i1', 'n2', 'i2'];
    const started = whenStarted(bus, tags);
    const requests = new Map(
      tags.map((tag) => [
        tag,
        pool.request<Started>('slow', { tag }, { idempotent: tag.startsWith('i') }).then(
          (value) => ({ value, error: undefined }),
          (error: unknown) => ({ value: undefined, error }),
        ),
      ]),
    );
    const where = await started;
    const victim = where.get('n0') as number;
    const onVictim = tags.filter((tag) => where.get(tag) === victim);
    const lost = onVictim.filter((tag) => tag.startsWith('n'));
    const retried = onVictim.filter((tag) => tag.startsWith('i'));
    expect(lost.length).toBeGreaterThan(0);
    expect(retried.length).toBeGreaterThan(0);

    const retriedStarted = whenStarted(bus, retried, (s) => s.pid !== victim);
    const exited = next<[ChildPeer, ChildExit]>(pool, 'exit');
    const replaced = next<[ChildPeer]>(pool, 'spawn');
    process.kill(victim, 'SIGKILL');

    for (const tag of lost) {
      const { error } = await (requests.get(tag) as Promise<{ error: unknown }>);
      expect(error).toBeInstanceOf(PeerClosedError);
      expect((error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    }
    // The idempotent ones run again on a live child; once they have started there, let all finish.
    const retriedWhere = await retriedStarted;
    pool.broadcast('release');
    for (const tag of tags.filter((t) => !lost.includes(t))) {
      const { value, error } = await (requests.get(tag) as Promise<{ value: Started | undefined; error: unknown }>);
      expect(error).toBeUndefined();
      const pid = retried.includes(tag) ? retriedWhere.get(tag) : where.get(tag);
      expect(value).toEqual({ tag, pid });
      expect(value?.pid).not.toBe(victim);
    }

    const [deadWorker, exit] = await exited;
    expect(deadWorker.pid).toBe(victim);
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(isGone(victim)).toBe(true);

    const [fresh] = await replaced;
    const freshPid = fresh.pid as number;
    expect(original).not.toContain(freshPid);
    expect(pool.peers.length).toBe(3);
    expect(pool.peers.map((p) => p.pid)).toContain(freshPid);
    expect(pool.peers.map((p) => p.pid)).not.toContain(victim);
    await expect(fresh.request('pid')).resolves.toBe(freshPid);
    expect(spawned).toEqual([fresh]);
    expect(exits).toEqual([[deadWorker, exit]]);
    expect(workers).toContain(fresh);
  });

  it('a request that finds no live child within its timeout fails with TimeoutError (WARREN_TIMEOUT)', async () => {
    // Replacements come only after a minute: within the test every child stays dead.
    const { pool, workers } = await startPool({ respawnDelay: 60_000 });
    const allExited = new Promise<void>((resolve) => {
      let exited = 0;
      const off = pool.on('exit', () => {
        if (++exited < workers.length) return;
        off();
        resolve();
      });
    });
    for (const worker of [...workers]) worker.kill('SIGKILL');
    await allExited;
    expect(pool.peers).toEqual([]);
    const error = await pool.request('echo', 1, { timeout: 200 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).code).toBe('WARREN_TIMEOUT');
    expect((error as TimeoutError).message).toBe("request 'echo' found no live worker in the pool within 200 ms");
    expect((error as TimeoutError).data).toEqual({ method: 'echo', timeoutMs: 200 });
  });

  it('close() ends every child', async () => {
    const { pool, workers } = await startPool();
    const pids = pool.peers.map((p) => p.pid as number);
    await expect(Promise.all(pids.map(() => pool.request('pid')))).resolves.toHaveLength(3);
    await pool.close();
    for (const pid of pids) expect(isGone(pid)).toBe(true);
    for (const worker of workers) {
      expect(worker.closed).toBe(true);
      // Closed gracefully: each child saw its stdin end and exited by itself.
      await expect(worker.exited).resolves.toEqual({ code: 0, signal: null });
    }
    expect(pool.peers.length).toBe(0);
    const error = await pool.request('pid').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeerClosedError);
    expect(error).toMatchObject({ code: 'WARREN_PEER_CLOSED', message: 'worker pool is closed' });
  });
});
