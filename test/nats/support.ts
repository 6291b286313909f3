/**
 * What the NATS tests share: nats-server processes of their own (each on a free port of its own,
 * so a test may stop and restart one without touching the machine's NATS at 4222), service
 * processes served over NATS, socket directories that share one Warren token (as hosts that share
 * NATS must), and the cleanup of all of them after each test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { afterEach } from 'vitest';
import { loadOrCreateToken } from '../../src/service/auth.js';
import { ServiceClient } from '../../src/service/client.js';
import type { NatsOptions } from '../../src/service/nats/options.js';
import { ensureSocketDir } from '../../src/service/socket-dir.js';
import { freePort } from '../support/ports.js';
import { isGone } from '../support/processes.js';
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

  /** A NATS connection with any options of the NATS client (TLS, an nkey authenticator…), closed after the test. */
  async function natsConnectionWith(options: NodeConnectionOptions): Promise<NatsConnection> {
    const connection = await connect(options);
    connections.push(connection);
    return connection;
  }

  /** A temporary directory of this test's own (for config files, keys, certificates), removed after it. */
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'warren-nats-files-'));
    dirs.push(dir);
    return dir;
  }

  /**
   * A service process of any fixture (`entry`), as serviceProcess but with its stderr kept: `stderr()`
   * is everything it wrote so far.
   */
  async function serviceProcessWithLog(
    entry: string,
    dir: string,
    url: string,
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ proc: ChildProcess; stderr: () => string }> {
    const proc = spawn(process.execPath, [entry], {
      env: { ...process.env, WARREN_SOCKET_DIR: dir, WARREN_INSTANCE: '0', WARREN_TRANSPORT: 'nats', NATS_URL: url, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    processes.add(proc);
    let err = '';
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (err.includes(' ready on ')) {
          proc.stderr?.off('data', onData);
          resolve();
        }
      };
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`service exited with ${code} before it was ready: ${err}`)));
    });
    return { proc, stderr: () => err };
  }

  return {
    natsServer,
    socketDir,
    serviceProcess,
    client,
    natsConnection,
    processes,
    natsConnectionWith,
    tempDir,
    serviceProcessWithLog,
  };
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

/**
 * Two "hosts" for the tests that need them apart (test/nats/netns.test.ts): each its own network
 * namespace (`warren-a-<pid>`, `warren-b-<pid>`), joined by one veth pair (`wva-<pid>` in A with
 * 10.231.<n>.1/24, `wvb-<pid>` in B with 10.231.<n>.2/24) and each with its loopback up; nothing
 * else, so no address but those two and loopback can be reached from them. Where namespaces
 * cannot be made, both hosts are this machine as it is (`netns` undefined, address 127.0.0.1).
 */
export interface TestHost {
  readonly label: 'A' | 'B';
  /** The network namespace the host's processes run in; undefined in the one-host fallback. */
  readonly netns: string | undefined;
  /** The host's address for the other one (10.231.<n>.1 or .2), or 127.0.0.1 in the fallback. */
  readonly address: string;
  /** The command and arguments that run `command ...args` on this host. */
  argv(command: string, args: string[]): [string, string[]];
}

export interface TwoHosts {
  readonly a: TestHost;
  readonly b: TestHost;
  /** True when A and B are network namespaces of their own. */
  readonly isolated: boolean;
  /** SIGKILLs every process left in the namespaces, waits for them to be gone, then deletes them and their veths. Idempotent. */
  remove(): Promise<void>;
}

const NETNS_OFF_ENV = 'WARREN_TEST_NO_NETNS';

function ip(args: string[]): { ok: boolean; out: string } {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() };
}

/**
 * Why the two hosts cannot be network namespaces here (WARREN_TEST_NO_NETNS=1, not root, no `ip`,
 * or `ip netns add` refused), or undefined when they can. Synchronous, so a test name can say it.
 */
export function netnsUnavailableReason(): string | undefined {
  if (process.env[NETNS_OFF_ENV] === '1') return `${NETNS_OFF_ENV}=1 forces the one-host fallback`;
  if (process.platform !== 'linux') return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `warren-probe-${process.pid}`;
  const added = ip(['netns', 'add', probe]);
  if (!added.ok) return `\`ip netns add\` failed: ${added.out || 'no output'}`;
  ip(['netns', 'del', probe]);
  const veth = ip(['link', 'add', `wvp-${process.pid}`, 'type', 'veth', 'peer', 'name', `wvq-${process.pid}`]);
  if (!veth.ok) return `\`ip link add … type veth\` failed: ${veth.out || 'no output'}`;
  ip(['link', 'del', `wvp-${process.pid}`]);
  return undefined;
}

