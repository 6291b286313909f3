/**
 * Connections that have not said hello cannot hold an instance's memory: before the hello only
 * small frames are read (a larger one closes the connection from its header, before its payload
 * arrives), a connection silent past the hello deadline is closed, and connections over the cap
 * are refused with WARREN_OVERLOADED while those under it go on. A real instance process.
 */

import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix } from '../../src/peer/transports/socket.js';
import { readToken } from '../../src/service/auth.js';
import { decodeReply, encodeCall } from '../../src/service/call-format.js';
import { ServiceClient } from '../../src/service/client.js';
import { SERVICE_METHODS } from '../../src/service/server.js';
import { FrameType, HEADER_SIZE, writeHeader } from '../../src/wire/header.js';
import { useProcesses } from '../support/processes.js';

const LIMITS = fileURLToPath(new URL('../fixtures/service-limits.mjs', import.meta.url));
const { socketPath, startServer } = useProcesses();
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function start(options: object): Promise<{ dir: string; path: string }> {
  const dir = join(socketPath('unused'), '..', 'run');
  await startServer(LIMITS, [dir, JSON.stringify(options)]);
  return { dir, path: join(dir, 'limited.0.sock') };
}

/** A plain socket connected to `path` (no hello). */
function rawConnection(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    closers.push(() => socket.destroy());
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with how long (ms) the other side took to close `socket`. */
function closedWithin(socket: Socket): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => resolve(Date.now() - started));
  });
}

async function hello(path: string, dir: string): Promise<Peer> {
  const peer = await connectUnix(path);
  closers.push(() => peer.destroy());
  await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir), client: 'test' });
  return peer;
}

describe('connections before their hello', () => {
  it('a frame over the pre-hello limit closes the connection from its header, without waiting for its payload', async () => {
    const { path } = await start({ maxPreHelloFrameBytes: 4096, helloTimeoutMs: 60_000 });
    const socket = await rawConnection(path);
    const closed = closedWithin(socket);
    // A request header announcing 8 MiB, and only the first bytes of it: the instance must not wait for (or buffer) the rest.
    const header = Buffer.alloc(HEADER_SIZE);
    writeHeader(header, 0, FrameType.REQUEST, 1, 0, 1, 8 * 1024 * 1024);
    socket.write(Buffer.concat([header, Buffer.alloc(1024)]));
    await closed;
  });

  it('the hello passes the gate, and after it large frames are allowed again', async () => {
    const { path, dir } = await start({ maxPreHelloFrameBytes: 4096 });
    const peer = await hello(path, dir);
    const big = 'x'.repeat(1024 * 1024);
    const reply = decodeReply(await peer.request(SERVICE_METHODS.call, encodeCall('POST', '/echo', big)));
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ length: big.length });
  });

  it('a connection that says nothing is closed after helloTimeoutMs', async () => {
    const { path, dir } = await start({ helloTimeoutMs: 300 });
    // Timed from before the connect: the instance's deadline starts at its accept, which comes later.
    const started = Date.now();
    const socket = await rawConnection(path);
    await closedWithin(socket);
    expect(Date.now() - started).toBeGreaterThanOrEqual(299);
    // One that said hello in time stays open past the deadline and is served.
    const peer = await hello(path, dir);
    const silent = await rawConnection(path);
    await closedWithin(silent);
    expect(peer.closed).toBe(false);
    const reply = decodeReply(await peer.request(SERVICE_METHODS.call, encodeCall('GET', '/pid')));
    expect(reply.status).toBe(200);
  });
});

describe('the connection cap (maxConnections)', () => {
  it('refuses the excess with WARREN_OVERLOADED and closes it; once one closes, a new connection works', async () => {
    const { path, dir } = await start({ maxConnections: 3 });
    const held = [await hello(path, dir), await hello(path, dir), await hello(path, dir)];
    const excess = await connectUnix(path);
    closers.push(() => excess.destroy());
    const closed = new Promise<void>((resolve) => excess.on('close', () => resolve()));
    const error = (await excess.request(SERVICE_METHODS.hello, { token: await readToken(dir) }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message?: string };
    expect(error.code).toBe('WARREN_OVERLOADED');
    expect(error.message).toContain('maxConnections');
    await closed;
    // Those under the cap go on.
    for (const peer of held) {
      expect(decodeReply(await peer.request(SERVICE_METHODS.call, encodeCall('GET', '/pid'))).status).toBe(200);
    }
    // One closes: there is room again, and a client gets in.
    const gone = new Promise<void>((resolve) => held[0]?.on('close', () => resolve()));
    held[0]?.destroy();
    await gone;
    const client = new ServiceClient({ socketDir: dir, timeout: 10_000 });
    closers.push(() => client.close());
    let response = await client
      .service('limited')
      .get('/pid')
      .catch((e: unknown) => e as Error);
    // The server may not have seen the closed connection yet when the client connects: bounded retries.
    for (let i = 0; i < 50 && response instanceof Error; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      response = await client
        .service('limited')
        .get('/pid')
        .catch((e: unknown) => e as Error);
    }
    expect(response).toMatchObject({ status: 200 });
  });
});
