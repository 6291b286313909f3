/**
 * Bounded queues: the outbound byte limit against a reader that stopped reading (a real Unix
 * socket whose server side is paused), the handler concurrency limit and its waiting queue,
 * and responses for ids nobody waits for.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CancelledError, RemoteError, TimeoutError, WarrenError } from '../../src/errors.js';
import { Peer } from '../../src/peer/peer.js';
import { memoryStreams } from '../../src/peer/transports/memory.js';
import { BinaryFraming } from '../../src/wire/binary.js';
import { expectRejection, expectThrows, gate, type Outcome, recordingSink, track, turn, until, useCleanup } from './helpers.js';

const cleanup = useCleanup();

/** A Unix socket server that accepts one connection and does not read from it until told. */
async function pausedServer(): Promise<{ path: string; accepted: () => Socket | undefined }> {
  const path = join(cleanup.tmpDir(), 'paused.sock');
  let socket: Socket | undefined;
  const server = createServer({ pauseOnConnect: true }, (s) => {
    socket = cleanup.socket(s);
  });
  cleanup.server(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return { path, accepted: () => socket };
}

async function connect(path: string): Promise<Socket> {
  const socket = cleanup.socket(createConnection(path));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('outbound byte limit', () => {
  it('a reader that stopped reading makes requests fail with WARREN_QUEUE_FULL; memory stays bounded', async () => {
    const { path, accepted } = await pausedServer();
    const socket = await connect(path);
    await until(() => accepted() !== undefined);
    const limit = 64 * 1024;
    const client = cleanup.peer(new Peer(socket, { name: 'client', maxOutboundBytes: limit, timeout: 0 }));
    const payload = Buffer.alloc(4096, 1);
    // One frame: header, method name and msgpack's bin header around the payload.
    const frameMax = payload.length + 64;
    const outcomes: Outcome<unknown>[] = [];
    let queueFull: WarrenError | undefined;
    let maxBuffered = 0;
    for (let i = 0; i < 100_000 && queueFull === undefined; i++) {
      const outcome = track(client.request('store', payload));
      outcomes.push(outcome);
      await turn();
      // Bytes held in this process: the peer's outbox plus the socket's own write buffer.
      const buffered = outboundBytes(client);
      expect(buffered).toBeGreaterThanOrEqual(socket.writableLength);
      expect(buffered).toBeLessThanOrEqual(limit + frameMax);
      maxBuffered = Math.max(maxBuffered, buffered);
      if (outcome.status === 'rejected') queueFull = outcome.error as WarrenError;
    }
    expect(queueFull).toBeDefined();
    expectRejectionOf(queueFull, 'WARREN_QUEUE_FULL', /bytes wait to be written \(limit 65536\); the other side is not reading/);
    // The refusal came because the limit was really reached.
    expect(maxBuffered).toBeGreaterThan(limit);
    expect(socket.writableLength).toBeGreaterThan(0);
    // Every request before the refused one is still waiting, none was dropped.
    const accepted_ = outcomes.slice(0, -1);
    expect(accepted_.every((o) => o.status === 'pending')).toBe(true);
    // Notifications are refused synchronously while the queue is full.
    expectThrows(() => client.notify('log', payload), WarrenError, 'WARREN_QUEUE_FULL');
    await expectRejection(client.request('store', payload), WarrenError, 'WARREN_QUEUE_FULL');

    // The reader comes back: everything queued is answered and new requests go through.
    const server = cleanup.peer(new Peer(accepted() as Socket, { name: 'server' }));
    let stored = 0;
    server.onRequest('store', (p) => {
      stored++;
      return (p as Buffer).length;
    });
    (accepted() as Socket).resume();
    await until(() => accepted_.every((o) => o.status !== 'pending'));
    expect(accepted_.every((o) => o.status === 'fulfilled' && o.value === payload.length)).toBe(true);
    expect(stored).toBe(accepted_.length);
    expect(await client.request('store', payload)).toBe(payload.length);
  });

  it('requests sent in one tick count towards the limit before they are flushed', async () => {
    const { path, accepted } = await pausedServer();
    const socket = await connect(path);
    await until(() => accepted() !== undefined);
    const limit = 4 * 1024;
    const client = cleanup.peer(new Peer(socket, { maxOutboundBytes: limit, timeout: 0 }));
    const payload = Buffer.alloc(1024);
    // Fewer frames than the outbox writes early (16): nothing is written before the next
    // tick, so only the peer's own queue can refuse these.
    const burst = Array.from({ length: 12 }, () => track(client.request('x', payload)));
    const queued = outboundBytes(client);
    await Promise.resolve();
    const refused = burst.filter((o) => o.status === 'rejected');
    const sent = burst.length - refused.length;
    expect(refused.length).toBeGreaterThan(0);
    for (const o of refused) expect((o.error as WarrenError).code).toBe('WARREN_QUEUE_FULL');
    expect(burst.slice(0, sent).every((o) => o.status === 'pending')).toBe(true);
    // All frames are the same size; the last one was accepted while the queue was within the
    // limit, the next refused once it was over: never more than one frame beyond the limit.
    const frame = queued / sent;
    expect(Number.isInteger(frame)).toBe(true);
    expect(frame).toBeGreaterThan(payload.length);
    expect(queued).toBeGreaterThan(limit);
    expect(queued - frame).toBeLessThanOrEqual(limit);
  });
});

describe('handler concurrency limit', () => {
  it('maxConcurrent 2 + maxQueued 3: of a burst of 10, 5 are accepted and 5 refused with WARREN_OVERLOADED', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { maxConcurrent: 2, maxQueued: 3, name: 'b' });
    const started: number[] = [];
    const gates = new Map<number, ReturnType<typeof gate<void>>>();
    b.onRequest('slow', async (n) => {
      started.push(n as number);
      const g = gate();
      gates.set(n as number, g);
      await g.promise;
      return (n as number) * 2;
    });
    const controllers = Array.from({ length: 10 }, () => new AbortController());
    const burst = controllers.map((c, i) => track(a.request('slow', i, { signal: c.signal })));
    await until(() => burst.filter((o) => o.status === 'rejected').length === 5);
    expect(started).toEqual([0, 1]);
    expect(b.activeHandlers).toBe(5);
    for (const o of burst.slice(5)) {
      expect(o.status).toBe('rejected');
      expect(o.error).toBeInstanceOf(RemoteError);
      expect((o.error as RemoteError).code).toBe('WARREN_OVERLOADED');
      expect((o.error as RemoteError).message).toBe('b: 2 requests running and 3 queued; try again later');
    }
    expect(burst.slice(0, 5).every((o) => o.status === 'pending')).toBe(true);

    // A slot frees up: the first queued request runs.
    gates.get(0)?.open();
    await until(() => burst[0]?.status === 'fulfilled');
    expect(burst[0]?.value).toBe(0);
    await until(() => started.length === 3);
    expect(started).toEqual([0, 1, 2]);

    // A queued request that is cancelled is dropped from the queue and never runs.
    controllers[3]?.abort();
    await until(() => burst[3]?.status === 'rejected');
    expect(burst[3]?.error).toBeInstanceOf(CancelledError);
    await until(() => b.activeHandlers === 3);

    gates.get(1)?.open();
    await until(() => started.length === 4);
    expect(started).toEqual([0, 1, 2, 4]);
    gates.get(2)?.open();
    gates.get(4)?.open();
    await until(() => [1, 2, 4].every((i) => burst[i]?.status === 'fulfilled'));
    expect([1, 2, 4].map((i) => burst[i]?.value)).toEqual([2, 4, 8]);
    expect(b.activeHandlers).toBe(0);
    expect(started).not.toContain(3);
    // With room again, requests are accepted.
    const again = a.request('slow', 20);
    await until(() => gates.has(20));
    gates.get(20)?.open();
    expect(await again).toBe(40);
  });

  it('maxQueued 0 refuses everything beyond the running handlers', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { maxConcurrent: 1, maxQueued: 0 });
    const release = gate();
    b.onRequest('slow', async () => {
      await release.promise;
      return 'ok';
    });
    const first = track(a.request('slow'));
    await expectRejection(a.request('slow'), RemoteError, 'WARREN_OVERLOADED', /1 requests running and 0 queued/);
    release.open();
    await until(() => first.status === 'fulfilled');
  });

  it('a queued request whose caller timed out is dropped too', async () => {
    const [a, b] = cleanup.pair({ timeout: 0 }, { maxConcurrent: 1 });
    const release = gate();
    const ran: string[] = [];
    b.onRequest('*', async (_p, ctx) => {
      ran.push(ctx.method);
      await release.promise;
      return ctx.method;
    });
    const running = track(a.request('running'));
    await until(() => b.activeHandlers === 1);
    await expectRejection(a.request('queued', null, { timeout: 20 }), TimeoutError, 'WARREN_TIMEOUT', "'queued'");
    await until(() => b.activeHandlers === 1);
    release.open();
    await until(() => running.status === 'fulfilled');
    expect(await a.request('after')).toBe('after');
    expect(ran).toEqual(['running', 'after']);
  });
});

