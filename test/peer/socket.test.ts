/**
 * Peers over a real Unix domain socket: many concurrent requests on one connection, both
 * directions at once, several clients, and the server's graceful close.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PeerClosedError, RemoteError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix, listenUnix } from '../../src/peer/transports/socket.js';
import { expectRejection, gate, track, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

async function serve(onPeer: (peer: Peer) => void) {
  const path = join(cleanup.tmpDir(), 'warren.sock');
  const server = cleanup.peerServer(await listenUnix(path, onPeer));
  return { path, server };
}

describe('over a Unix socket', () => {
  it('10,000 concurrent requests on one connection each get their own answer', async () => {
    const { path } = await serve((peer) => {
      peer.onRequest('math.square', async (p) => {
        const { i, tag } = p as { i: number; tag: string };
        // Answer out of order: every third one waits for a later turn.
        if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        return { i, square: i * i, tag };
      });
    });
    const client = cleanup.peer(await connectUnix(path, { timeout: 0 }));
    const count = 10_000;
    const results = await Promise.all(
      Array.from(
        { length: count },
        (_, i) => client.request('math.square', { i, tag: `t${i}` }) as Promise<{ i: number; square: number; tag: string }>,
      ),
    );
    expect(results).toHaveLength(count);
    for (let i = 0; i < count; i++) {
      const r = results[i];
      if (r?.i !== i || r.square !== i * i || r.tag !== `t${i}`) {
        throw new Error(`request ${i} got ${JSON.stringify(r)}`);
      }
    }
    expect(client.pendingCount).toBe(0);
    expect(client.stats.requestsSent).toBe(count);
    expect(client.stats.unknownResponses).toBe(0);
  });

  it('both sides call each other at the same time, with notifications both ways', async () => {
    const notes: unknown[] = [];
    let serverPeer: Peer | undefined;
    const { path } = await serve((peer) => {
      serverPeer = peer;
      peer.onRequest('server.echo', (p) => ({ server: p }));
      peer.onNotify('hello', (p) => {
        notes.push(['at server', p]);
        peer.notify('hello.back', p);
      });
    });
    const client = cleanup.peer(await connectUnix(path, { timeout: 0 }));
    client.onRequest('client.echo', (p) => ({ client: p }));
    client.onNotify('hello.back', (p) => {
      notes.push(['at client', p]);
    });
    await until(() => serverPeer !== undefined);
    const server = serverPeer as Peer;
    const both = await Promise.all([
      ...Array.from({ length: 200 }, (_, i) => client.request('server.echo', i)),
      ...Array.from({ length: 200 }, (_, i) => server.request('client.echo', i)),
    ]);
    expect(both.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => ({ server: i })));
    expect(both.slice(200)).toEqual(Array.from({ length: 200 }, (_, i) => ({ client: i })));
    client.notify('hello', 'world');
    await until(() => notes.length === 2);
    expect(notes).toEqual([
      ['at server', 'world'],
      ['at client', 'world'],
    ]);
  });

  it('serves several clients, each getting its own answers and errors', async () => {
    const { path, server } = await serve((peer) => {
      peer.onRequest('whoami', (p) => `you are ${p}`);
      peer.onRequest('fail', () => {
        throw Object.assign(new Error('refused'), { code: 'E_REFUSED', data: { why: 'test' } });
      });
    });
    const clients = await Promise.all([1, 2, 3].map(() => connectUnix(path)));
    for (const c of clients) cleanup.peer(c);
    await until(() => server.peers.size === 3);
    expect(await Promise.all(clients.map((c, i) => c.request('whoami', `client ${i}`)))).toEqual([
      'you are client 0',
      'you are client 1',
      'you are client 2',
    ]);
    const error = await expectRejection(clients[1]?.request('fail') as Promise<unknown>, RemoteError, 'E_REFUSED', 'refused');
    expect(error.data).toEqual({ why: 'test' });
    // A client going away leaves the server's other connections alone.
    clients[0]?.destroy();
    await until(() => server.peers.size === 2);
    expect(await clients[2]?.request('whoami', 'still here')).toBe('you are still here');
  });

  it('the client dying rejects nothing on the server but aborts its handlers', async () => {
    let aborted: unknown;
    const { path, server } = await serve((peer) => {
      peer.onRequest('hang', (_p, ctx) => {
        ctx.signal.addEventListener('abort', () => {
          aborted = ctx.signal.reason;
        });
        return new Promise(() => {});
      });
    });
    const client = cleanup.peer(await connectUnix(path, { timeout: 0 }));
    const pending = track(client.request('hang'));
    await until(() => [...server.peers].some((p) => p.activeHandlers === 1));
    client.destroy();
    await until(() => aborted !== undefined && server.peers.size === 0);
    expect((aborted as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    expect((pending.error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
  });

  it("the server's close() answers in-flight requests, then the client sees the end", async () => {
    const release = gate();
    const { path, server } = await serve((peer) => {
      peer.onRequest('slow', async (p) => {
        await release.promise;
        return p;
      });
    });
    const client = cleanup.peer(await connectUnix(path, { timeout: 0 }));
    const closes: unknown[] = [];
    client.on('close', (e) => closes.push(e));
    const pending = [1, 2, 3].map((i) => track(client.request('slow', i)));
    await until(() => [...server.peers].some((p) => p.activeHandlers === 3));
    const closing = track(server.close());
    release.open();
    await until(() => closing.status === 'fulfilled' && client.closed);
    expect(pending.map((p) => p.value)).toEqual([1, 2, 3]);
    expect(closes).toEqual([undefined]);
    await expectRejection(client.request('slow', 4), PeerClosedError, 'WARREN_PEER_CLOSED');
  });
});

describe('socket file permissions', () => {
  it('creates the socket 0600 by default, or with the mode asked for', async () => {
    const { statSync } = await import('node:fs');
    const dir = cleanup.tmpDir();
    const privatePath = join(dir, 'private.sock');
    cleanup.peerServer(await listenUnix(privatePath, () => {}));
    expect(statSync(privatePath).mode & 0o777).toBe(0o600);
    const groupPath = join(dir, 'group.sock');
    cleanup.peerServer(await listenUnix(groupPath, () => {}, { socketMode: 0o660 }));
    expect(statSync(groupPath).mode & 0o777).toBe(0o660);
  });
  it('an error after listening (accept EMFILE) goes to onError and the server goes on serving', async () => {
    const path = join(cleanup.tmpDir(), 'errors.sock');
    const seen: string[] = [];
    const server = cleanup.peerServer(
      await listenUnix(path, (peer) => peer.onRequest('ping', () => 'pong'), { onError: (e) => seen.push(e.code ?? '') }),
    );
    server.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    expect(seen).toEqual(['EMFILE']);
    const client = cleanup.peer(await connectUnix(path));
    expect(await client.request('ping')).toBe('pong');
  });

  it('maxConnections hands the connection after the cap to onExcess, and room frees up again', async () => {
    const path = join(cleanup.tmpDir(), 'cap.sock');
    let excess = 0;
    const server = cleanup.peerServer(
      await listenUnix(path, (peer) => peer.onRequest('ping', () => 'pong'), {
        maxConnections: 1,
        onExcess: (peer) => {
          excess++;
          peer.destroy();
        },
      }),
    );
    const first = await connectUnix(path);
    expect(await first.request('ping')).toBe('pong');
    const second = cleanup.peer(await connectUnix(path));
    await expectRejection(second.request('ping'), PeerClosedError, 'WARREN_PEER_CLOSED');
    expect(excess).toBe(1);
    await first.close();
    // The server sees the first connection end a moment after the client closed it.
    await until(() => server.peers.size === 0);
    const third = cleanup.peer(await connectUnix(path));
    expect(await third.request('ping')).toBe('pong');
    expect(excess).toBe(1);
  });
});
