/**
 * Streams: a handler returns an AsyncIterable, the caller iterates what the request resolves
 * to. Order, credit-based flow control (a slow consumer pauses a fast producer), early `break`
 * stopping the producer, errors mid-stream, in memory and over a real Unix socket.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeerClosedError, RemoteError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { IncomingStream } from '../../src/peer/streams.js';
import { connectUnix, listenUnix } from '../../src/peer/transports/socket.js';
import { expectRejection, gate, roundTrip, track, turn, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

async function collect(stream: unknown): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of stream as AsyncIterable<unknown>) items.push(item);
  return items;
}

/** A handler-side counter generator whose progress the test can watch. */
function counter(count: number) {
  const state = { yielded: 0, finallyRan: false, returned: false };
  async function* gen(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < count; i++) {
        state.yielded++;
        yield i;
      }
      state.returned = true;
    } finally {
      state.finallyRan = true;
    }
  }
  return { state, gen };
}

/** Unix socket pair: a listening server peer (handler side) and a connected client peer. */
async function unixPair(options: { streamWindow?: number } = {}): Promise<{ client: Peer; server: Peer }> {
  const dir = cleanup.tmpDir();
  const path = join(dir, 'peer.sock');
  let server: Peer | undefined;
  cleanup.peerServer(
    await listenUnix(
      path,
      (peer) => {
        server = peer;
      },
      options,
    ),
  );
  const client = cleanup.peer(await connectUnix(path, options));
  await until(() => server !== undefined);
  return { client, server: server as Peer };
}

