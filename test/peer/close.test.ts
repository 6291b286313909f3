/**
 * Closing: the other side going away, graceful close(), close with a timeout, destroy(),
 * idempotence, the 'close' event, and using a peer that is closed or whose stream is gone.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CancelledError, PeerClosedError, ProtocolError, RemoteError, type WarrenError } from '../../src/errors.js';
import { Peer } from '../../src/peer/peer.js';
import { memoryStreams } from '../../src/peer/transports/memory.js';
import { connectUnix, listenUnix } from '../../src/peer/transports/socket.js';
import { expectRejection, expectThrows, gate, track, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

/** Two peers on memory streams, with the streams at hand. */
function streamPair(options: ConstructorParameters<typeof Peer>[1] = {}, otherOptions = options) {
  const [sa, sb] = memoryStreams();
  const a = cleanup.peer(new Peer(sa, { name: 'a', ...options }));
  const b = cleanup.peer(new Peer(sb, { name: 'b', ...otherOptions }));
  const closes = { a: [] as unknown[], b: [] as unknown[] };
  a.on('close', (e) => closes.a.push(e));
  b.on('close', (e) => closes.b.push(e));
  return { a, b, sa, sb, closes };
}

describe('the other side going away', () => {
  it('its stream being destroyed rejects every pending request at once with WARREN_PEER_CLOSED', async () => {
    const { a, b, sb, closes } = streamPair({ timeout: 0 });
    b.onRequest('hang', () => new Promise(() => {}));
    const pending = Array.from({ length: 5 }, (_, i) => track(a.request('hang', i)));
    await until(() => b.activeHandlers === 5);
    sb.destroy();
    await until(() => pending.every((p) => p.status !== 'pending'));
    for (const p of pending) {
      expect(p.status).toBe('rejected');
      const e = p.error as PeerClosedError;
      expect(e).toBeInstanceOf(PeerClosedError);
      expect(e.code).toBe('WARREN_PEER_CLOSED');
      expect(e.message).toMatch(/^a: (the other side closed the stream|stream closed)$/);
    }
    expect(a.closed).toBe(true);
    expect(a.pendingCount).toBe(0);
    expect(closes.a).toEqual([undefined]);
  });

  it('the other peer being destroyed does the same, and its handlers are aborted', async () => {
    const { a, b, closes } = streamPair({ timeout: 0 });
    const reasons: unknown[] = [];
    b.onRequest('hang', (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason));
      return new Promise(() => {});
    });
    const pending = [track(a.request('hang')), track(a.request('hang'))];
    await until(() => b.activeHandlers === 2);
    b.destroy();
    expect(reasons).toHaveLength(2);
    for (const r of reasons) expect((r as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    await until(() => pending.every((p) => p.status === 'rejected'));
    for (const p of pending) expect((p.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    expect(closes).toEqual({ a: [undefined], b: [undefined] });
  });
});

describe('close()', () => {
  it('is graceful: new requests refused at once, pending ones answered, then the stream ends', async () => {
    const { a, b, sa, closes } = streamPair({ timeout: 0, closeTimeout: 1_000_000 });
    const release = gate();
    b.onRequest('work', async (n) => {
      await release.promise;
      return (n as number) * 10;
    });
    const pending = [1, 2, 3].map((n) => track(a.request('work', n)));
    await until(() => b.activeHandlers === 3);
    const closing = track(a.close());
    expect(a.closed).toBe(true);
    await expectRejection(a.request('work', 4), PeerClosedError, 'WARREN_PEER_CLOSED', 'a: closing, no new requests accepted');
    expect(b.stats.requestsReceived).toBe(3);
    expect(closing.status).toBe('pending');
    expect(sa.writableEnded).toBe(false);
    release.open();
    await until(() => closing.status === 'fulfilled');
    expect(pending.map((p) => p.value)).toEqual([10, 20, 30]);
    expect(sa.writableEnded || sa.destroyed).toBe(true);
    // The other side sees the end of the stream and closes too.
    await until(() => b.closed);
    expect(closes).toEqual({ a: [undefined], b: [undefined] });
  });

  it('on the answering side lets running handlers answer before the stream ends', async () => {
    const { a, b } = streamPair({ timeout: 0, closeTimeout: 1_000_000 });
    const release = gate();
    b.onRequest('work', async () => {
      await release.promise;
      return 'answered';
    });
    const pending = track(a.request('work'));
    await until(() => b.activeHandlers === 1);
    const closing = track(b.close());
    release.open();
    await until(() => closing.status === 'fulfilled' && pending.status !== 'pending');
    expect(pending).toEqual({ status: 'fulfilled', value: 'answered' });
    await until(() => a.closed);
  });

  it('with a timeout resolves although a handler never returns; the pending request then fails', async () => {
    const { a, b } = streamPair({ timeout: 0 });
    let aborted: unknown;
    b.onRequest('never', (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => {
        aborted = ctx.signal.reason;
      });
      return new Promise(() => {});
    });
    const pending = track(a.request('never'));
    await until(() => b.activeHandlers === 1);
    await b.close({ timeout: 20 });
    expect(b.closed).toBe(true);
    expect((aborted as WarrenError).code).toBe('WARREN_PEER_CLOSED');
    await until(() => pending.status === 'rejected');
    expect((pending.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
  });

  it('on the calling side with a timeout rejects what is still pending with WARREN_PEER_CLOSED', async () => {
    const { a, b } = streamPair({ timeout: 0, closeTimeout: 20 });
    b.onRequest('never', () => new Promise(() => {}));
    const pending = track(a.request('never'));
    await until(() => b.activeHandlers === 1);
    await a.close(); // the closeTimeout option applies
    expect(pending.status).toBe('rejected');
    expectPeerClosed(pending.error, 'WARREN_PEER_CLOSED');
  });

  it('with nothing pending resolves at once', async () => {
    const { a, b, closes } = streamPair({ closeTimeout: 1_000_000 });
    await a.close();
    expect(a.closed).toBe(true);
    await until(() => b.closed);
    expect(closes).toEqual({ a: [undefined], b: [undefined] });
  });

  it('is idempotent: calling it twice returns the same promise; the close event fires once', async () => {
    const { a, b, closes } = streamPair({ timeout: 0, closeTimeout: 1_000_000 });
    const release = gate<string>();
    b.onRequest('w', () => release.promise);
    const pending = track(a.request('w'));
    await until(() => b.activeHandlers === 1);
    const first = a.close();
    const second = a.close({ timeout: 1 });
    expect(second).toBe(first);
    release.open('done');
    await first;
    expect(pending).toEqual({ status: 'fulfilled', value: 'done' });
    await a.close();
    a.destroy();
    await until(() => b.closed);
    expect(closes.a).toEqual([undefined]);
    expect(closes.b).toEqual([undefined]);
  });

  it('a destroy() during a graceful close ends it at once', async () => {
    const { a, b } = streamPair({ timeout: 0, closeTimeout: 1_000_000 });
    b.onRequest('never', () => new Promise(() => {}));
    const pending = track(a.request('never'));
    await until(() => b.activeHandlers === 1);
    const closing = track(a.close());
    a.destroy();
    await until(() => closing.status === 'fulfilled' && pending.status === 'rejected');
    expect((pending.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
  });

  it('over a Unix socket delivers a large pending response before ending', async () => {
    const dir = cleanup.tmpDir();
    const path = join(dir, 'close.sock');
    let serverPeer: Peer | undefined;
    const release = gate();
    const big = Buffer.alloc(8 * 1024 * 1024, 0x5a);
    cleanup.peerServer(
      await listenUnix(path, (peer) => {
        serverPeer = peer;
        peer.onRequest('big', async () => {
          await release.promise;
          return big;
        });
      }),
    );
    const client = cleanup.peer(await connectUnix(path, { timeout: 0 }));
    const pending = track(client.request('big'));
    await until(() => serverPeer?.activeHandlers === 1);
    const closing = track((serverPeer as Peer).close({ timeout: 1_000_000 }));
    release.open();
    await until(() => pending.status !== 'pending' && closing.status !== 'pending');
    expect(pending.error).toBeUndefined();
    expect(pending.status).toBe('fulfilled');
    expect((pending.value as Buffer).length).toBe(big.length);
    expect((pending.value as Buffer).equals(big)).toBe(true);
    await until(() => client.closed);
  });
});

describe('destroy()', () => {
  it('rejects everything at once with WARREN_PEER_CLOSED and reports a foreign error on close', async () => {
    const { a, b, closes } = streamPair({ timeout: 0 });
    b.onRequest('never', () => new Promise(() => {}));
    const pending = [track(a.request('never')), track(a.request('never'))];
    await until(() => b.activeHandlers === 2);
    const boom = new Error('boom');
    a.destroy(boom);
    expect(a.closed).toBe(true);
    expect(a.pendingCount).toBe(0);
    await Promise.resolve();
    for (const p of pending) {
      expect(p.status).toBe('rejected');
      const e = p.error as PeerClosedError;
      expect(e).toBeInstanceOf(PeerClosedError);
      expect(e.code).toBe('WARREN_PEER_CLOSED');
      expect(e.message).toBe('a: destroyed: boom');
      expect(e.cause).toBe(boom);
    }
    expect(closes.a).toEqual([boom]);
    a.destroy(new Error('second'));
    a.destroy();
    expect(closes.a).toEqual([boom]);
    await until(() => b.closed);
    expect(closes.b).toEqual([undefined]);
  });

  it('with a Warren error rejects pending requests with that very error', async () => {
    const { a, b, closes } = streamPair({ timeout: 0 });
    b.onRequest('never', () => new Promise(() => {}));
    const pending = track(a.request('never'));
    await until(() => b.activeHandlers === 1);
    const reason = new ProtocolError('garbage on the wire');
    a.destroy(reason);
    await Promise.resolve();
    expect(pending).toEqual({ status: 'rejected', error: reason });
    expect(closes.a).toEqual([reason]);
  });

  it('after destroy, close() resolves at once', async () => {
    const { a } = streamPair();
    a.destroy();
    await a.close();
    expect(a.closed).toBe(true);
  });
});

describe('using a closed peer', () => {
  it('request rejects and notify throws synchronously with WARREN_PEER_CLOSED', async () => {
    const { a } = streamPair();
    const boom = new Error('went away');
    a.destroy(boom);
    const error = await expectRejection(a.request('x'), PeerClosedError, 'WARREN_PEER_CLOSED', 'a: closed');
    expect(error.cause).toBe(boom);
    expectThrows(() => a.notify('n', 1), PeerClosedError, 'WARREN_PEER_CLOSED', 'a: closed');
    expect(a.stats.requestsSent).toBe(0);
    expect(a.stats.notificationsSent).toBe(0);
  });

  it('after a graceful close, request and notify fail the same way', async () => {
    const { a } = streamPair();
    await a.close();
    await expectRejection(a.request('x'), PeerClosedError, 'WARREN_PEER_CLOSED');
    expectThrows(() => a.notify('n'), PeerClosedError, 'WARREN_PEER_CLOSED');
  });

  it('a request made in the same tick as its stream is destroyed rejects instead of hanging', async () => {
    const { a, sa } = streamPair({ timeout: 0 });
    sa.destroy();
    const pending = track(a.request('x'));
    let notifyError: unknown;
    try {
      a.notify('n', 1);
    } catch (error) {
      notifyError = error;
    }
    await until(() => pending.status !== 'pending');
    expect(pending.status).toBe('rejected');
    expect((pending.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    // The notify either went nowhere (the stream was gone) or was refused; it did not throw anything else.
    if (notifyError !== undefined) expect((notifyError as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
  });

  it('a handler finishing after its peer closed sends nothing and throws nothing', async () => {
    const { a, b } = streamPair({ timeout: 0 });
    const release = gate();
    let finished = false;
    b.onRequest('late', async (_p, ctx) => {
      await release.promise;
      ctx.progress('into the void');
      finished = true;
      return 'nobody listens';
    });
    b.onRequest('late.error', async () => {
      await release.promise;
      throw new Error('nobody listens either');
    });
    const pending = [track(a.request('late')), track(a.request('late.error'))];
    await until(() => b.activeHandlers === 2);
    b.destroy();
    release.open();
    await until(() => finished && pending.every((p) => p.status === 'rejected'));
    expect(b.activeHandlers).toBe(0);
  });

  it('aborting a request after its peer was destroyed changes nothing: it already failed with WARREN_PEER_CLOSED', async () => {
    const { a, b } = streamPair({ timeout: 0 });
    b.onRequest('never', () => new Promise(() => {}));
    const controller = new AbortController();
    const pending = track(a.request('never', null, { signal: controller.signal }));
    await until(() => b.activeHandlers === 1);
    a.destroy();
    controller.abort();
    await Promise.resolve();
    expect((pending.error as WarrenError).code).toBe('WARREN_PEER_CLOSED');
    expect(pending.error).not.toBeInstanceOf(CancelledError);
    expect(pending.error).not.toBeInstanceOf(RemoteError);
  });
});

function expectPeerClosed(error: unknown, code: string): void {
  expect(error).toBeInstanceOf(PeerClosedError);
  expect((error as PeerClosedError).code).toBe(code);
  expect((error as PeerClosedError).message).toMatch(/closed/);
}
