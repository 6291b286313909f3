/**
 * What the NATS tests share: nats-server processes of their own (each on a free port of its own,
 * so a test may stop and restart one without touching the machine's NATS at 4222), service
 * processes served over NATS, socket directories that share one Warren token (as hosts that share
 * NATS must), and the cleanup of all of them after each test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach } from 'vitest';
import { loadOrCreateToken } from '../../src/service/auth.js';
import { ServiceClient } from '../../src/service/client.js';
import type { NatsOptions } from '../../src/service/nats/options.js';
import { ensureSocketDir } from '../../src/service/socket-dir.js';
import { freePort } from '../support/ports.js';
import { until } from '../support/until.js';

export { freePort } from '../support/ports.js';

export const NATS_SERVER_BIN = '/usr/sbin/nats-server';
const FIXTURE = new URL('../fixtures/nats-service.mjs', import.meta.url).pathname;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

export interface NatsServerProcess {
  readonly port: number;
  readonly url: string;
  /** SIGKILLs it and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export function natsFixtures() {
  const processes = new Set<ChildProcess>();
  const dirs: string[] = [];
  const clients: ServiceClient[] = [];
  const connections: NatsConnection[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(connections.splice(0).map((c) => c.close().catch(() => {})));
    for (const proc of processes) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited(proc);
    }
    processes.clear();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A nats-server of this test's own, on a free port (or `port`), listening when this resolves. */
  async function natsServer(port?: number, extraArgs: string[] = []): Promise<NatsServerProcess> {
    port ??= await freePort();
    let proc: ChildProcess | undefined;
    const server: NatsServerProcess = {
      port,
      url: `nats://127.0.0.1:${port}`,
      async kill() {
        if (!proc) return;
        proc.kill('SIGKILL');
        await exited(proc);
        proc = undefined;
      },
      async start() {
        const port = server.port;
        proc = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), ...extraArgs], { stdio: 'ignore' });
        processes.add(proc);
        const started = proc;
        await until(async () => {
          if (started.exitCode !== null) throw new Error(`nats-server exited with ${started.exitCode}`);
          return accepts(port);
        }, `nats-server on port ${port}`);
      },
    };
    await server.start();
    return server;
  }

  /** A socket directory; with `tokenFrom`, holding the same Warren token as that one. */
  async function socketDir(tokenFrom?: string): Promise<string> {
    const base = mkdtempSync(join(tmpdir(), 'warren-nats-'));
    dirs.push(base);
    const dir = join(base, 'run');
    await ensureSocketDir(dir);
    if (tokenFrom !== undefined) copyFileSync(join(tokenFrom, '.auth_token'), join(dir, '.auth_token'));
    await loadOrCreateToken(dir);
    return dir;
  }

  /** A service process (test/fixtures/nats-service.mjs) served on its socket in `dir` and on NATS at `url`. */
  async function serviceProcess(
    dir: string,
    url: string,
    instance = 0,
    name = 'remote',
    env: NodeJS.ProcessEnv = {},
  ): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [FIXTURE], {
      env: {
        ...process.env,
        WARREN_SOCKET_DIR: dir,
        WARREN_INSTANCE: String(instance),
        WARREN_TRANSPORT: 'nats',
        NATS_URL: url,
        TEST_SERVICE_NAME: name,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    processes.add(proc);
    let err = '';
    await new Promise<void>((resolve, reject) => {
      proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
        err += s;
        if (err.includes(' ready on ')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`service exited with ${code} before it was ready: ${err}`)));
    });
    return proc;
  }

  function client(dir: string, url: string, timeoutMs = 10_000, nats: NatsOptions = {}): ServiceClient {
    const c = new ServiceClient({ socketDir: dir, timeoutMs, transport: 'nats', nats: { url, ...nats } });
    clients.push(c);
    return c;
  }

  async function natsConnection(url: string, options: { user?: string; pass?: string; token?: string } = {}): Promise<NatsConnection> {
    const connection = await connect({ servers: url, ...options });
    connections.push(connection);
    return connection;
  }

  return { natsServer, socketDir, serviceProcess, client, natsConnection, processes };
}

/** The `$SRV.PING` replies for `name` gathered within `maxWaitMs` (each instance answers once). */
export async function pingAll(connection: NatsConnection, name: string, maxWaitMs = 200): Promise<Record<string, unknown>[]> {
  const replies: Record<string, unknown>[] = [];
  try {
    const iterator = await connection.requestMany(`$SRV.PING.${name}`, '', { maxWait: maxWaitMs });
    for await (const msg of iterator) {
      if (msg.data.length > 0) replies.push(JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>);
    }
  } catch (error) {
    // No instance subscribed yet: NATS says so at once.
    if (!(error instanceof Error && /no responders/.test(error.message))) throw error;
  }
  return replies;
}

/** Waits until `count` instances of `name` answer on NATS (their subscriptions are made). */
export function untilOnNats(connection: NatsConnection, name: string, count: number): Promise<unknown> {
  return until(async () => (await pingAll(connection, name, 100)).length >= count, `${count} instance(s) of ${name} on NATS`);
}