describe('streams in memory', () => {
  it('delivers every item of an async generator, in order, then ends', async () => {
    const [a, b] = cleanup.pair();
    const { state, gen } = counter(500);
    b.onRequest('count', () => gen());
    const stream = await a.request('count');
    expect(stream).toBeInstanceOf(IncomingStream);
    const items = await collect(stream);
    expect(items).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(state.returned).toBe(true);
    await until(() => state.finallyRan && b.activeHandlers === 0);
  });

  it('an empty stream ends at once; an async handler may resolve to a stream', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('empty', () => (async function* () {})());
    b.onRequest('later', async () => {
      await Promise.resolve();
      return (async function* () {
        yield 'x';
        yield { y: 1 };
      })();
    });
    expect(await collect(await a.request('empty'))).toEqual([]);
    expect(await collect(await a.request('later'))).toEqual(['x', { y: 1 }]);
  });

  it('stream items travel in the codec of the request: v8 keeps Maps, Sets and bigints', async () => {
    const [a, b] = cleanup.pair({ codec: 'v8' });
    b.onRequest('v8', async function* () {
      yield new Map([['k', 1n]]);
      yield new Set(['s']);
    });
    const [first, second] = await collect(await a.request('v8'));
    expect(first).toBeInstanceOf(Map);
    expect((first as Map<string, bigint>).get('k')).toBe(1n);
    expect(second).toBeInstanceOf(Set);
  });

  it('a slow consumer pauses a fast producer: never more than streamWindow items ahead', async () => {
    const window = 8;
    const total = 200;
    const [a, b] = cleanup.pair({ streamWindow: window });
    const { state, gen } = counter(total);
    b.onRequest('fast', () => gen());
    const stream = (await a.request('fast')) as AsyncIterable<number>;
    let consumed = 0;
    let maxAhead = 0;
    const items: number[] = [];
    for await (const item of stream) {
      items.push(item);
      consumed++;
      if (consumed === 1) {
        // The producer fills the initial window, then must stop: a full round trip later it
        // still has not gone further, although it could produce everything in microtasks.
        // It holds one item more than it sent (window + 1 taken from its source): only items
        // need credit, so it must read its source ahead to learn that the stream ended and
        // send STREAM_END without credit (docs/protocol.md §9).
        await until(() => state.yielded >= window + 1);
        await roundTrip(a, b);
        await roundTrip(a, b);
        expect(state.yielded).toBe(window + 1);
      }
      maxAhead = Math.max(maxAhead, state.yielded - consumed);
      expect(state.yielded - consumed).toBeLessThanOrEqual(window + 1);
      // Be slow: give the producer several turns of the event loop to run ahead if it could.
      if (consumed % 3 === 0) await roundTrip(a, b);
      else await turn();
    }
    expect(items).toEqual(Array.from({ length: total }, (_, i) => i));
    // The producer did run ahead up to the window (the bound above is not vacuous).
    expect(maxAhead).toBeGreaterThanOrEqual(window - 1);
  });

  for (const [consumerWindow, producerWindow] of [
    [4, 64],
    [100, 3],
  ] as const) {
    it(`the consumer alone sets the window (consumer ${consumerWindow}, producer side configured ${producerWindow})`, async () => {
      const [a, b] = cleanup.pair({ streamWindow: consumerWindow }, { streamWindow: producerWindow });
      const total = 300;
      const { state, gen } = counter(total);
      b.onRequest('fast', () => gen());
      const got: number[] = [];
      for await (const item of (await a.request('fast')) as AsyncIterable<number>) {
        got.push(item);
        expect(state.yielded - got.length).toBeLessThanOrEqual(consumerWindow);
        if (got.length % 7 === 0) await roundTrip(a, b);
      }
      expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
    });
  }

  for (const window of [1, 5, 7, 8]) {
    it(`a slow producer never stalls (window ${window}): credit that arrives while it still has some is kept`, async () => {
      const [a, b] = cleanup.pair({ streamWindow: window });
      const total = 120;
      let yielded = 0;
      b.onRequest('slow', async function* () {
        for (let i = 0; i < total; i++) {
          await turn();
          yielded++;
          yield i;
        }
      });
      const got: number[] = [];
      const done = track(
        (async () => {
          for await (const item of (await a.request('slow')) as AsyncIterable<number>) {
            got.push(item);
            expect(yielded - got.length).toBeLessThanOrEqual(window);
          }
        })(),
      );
      await until(() => done.status !== 'pending', { message: 'the stream finished within the deadline' });
      expect(done.status).toBe('fulfilled');
      expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
    });
  }

  it('consumer break stops the producer and runs its finally block', async () => {
    const [a, b] = cleanup.pair({ streamWindow: 4 });
    const { state, gen } = counter(1_000_000);
    b.onRequest('endless', () => gen());
    const got: number[] = [];
    for await (const item of (await a.request('endless')) as AsyncIterable<number>) {
      got.push(item);
      if (got.length === 3) break;
    }
    expect(got).toEqual([0, 1, 2]);
    await until(() => state.finallyRan);
    expect(state.returned).toBe(false);
    await until(() => b.activeHandlers === 0);
    const yieldedAtStop = state.yielded;
    await roundTrip(a, b);
    expect(state.yielded).toBe(yieldedAtStop);
    expect(state.yielded).toBeLessThanOrEqual(3 + 4);
    // The connection is fine afterwards: a new stream runs from the start.
    const again: number[] = [];
    for await (const item of (await a.request('endless')) as AsyncIterable<number>) {
      again.push(item);
      if (again.length === 2) break;
    }
    expect(again).toEqual([0, 1]);
  });

  it('break stops a producer that is itself waiting (not out of credit)', async () => {
    const [a, b] = cleanup.pair();
    const hold = gate();
    let finallyRan = false;
    b.onRequest('waits', async function* () {
      try {
        yield 'first';
        await hold.promise;
        yield 'second';
      } finally {
        finallyRan = true;
      }
    });
    const stream = (await a.request('waits')) as AsyncIterableIterator<unknown>;
    expect(await stream.next()).toEqual({ value: 'first', done: false });
    expect(await stream.return?.()).toEqual({ value: undefined, done: true });
    // The generator is parked in `await hold`: it finishes once released, and its finally runs.
    await roundTrip(a, b);
    hold.open();
    await until(() => finallyRan && b.activeHandlers === 0);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('a generator that throws mid-stream → the for-await rejects with RemoteError and its code', async () => {
    const [a, b] = cleanup.pair();
    b.onRequest('breaks', async function* () {
      yield 1;
      yield 2;
      throw Object.assign(new Error('disk on fire'), { code: 'E_DISK', data: { at: 2 } });
    });
    const got: unknown[] = [];
    const error = await expectRejection(
      (async () => {
        for await (const item of (await a.request('breaks')) as AsyncIterable<unknown>) got.push(item);
      })(),
      RemoteError,
      'E_DISK',
      'disk on fire',
    );
    expect(got).toEqual([1, 2]);
    expect(error.data).toEqual({ at: 2 });
    await until(() => b.activeHandlers === 0);
  });

  it('an item the codec cannot encode fails the stream with WARREN_CODEC and stops the generator', async () => {
    const [a, b] = cleanup.pair({ codec: 'json' });
    let finallyRan = false;
    b.onRequest('bad', async function* () {
      try {
        yield 'fine';
        yield 10n;
        yield 'never';
      } finally {
        finallyRan = true;
      }
    });
    const got: unknown[] = [];
    await expectRejection(
      (async () => {
        for await (const item of (await a.request('bad')) as AsyncIterable<unknown>) got.push(item);
      })(),
      RemoteError,
      'WARREN_CODEC',
      /json/,
    );
    expect(got).toEqual(['fine']);
    await until(() => b.activeHandlers === 0);
    await until(() => finallyRan, { message: "the generator's finally block ran after its item failed to encode" });
  });

  it('the producer side closing mid-stream fails the consumer with WARREN_PEER_CLOSED', async () => {
    const [a, b] = cleanup.pair({ streamWindow: 4 });
    const { gen } = counter(1_000);
    b.onRequest('cut', () => gen());
    const stream = (await a.request('cut')) as AsyncIterableIterator<unknown>;
    expect(await stream.next()).toEqual({ value: 0, done: false });
    b.destroy();
    const error = await expectRejection(
      (async () => {
        for (;;) if ((await stream.next()).done) return;
      })(),
      PeerClosedError,
      'WARREN_PEER_CLOSED',
    );
    expect(error.message).toMatch(/closed/);
  });

  it('graceful close of the consumer waits for an open stream, and ends as soon as it finished', async () => {
    // A close timeout far beyond the test's: only the stream finishing can end the close.
    const [a, b] = cleanup.pair({ streamWindow: 4, closeTimeout: 1_000_000 });
    const { gen } = counter(20);
    b.onRequest('s', () => gen());
    const stream = (await a.request('s')) as AsyncIterable<number>;
    const closing = track(a.close());
    const items = await collect(stream);
    expect(items).toHaveLength(20);
    await until(() => closing.status === 'fulfilled', { message: 'close() resolved once the stream ended' });
  });

  it('graceful close of the consumer ends once it broke out of a stream', async () => {
    const [a, b] = cleanup.pair({ streamWindow: 4, closeTimeout: 1_000_000 });
    const { state, gen } = counter(1_000_000);
    b.onRequest('s', () => gen());
    const stream = (await a.request('s')) as AsyncIterable<number>;
    const closing = track(a.close());
    for await (const item of stream) if (item === 5) break;
    await until(() => closing.status === 'fulfilled', { message: 'close() resolved once the stream was left' });
    await until(() => state.finallyRan);
  });

  it('graceful close of the consumer ends once a stream failed', async () => {
    const [a, b] = cleanup.pair({ closeTimeout: 1_000_000 });
    b.onRequest('s', async function* () {
      yield 1;
      throw new Error('stop');
    });
    const stream = (await a.request('s')) as AsyncIterable<number>;
    const closing = track(a.close());
    await expect(collect(stream)).rejects.toThrow('stop');
    await until(() => closing.status === 'fulfilled', { message: 'close() resolved once the stream failed' });
  });
});

describe('streams over a Unix socket', () => {
  it('delivers a long stream in order', async () => {
    const { client, server } = await unixPair();
    const { state, gen } = counter(5_000);
    server.onRequest('count', () => gen());
    const items = await collect(await client.request('count'));
    expect(items).toHaveLength(5_000);
    expect(items.every((v, i) => v === i)).toBe(true);
    await until(() => state.finallyRan);
  });

  it('keeps the producer within the window of a slow consumer', async () => {
    const window = 16;
    const { client, server } = await unixPair({ streamWindow: window });
    const { state, gen } = counter(300);
    server.onRequest('fast', () => gen());
    let consumed = 0;
    for await (const _ of (await client.request('fast')) as AsyncIterable<number>) {
      consumed++;
      expect(state.yielded - consumed).toBeLessThanOrEqual(window);
      if (consumed % 10 === 1) {
        await roundTrip(client, server);
        expect(state.yielded - consumed).toBeLessThanOrEqual(window);
      }
    }
    expect(consumed).toBe(300);
  });

  it('break stops the producer across the socket', async () => {
    const { client, server } = await unixPair({ streamWindow: 8 });
    const { state, gen } = counter(1_000_000);
    server.onRequest('endless', () => gen());
    let n = 0;
    for await (const _ of (await client.request('endless')) as AsyncIterable<number>) if (++n === 10) break;
    await until(() => state.finallyRan && server.activeHandlers === 0);
    expect(state.returned).toBe(false);
    expect(state.yielded).toBeLessThan(100);
  });

  it('a generator error crosses the socket as RemoteError', async () => {
    const { client, server } = await unixPair();
    server.onRequest('breaks', async function* () {
      yield 'a';
      throw new Error('plain failure');
    });
    const got: unknown[] = [];
    await expectRejection(
      (async () => {
        for await (const item of (await client.request('breaks')) as AsyncIterable<unknown>) got.push(item);
      })(),
      RemoteError,
      'WARREN_REMOTE_ERROR',
      'plain failure',
    );
    expect(got).toEqual(['a']);
  });
});
