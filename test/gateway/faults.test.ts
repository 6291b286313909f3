/**
 * The gateway under faults: an instance killed with SIGKILL under a bounded load (only the calls in
 * flight on it fail, with 502), a rolling replacement of instances under load (no non-2xx),
 * slowloris clients and a client that never reads (bounded memory, others still served).
 * Real service processes on Unix sockets, the gateway in this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { until } from '../support/until.js';

const SERVICE = fileURLToPath(new URL('../fixtures/gateway/hello-service.mjs', import.meta.url));
const TEST_MS = 120_000;
const WAIT = { timeoutMs: 30_000 };

const children = new Set<ChildProcess>();
const gateways: Gateway[] = [];
const dirs: string[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }),
  );
  children.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'wgf-'));
  dirs.push(base);
  return join(base, 's');
}

/** Starts instance `n` of the hello service; resolves once it says it listens. */
async function instance(dir: string, n: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SERVICE], {
    env: { ...process.env, WARREN_SOCKET_DIR: dir, WARREN_INSTANCE: String(n) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d;
      if (err.includes('ready on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`instance ${n} exited with ${code}: ${err}`)));
  });
  return child;
}

async function gatewayOn(dir: string, options: Parameters<typeof startGateway>[0] = {}): Promise<Gateway> {
  const gateway = await startGateway({ port: 0, socketDir: dir, logDestination: new PassThrough().resume(), accessLog: false, ...options });
  gateways.push(gateway);
  return gateway;
}

interface Outcome {
  status: number;
  code?: string | undefined;
  startedAt: number;
}

/** `workers` loops of requests until `stop()`; every outcome recorded. */
function load(url: string, workers: number, init: RequestInit = {}) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const startedAt = performance.now();
      try {
        const res = await fetch(url, init);
        const text = await res.text();
        const outcome: Outcome = { status: res.status, startedAt };
        if (res.status >= 400) outcome.code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        outcomes.push(outcome);
      } catch {
        outcomes.push({ status: 0, startedAt });
      }
    }
  });
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('gateway faults', () => {
  it(
    'kill -9 of an instance under load: only calls in flight on it fail, with 502; later ones succeed, on the restarted one too',
    async () => {
      const dir = socketDir();
      const victim = await instance(dir, 0);
      await instance(dir, 1);
      const gateway = await gatewayOn(dir);
      await until(async () => (await fetch(`${gateway.url}/who`)).status === 200, 'routes', WAIT);
      const workers = 16;
      const run = load(`${gateway.url}/hold?ms=30`, workers, { method: 'POST' });
      await until(() => run.outcomes.length >= 50, 'some load', WAIT);
      const exited = new Promise((resolve) => victim.once('exit', resolve));
      victim.kill('SIGKILL');
      await exited;
      const killedAt = performance.now();
      await until(() => run.outcomes.filter((o) => o.startedAt > killedAt).length >= 100, 'load after the kill', WAIT);
      await instance(dir, 0);
      const restartedAt = performance.now();
      await until(() => run.outcomes.filter((o) => o.startedAt > restartedAt).length >= 100, 'load after the restart', WAIT);
      await run.stop();
      const failed = run.outcomes.filter((o) => o.status !== 200);
      expect(
        failed.every((o) => o.status === 502 && o.code === 'WARREN_PEER_CLOSED'),
        JSON.stringify(failed),
      ).toBe(true);
      // Only those in flight when it died: at most one per worker, all begun before it was gone.
      expect(failed.length).toBeLessThanOrEqual(workers);
      expect(failed.every((o) => o.startedAt < killedAt)).toBe(true);
      // The restarted instance takes calls again.
      const pids = new Set<number>();
      await until(async () => {
        pids.add(((await (await fetch(`${gateway.url}/who`)).json()) as { pid: number }).pid);
        return pids.size === 2;
      }, 'both instances to answer');
    },
    TEST_MS,
  );

  it(
    'a rolling replacement of the instances under load (each replaced one drains): no non-2xx',
    async () => {
      const dir = socketDir();
      const old0 = await instance(dir, 0);
      const old1 = await instance(dir, 1);
      const gateway = await gatewayOn(dir);
      await until(async () => (await fetch(`${gateway.url}/who`)).status === 200, 'routes', WAIT);
      const gets = load(`${gateway.url}/hold?ms=5`, 8);
      const posts = load(`${gateway.url}/echo`, 8, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      await until(() => gets.outcomes.length + posts.outcomes.length >= 100, 'some load', WAIT);
      for (const [old, n] of [
        [old0, 2],
        [old1, 3],
      ] as const) {
        await instance(dir, n);
        const exited = new Promise((resolve) => old.once('exit', resolve));
        old.kill('SIGTERM');
        await exited;
        const at = gets.outcomes.length;
        await until(() => gets.outcomes.length >= at + 50, 'load after the replacement', WAIT);
      }
      await gets.stop();
      await posts.stop();
      const bad = [...gets.outcomes, ...posts.outcomes].filter((o) => o.status < 200 || o.status > 299);
      expect(bad).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'slowloris clients are cut off at headersTimeoutMs and a client that never reads holds bounded memory; others are served meanwhile',
    async () => {
      const dir = socketDir();
      await instance(dir, 0);
      const gateway = await gatewayOn(dir, { headersTimeoutMs: 1_000 });
      await until(async () => (await fetch(`${gateway.url}/who`)).status === 200, 'routes', WAIT);
      // Slowloris: 50 connections that send a header line now and then, never the end of the headers.
      const slow = Array.from({ length: 50 }, () => {
        const socket = connect(gateway.address.port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => {});
        socket.resume();
        socket.write('GET /who HTTP/1.1\r\nHost: x\r\n');
        const timer = setInterval(() => socket.write('X-A: b\r\n'), 100);
        socket.once('close', () => clearInterval(timer));
        return socket;
      });
      // A client that asks for 200 responses of 1 MiB and reads none of them.
      const greedy = connect(gateway.address.port, '127.0.0.1');
      sockets.push(greedy);
      greedy.on('error', () => {});
      greedy.pause();
      const rssBefore = process.memoryUsage().rss;
      greedy.write('GET /big?kb=1024 HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200));
      // Others are served meanwhile.
      for (let i = 0; i < 20; i++) expect((await fetch(`${gateway.url}/who`)).status).toBe(200);
      await until(() => slow.every((socket) => socket.destroyed || socket.readableEnded), 'the slow clients to be cut off', WAIT);
      expect((await fetch(`${gateway.url}/who`)).status).toBe(200);
      // Not 200 MiB: the server stops reading a connection whose answers are not read.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    },
    TEST_MS,
  );
});
