/**
 * An instance that runs out of file descriptors degrades instead of crashing: it refuses new
 * connections, says so in its reports (fds.exhausted), keeps serving, and takes connections
 * again once descriptors are free. A real service process started with a low limit on open
 * files (prlimit) and more connections than that limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceClient } from '../../src/service/client.js';
import type { ReadyMessage, ReportMessage } from '../../src/service/run.js';
import { isGone } from '../support/processes.js';

const RUN = fileURLToPath(new URL('../fixtures/service-run.mjs', import.meta.url));
const LIMIT = 64;
const CONNECTIONS = 150;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Waits for the first IPC message from `proc` that matches, within 15 s. */
function nextMessage<T>(proc: ChildProcess, matches: (m: T) => boolean, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', onMessage);
      reject(new Error(`timed out waiting for ${what}`));
    }, 15_000);
    const onMessage = (m: unknown) => {
      if (!matches(m as T)) return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(m as T);
    };
    proc.on('message', onMessage);
  });
}

describe('an instance out of file descriptors', () => {
  it('refuses new connections, reports fds.exhausted, never crashes, and serves again once descriptors are free', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'warren-fds-')), 'run');
    cleanups.push(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
    const proc = spawn('prlimit', [`--nofile=${LIMIT}:${LIMIT}`, process.execPath, RUN], {
      env: { ...process.env, WARREN_SOCKET_DIR: dir, WARREN_REPORT_MS: '50' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    // Resolves once the instance said on stderr that it ran out (its own pipe: it may arrive after the report).
    const saidOnStderr = new Promise<void>((resolve) => {
      proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('out of file descriptors (EMFILE')) resolve();
      });
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) =>
      proc.once('exit', (code) => {
        exitCode = code;
        resolve();
      }),
    );
    cleanups.push(async () => {
      if (exitCode === undefined) {
        proc.kill('SIGKILL');
        await exited;
      }
      expect(isGone(proc.pid as number)).toBe(true);
    });
    const ready = await nextMessage<ReadyMessage>(proc, (m) => m.warren === 'ready', 'the ready message');

    // More connections than the process may hold descriptors.
    const sockets: Socket[] = [];
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = createConnection(ready.path);
      socket.on('error', () => {});
      sockets.push(socket);
    }
    const degraded = await nextMessage<ReportMessage>(proc, (m) => m.warren === 'report' && m.fds.exhausted, 'a report of fds.exhausted');
    expect(degraded.fds.code).toBe('EMFILE');
    expect(degraded.fds.count).toBeGreaterThan(0);
    // Still reporting after that, with a memory figure (the last one read).
    const later = await nextMessage<ReportMessage>(proc, (m) => m.warren === 'report' && m.at > degraded.at, 'a later report');
    expect(later.rssBytes).toBeGreaterThan(0);
    expect(exitCode).toBeUndefined();
    await saidOnStderr;

    // Descriptors free again: calls are served and the condition clears.
    for (const socket of sockets.splice(0)) socket.destroy();
    const client = new ServiceClient({ socketDir: dir, timeout: 10_000 });
    cleanups.push(() => client.close());
    // The instance may take a new connection before it has seen all the old ones close (and
    // refuse it, still out of descriptors): ask until it answers, bounded in count and time.
    const deadline = Date.now() + 10_000;
    let response = await client
      .service('runner')
      .get('/pid')
      .catch((e: unknown) => e as Error);
    while (response instanceof Error && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      response = await client
        .service('runner')
        .get('/pid')
        .catch((e: unknown) => e as Error);
    }
    if (response instanceof Error) throw response;
    expect(response.status).toBe(200);
    expect((response.body as { pid: number }).pid).toBeGreaterThan(0);
    await nextMessage<ReportMessage>(proc, (m) => m.warren === 'report' && !m.fds.exhausted && m.fds.count > 0, 'the condition to clear');
    expect(exitCode).toBeUndefined();
  }, 30_000);
});
