/**
 * Unix socket and TCP transports with a real server process: many clients at once, stale and
 * live socket files, and TCP on an ephemeral port.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WarrenError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { connectTcp, connectUnix, listenTcp, listenUnix, type PeerServer } from '../../src/peer/transports/socket.js';
import { useProcesses } from '../support/processes.js';

const UNIX_SERVER = fileURLToPath(new URL('../fixtures/unix-server.mjs', import.meta.url));

const clients = new Set<Peer>();
const servers = new Set<PeerServer>();
const { socketPath: makeSocketPath, startServer: start } = useProcesses();

afterEach(async () => {
  for (const client of clients) client.destroy();
  clients.clear();
  await Promise.all([...servers].map((server) => server.close()));
  servers.clear();
});

function socketPath(): string {
  return makeSocketPath('echo.sock');
}

/** Starts unix-server.mjs on `path` and resolves once it prints its ready line. */
async function startServer(path: string): Promise<ChildProcessWithoutNullStreams> {
  const { proc, line } = await start(UNIX_SERVER, [path]);
  expect(line).toBe(`ready ${proc.pid}\n`);
  return proc;
}

async function connect(path: string): Promise<Peer> {
  const client = await connectUnix(path);
  clients.add(client);
  return client;
}

describe('a Unix socket server process', () => {
  it('answers 50 clients connecting at once, 100 requests each, every answer to its own caller', async () => {
    const path = socketPath();
    const server = await startServer(path);
    const peers = await Promise.all(Array.from({ length: 50 }, () => connect(path)));
    await Promise.all(
      peers.map(async (client, c) => {
        const answers = await Promise.all(Array.from({ length: 100 }, (_, n) => client.request('echo', { c, n, pad: 'x'.repeat(n) })));
        answers.forEach((answer, n) => {
          expect(answer).toEqual({ c, n, pad: 'x'.repeat(n) });
        });
        expect(client.pendingCount).toBe(0);
      }),
    );
    const last = peers[0] as Peer;
    await expect(last.request('pid')).resolves.toBe(server.pid);
    await expect(last.request('served')).resolves.toBe(50 * 100);
  });

  it('listenUnix over a stale socket file left by a server killed with SIGKILL removes it and listens', async () => {
    const path = socketPath();
    const dead = await startServer(path);
    const exited = new Promise((resolve) => dead.once('exit', resolve));
    process.kill(dead.pid as number, 'SIGKILL');
    await exited;
    expect(existsSync(path)).toBe(true);
    // Nothing listens there any more.
    const refused = await connectUnix(path).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WarrenError);
    expect((refused as WarrenError).message).toContain('ECONNREFUSED');

    const server = await listenUnix(path, (peer) => {
      peer.onRequest('pid', () => process.pid);
    });
    servers.add(server);
    const client = await connect(path);
    await expect(client.request('pid')).resolves.toBe(process.pid);
  });

  it('listenUnix over a path where a live server listens fails naming the path and leaves that server working', async () => {
    const path = socketPath();
    const live = await startServer(path);
    const before = await connect(path);

    const error = await listenUnix(path, () => {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('WARREN_INVALID_ARGUMENT');
    expect((error as WarrenError).message).toContain(path);
    expect((error as WarrenError).message).toMatch(/live server/);
    expect(((error as WarrenError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');

    // The socket file is still the live server's: the old connection and a new one reach it.
    expect(existsSync(path)).toBe(true);
    await expect(before.request('echo', 'still here')).resolves.toBe('still here');
    const after = await connect(path);
    await expect(after.request('pid')).resolves.toBe(live.pid);
  });

  it('listenUnix with removeStale: false does not touch a stale socket file', async () => {
    const path = socketPath();
    const dead = await startServer(path);
    const exited = new Promise((resolve) => dead.once('exit', resolve));
    process.kill(dead.pid as number, 'SIGKILL');
    await exited;
    const error = await listenUnix(path, () => {}, { removeStale: false }).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(existsSync(path)).toBe(true);
  });
});

describe('TCP', () => {
  it('listenTcp on 127.0.0.1 port 0 picks a port that connectTcp reaches, with requests both ways', async () => {
    const server = await listenTcp(0, '127.0.0.1', (peer) => {
      peer.onRequest('double', (n) => (n as number) * 2);
      peer.onRequest('askBack', async () => `client is ${await peer.request('name')}`);
    });
    servers.add(server);
    expect(server.port).toBeGreaterThan(0);
    expect(server.server.address()).toMatchObject({ address: '127.0.0.1', port: server.port });

    const client = await connectTcp(server.port);
    clients.add(client);
    client.onRequest('name', () => 'tcp-client');
    await expect(client.request('double', 21)).resolves.toBe(42);
    await expect(client.request('askBack')).resolves.toBe('client is tcp-client');
    expect(server.peers.size).toBe(1);

    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request('double', i)));
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));

    // Closing the server closes its peers; the client sees the stream end.
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));
    await server.close();
    await expect(closed).resolves.toBeUndefined();
    expect(client.closed).toBe(true);
  });

  it('connectTcp to a port where nothing listens rejects with WARREN_PEER_CLOSED naming the address', async () => {
    // Take a free port, then stop listening on it.
    const probe = await listenTcp(0, '127.0.0.1', () => {});
    const port = probe.port;
    await probe.close();
    const error = await connectTcp(port).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('WARREN_PEER_CLOSED');
    expect((error as WarrenError).message).toContain(`127.0.0.1:${port}`);
    expect((error as WarrenError).message).toContain('ECONNREFUSED');
  });
});