describe('responses nobody waits for', () => {
  it('are ignored and counted in stats.unknownResponses; the connection goes on', async () => {
    const [raw, s] = memoryStreams();
    const peer = cleanup.peer(new Peer(s, { name: 'peer', timeout: 0 }));
    cleanup.defer(() => raw.destroy());
    const calls: unknown[][] = [];
    const framing = new BinaryFraming({
      sink: recordingSink(calls),
      out: { push: (bytes, start, end) => raw.write(bytes.subarray(start, end)) },
    });
    raw.on('data', (chunk: Buffer) => framing.feed(chunk));
    peer.onRequest('echo', (p) => p);

    // A request of the peer's, so that there is a known id next to the unknown ones.
    const pending = track(peer.request('question', 'q?'));
    await until(() => calls.some((c) => c[0] === 'request'));
    const [, id, method, params] = calls.find((c) => c[0] === 'request') as [string, number, string, unknown];
    expect([method, params]).toEqual(['question', 'q?']);

    framing.writeResponse(id + 1000, 'stray', false);
    framing.writeError(id + 2000, { code: 'E_STRAY', message: 'stray error' });
    framing.writeProgress(id + 3000, 'stray progress');
    framing.writeStreamItem(id + 4000, 'stray item');
    framing.writeStreamEnd(id + 4000);
    await until(() => peer.stats.unknownResponses === 2);
    expect(pending.status).toBe('pending');

    framing.writeResponse(id, 'answer', false);
    await until(() => pending.status !== 'pending');
    expect(pending).toEqual({ status: 'fulfilled', value: 'answer' });
    // A second answer to the same id is now unknown as well.
    framing.writeResponse(id, 'again', false);
    await until(() => peer.stats.unknownResponses === 3);

    // The peer still answers requests.
    framing.writeRequest(77, 'echo', { still: 'alive' });
    await until(() => calls.some((c) => c[0] === 'response'));
    expect(calls.find((c) => c[0] === 'response')).toEqual(['response', 77, { still: 'alive' }, false]);
    expect(peer.closed).toBe(false);
  });

  it('a late answer after a timeout is counted, not delivered', async () => {
    const [raw, s] = memoryStreams();
    const peer = cleanup.peer(new Peer(s, { timeout: 20 }));
    cleanup.defer(() => raw.destroy());
    const calls: unknown[][] = [];
    const framing = new BinaryFraming({
      sink: recordingSink(calls),
      out: { push: (bytes, start, end) => raw.write(bytes.subarray(start, end)) },
    });
    raw.on('data', (chunk: Buffer) => framing.feed(chunk));
    const events: unknown[] = [];
    const pending = peer.request('slow', null, { onProgress: (v) => events.push(v) });
    await expectRejection(pending, TimeoutError, 'WARREN_TIMEOUT', "'slow'");
    const request = calls.find((c) => c[0] === 'request') as [string, number];
    // The timed-out request was cancelled on the wire.
    await until(() => calls.some((c) => c[0] === 'cancel' && c[1] === request[1]));
    framing.writeProgress(request[1], 'late progress');
    framing.writeResponse(request[1], 'late answer', false);
    await until(() => peer.stats.unknownResponses === 1);
    expect(events).toEqual([]);
  });
});

/**
 * The bytes a peer holds for writing (its outbox and the stream's buffer). Read through a
 * private field: the Peer has no public accessor for it yet.
 */
function outboundBytes(peer: Peer): number {
  return (peer as unknown as { outbox: { bufferedBytes: number } }).outbox.bufferedBytes;
}

function expectRejectionOf(error: unknown, code: string, message: RegExp): void {
  expect(error).toBeInstanceOf(WarrenError);
  expect((error as WarrenError).code).toBe(code);
  expect((error as WarrenError).message).toMatch(message);
}
