/**
 * Faults with real processes: peers killed with SIGKILL mid-request (over stdio and over a Unix
 * socket) and servers that break the protocol (bad magic, a 1 GiB frame, a truncated frame).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameTooLargeError, PeerClosedError, ProtocolError, type WarrenError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { type ChildPeer, spawnPeer } from '../../src/peer/transports/child.js';
import { connectUnix } from '../../src/peer/transports/socket.js';
import { isGone, useProcesses } from '../support/processes.js';

const CHILD = fileURLToPath(new URL('../fixtures/child-peer.mjs', import.meta.url));
const UNIX_SERVER = fileURLToPath(new URL('../fixtures/unix-server.mjs', import.meta.url));
const BAD_SERVER = fileURLToPath(new URL('../fixtures/bad-server.mjs', import.meta.url));

const childPeers = new Set<ChildPeer>();
const clients = new Set<Peer>();
const { socketPath, startServer: start } = useProcesses();

afterEach(async () => {
  for (const client of clients) client.destroy();
  clients.clear();
  for (const child of childPeers) {
    if (child.child.exitCode === null && child.child.signalCode === null) child.kill('SIGKILL');
    await child.exited;
    expect(isGone(child.pid as number)).toBe(true);
  }
  childPeers.clear();
});

/** Starts a fixture server process and resolves once it printed its ready line. */
async function startServer(script: string, args: string[]): Promise<ChildProcessWithoutNullStreams> {
  const { proc, line } = await start(script, args);
  expect(line).toMatch(/^ready/);
  return proc;
}

/** Resolves once a 'started' notification arrived for every tag. */
function allStarted(peer: Peer, tags: string[]): Promise<void> {
  const waiting = new Set(tags);
  return new Promise((resolve) => {
    const off = peer.onNotify('started', (params) => {
      waiting.delete((params as { tag: string }).tag);
      if (waiting.size === 0) {
        off();
        resolve();
      }
      return undefined;
    });
  });
}

/**
 * Sends `hang` requests and records how each one fails, and how many had failed by the end of
 * the event-loop turn in which the peer closed: "at once" without a clock (a dead peer's
 * requests fail with the close, never by their 30 s timeout).
 */
function hangMany(peer: Peer, tags: string[]) {
  let settled = 0;
  const settledWithClose = new Promise<number>((resolve) => peer.on('close', () => setImmediate(() => resolve(settled))));
  const results = tags.map((tag) =>
    peer.request('hang', { tag }).then(
      (value) => {
        settled++;
        return { value, error: undefined as WarrenError | undefined };
      },
      (error: unknown) => {
        settled++;
        return { value: undefined, error: error as WarrenError };
      },
    ),
  );
  return { results, settledWithClose };
}

async function expectClosedAtOnce(pending: ReturnType<typeof hangMany>): Promise<void> {
  expect(await pending.settledWithClose).toBe(pending.results.length);
  for (const { error } of await Promise.all(pending.results)) {
    expect(error).toBeInstanceOf(PeerClosedError);
    expect(error?.code).toBe('WARREN_PEER_CLOSED');
  }
}

describe('a peer killed with SIGKILL mid-request', () => {
  it('a child: every pending request rejects with WARREN_PEER_CLOSED at once, with the close', async () => {
    const child = await spawnPeer(process.execPath, [CHILD, '--keep-alive'], { stderr: 'pipe' });
    childPeers.add(child);
    const tags = ['a', 'b', 'c', 'd', 'e'];
    const started = allStarted(child, tags);
    const pending = hangMany(child, tags);
    await started;
    expect(child.pendingCount).toBe(tags.length);

    process.kill(child.pid as number, 'SIGKILL');
    await expectClosedAtOnce(pending);
    expect(child.pendingCount).toBe(0);
    expect(child.closed).toBe(true);
    await expect(child.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('a Unix socket server process: every pending request of its client rejects with WARREN_PEER_CLOSED at once, with the close', async () => {
    const path = socketPath();
    const server = await startServer(UNIX_SERVER, [path]);
    const client = await connectUnix(path);
    clients.add(client);
    await expect(client.request('pid')).resolves.toBe(server.pid);
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));

    const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
    const started = allStarted(client, tags);
    const pending = hangMany(client, tags);
    await started;
    expect(client.pendingCount).toBe(tags.length);

    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => server.once('exit', (c, s) => resolve([c, s])));
    process.kill(server.pid as number, 'SIGKILL');
    await expectClosedAtOnce(pending);
    // A PeerClosedError is the normal way to close: 'close' reports no error.
    await expect(closed).resolves.toBeUndefined();
    await expect(exited).resolves.toEqual([null, 'SIGKILL']);
    const late = await client.request('pid').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(PeerClosedError);
  });
});

describe('a server that breaks the protocol', () => {
  async function connectTo(mode: string): Promise<{ client: Peer; closed: Promise<Error | undefined> }> {
    const path = socketPath();
    await startServer(BAD_SERVER, [path, mode]);
    const client = await connectUnix(path);
    clients.add(client);
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));
    return { client, closed };
  }

  it('bad magic: the client closes with WARREN_PROTOCOL and rejects its pending requests', async () => {
    const { client, closed } = await connectTo('garbage');
    const pending = [1, 2, 3].map((n) => client.request('echo', n).catch((e: unknown) => e));
    const errors = await Promise.all(pending);
    const closeError = await closed;
    expect(closeError).toBeInstanceOf(ProtocolError);
    expect(closeError).toMatchObject({ code: 'WARREN_PROTOCOL', message: 'invalid frame header: bad magic' });
    // The header bytes that failed are kept for diagnosis: "HTTP/1.1 400 Ba".
    expect((closeError as ProtocolError).data).toEqual({ header: Buffer.from('HTTP/1.1 400 Bad').toString('hex') });
    for (const error of errors) {
      expect(error).toBeInstanceOf(ProtocolError);
      expect(error).toMatchObject({ code: 'WARREN_PROTOCOL', message: 'invalid frame header: bad magic' });
    }
    expect(client.closed).toBe(true);
    expect(client.pendingCount).toBe(0);
  });

  it('a header announcing 1 GiB: WARREN_FRAME_TOO_LARGE from the header alone, nothing buffered', async () => {
    const { client, closed } = await connectTo('huge');
    const before = process.memoryUsage().arrayBuffers;
    // The server sends only the header and keeps the socket open: waiting for the payload
    // would hang this request, so the error can only come from the header.
    const error = await client.request('echo', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error).toMatchObject({
      code: 'WARREN_FRAME_TOO_LARGE',
      size: 1024 * 1024 * 1024,
      limit: 16 * 1024 * 1024,
      message: 'frame payload of 1073741824 bytes is over the limit of 16777216 bytes',
    });
    const closeError = await closed;
    expect(closeError).toBe(error);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a truncated frame and then the end of the stream: WARREN_PROTOCOL', async () => {
    const { client, closed } = await connectTo('truncated');
    const error = await client.request('echo', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'WARREN_PROTOCOL', message: 'stream ended inside a frame: 10 of 100 payload bytes received' });
    await expect(closed).resolves.toBe(error);
    expect(client.closed).toBe(true);
  });
});

describe('socket files', () => {
  it('a server killed with SIGKILL leaves its socket file behind', async () => {
    const path = socketPath();
    const server = await startServer(UNIX_SERVER, [path]);
    const exited = new Promise((resolve) => server.once('exit', resolve));
    process.kill(server.pid as number, 'SIGKILL');
    await exited;
    // This is the stale file that listenUnix must clean up (test/process/unix.test.ts).
    expect(existsSync(path)).toBe(true);
  });
});