/** Makes the two hosts: network namespaces when `isolated`, else the one-host fallback. Undone by remove() on every path. */
export async function twoHosts(isolated: boolean): Promise<TwoHosts> {
  const here = (label: 'A' | 'B'): TestHost => ({ label, netns: undefined, address: '127.0.0.1', argv: (c, a) => [c, a] });
  if (!isolated) return { a: here('A'), b: here('B'), isolated: false, remove: async () => {} };

  const id = process.pid;
  const subnet = `10.231.${(id % 254) + 1}`;
  const spaces = [`warren-a-${id}`, `warren-b-${id}`] as const;
  const veths = [`wva-${id}`, `wvb-${id}`] as const;
  const host = (label: 'A' | 'B', i: 0 | 1): TestHost => ({
    label,
    netns: spaces[i],
    address: `${subnet}.${i + 1}`,
    argv: (command, args) => ['ip', ['netns', 'exec', spaces[i], command, ...args]],
  });
  const remove = async () => {
    for (const space of spaces) {
      // What still runs there is this test's (started in it by the test, or by those): gone first,
      // or the namespace would live on with them.
      const pids = ip(['netns', 'pids', space])
        .out.split(/\s+/)
        .filter((p) => /^\d+$/.test(p))
        .map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await until(() => pids.every(isGone), `the processes left in ${space} to be gone`).catch(() => {});
      ip(['netns', 'del', space]);
    }
    // A veth left in the root namespace by a half-made pair (deleting a namespace takes its own).
    for (const veth of veths) if (ip(['link', 'show', veth]).ok) ip(['link', 'del', veth]);
  };
  try {
    await remove(); // leftovers of an earlier run with the same pid
    const steps: string[][] = [
      ['netns', 'add', spaces[0]],
      ['netns', 'add', spaces[1]],
      ['link', 'add', veths[0], 'netns', spaces[0], 'type', 'veth', 'peer', 'name', veths[1], 'netns', spaces[1]],
      ['-n', spaces[0], 'addr', 'add', `${subnet}.1/24`, 'dev', veths[0]],
      ['-n', spaces[1], 'addr', 'add', `${subnet}.2/24`, 'dev', veths[1]],
      ['-n', spaces[0], 'link', 'set', veths[0], 'up'],
      ['-n', spaces[1], 'link', 'set', veths[1], 'up'],
      ['-n', spaces[0], 'link', 'set', 'lo', 'up'],
      ['-n', spaces[1], 'link', 'set', 'lo', 'up'],
    ];
    for (const step of steps) {
      const done = ip(step);
      if (!done.ok) throw new Error(`ip ${step.join(' ')} failed: ${done.out}`);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { a: host('A', 0), b: host('B', 1), isolated: true, remove };
}

/** The IPv4 addresses a host has (`ip -o -4 addr`), loopback included. */
export function addressesOf(host: TestHost): string[] {
  const shown = host.netns === undefined ? ip(['-o', '-4', 'addr', 'show']) : ip(['-n', host.netns, '-o', '-4', 'addr', 'show']);
  if (!shown.ok) throw new Error(`ip addr failed: ${shown.out}`);
  return [...shown.out.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1] as string).sort();
}

/**
 * A nats-server on `host`, listening on the host's address and `port` only, and ready (its log
 * said so) when this resolves; `kill` SIGKILLs it, `start` starts it again on the same address and
 * port. Every one started is in `processes`, for the caller's cleanup.
 */
export async function natsServerOn(host: TestHost, port: number, processes: Set<ChildProcess>): Promise<NatsServerProcess> {
  let proc: ChildProcess | undefined;
  const server: NatsServerProcess = {
    port,
    url: `nats://${host.address}:${port}`,
    async kill() {
      if (!proc) return;
      proc.kill('SIGKILL');
      await exited(proc);
      proc = undefined;
    },
    async start() {
      const [command, args] = host.argv(NATS_SERVER_BIN, ['-a', host.address, '-p', String(port)]);
      const started = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      proc = started;
      processes.add(started);
      let log = '';
      await new Promise<void>((resolve, reject) => {
        started.stderr?.setEncoding('utf8').on('data', (s: string) => {
          log += s;
          if (log.includes('Server is ready')) resolve();
        });
        started.once('exit', (code) => reject(new Error(`nats-server on ${server.url} exited with ${code}: ${log}`)));
      });
    },
  };
  await server.start();
  return server;
}
