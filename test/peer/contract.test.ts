/**
 * Typed contracts at run time: descriptors carry the method name into request, onRequest,
 * notify and onNotify, over a memory pair and over a Unix socket. The compile-time side is in
 * test/types/contract.test-d.ts.
 */
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RemoteError } from '../../src/errors.js';
import { method, notification } from '../../src/peer/contract.js';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix, listenUnix } from '../../src/peer/transports/socket.js';
import { expectRejection, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

const math = {
  add: method<{ a: number; b: number }, number>('math.add'),
  divide: method<{ a: number; b: number }, number>('math.divide'),
  range: method<{ from: number; to: number }, AsyncIterable<number>>('math.range'),
  version: method<void, string>('math.version'),
  log: notification<{ line: string }>('math.log'),
};

describe('typed contracts', () => {
  it('descriptors are frozen plain data naming the method', () => {
    expect(math.add).toEqual({ kind: 'request', method: 'math.add' });
    expect(math.log).toEqual({ kind: 'notification', method: 'math.log' });
    expect(Object.isFrozen(math.add)).toBe(true);
    expect(Object.isFrozen(math.log)).toBe(true);
  });

  it('request and onRequest with a descriptor, typed end to end', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest(math.add, ({ a: x, b: y }) => x + y);
    b.onRequest(math.divide, ({ a: x, b: y }) => {
      if (y === 0) throw Object.assign(new Error('division by zero'), { code: 'E_MATH' });
      return x / y;
    });
    b.onRequest(math.version, () => '1.2.3');
    const sum = await a.request(math.add, { a: 2, b: 3 });
    expectTypeOf(sum).toEqualTypeOf<number>();
    expect(sum).toBe(5);
    expect(await a.request(math.divide, { a: 9, b: 3 }, { timeout: 1000 })).toBe(3);
    await expectRejection(a.request(math.divide, { a: 1, b: 0 }), RemoteError, 'E_MATH', 'division by zero');
    expect(await a.request(math.version)).toBe('1.2.3');
  });

  it('a descriptor and its method name reach the same handler', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('math.add', (p) => {
      const { a: x, b: y } = p as { a: number; b: number };
      return x * 100 + y;
    });
    expect(await a.request(math.add, { a: 1, b: 2 })).toBe(102);
    b.onRequest(math.version, () => 'typed');
    expect(await a.request('math.version')).toBe('typed');
  });

  it('stream methods declare AsyncIterable results', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest(math.range, async function* ({ from, to }) {
      for (let i = from; i <= to; i++) yield i;
    });
    const seen: number[] = [];
    for await (const n of await a.request(math.range, { from: 3, to: 6 })) seen.push(n);
    expect(seen).toEqual([3, 4, 5, 6]);
  });

  it('notify and onNotify with a descriptor', async () => {
    const [a, b] = cleanup.pair();
    const lines: string[] = [];
    b.onNotify(math.log, ({ line }) => {
      lines.push(line);
    });
    a.notify(math.log, { line: 'first' });
    a.notify('math.log', { line: 'second' });
    await until(() => lines.length === 2);
    expect(lines).toEqual(['first', 'second']);
  });

  it('the removers returned for descriptors work', async () => {
    const [a, b] = cleanup.pair();
    const off = b.onRequest(math.add, ({ a: x, b: y }) => x + y);
    expect(await a.request(math.add, { a: 1, b: 1 })).toBe(2);
    off();
    await expectRejection(a.request(math.add, { a: 1, b: 1 }), RemoteError, 'WARREN_NO_HANDLER', "'math.add'");
  });

  it('works the same over a Unix socket', async () => {
    const path = join(cleanup.tmpDir(), 'contract.sock');
    cleanup.peerServer(
      await listenUnix(path, (peer: Peer) => {
        peer.onRequest(math.add, ({ a: x, b: y }) => x + y);
        peer.onRequest(math.range, async function* ({ from, to }) {
          for (let i = from; i <= to; i++) yield i;
        });
      }),
    );
    const client = cleanup.peer(await connectUnix(path));
    expect(await client.request(math.add, { a: 20, b: 22 })).toBe(42);
    const items: number[] = [];
    for await (const n of await client.request(math.range, { from: 1, to: 3 })) items.push(n);
    expect(items).toEqual([1, 2, 3]);
  });
});
