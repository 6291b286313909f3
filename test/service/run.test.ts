/** runService as the main of a real process: ready over IPC or stderr, WARREN_INSTANCE, clean exits on signals and on losing its parent. */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceClient } from '../../src/service/client.js';
import type { ReadyMessage, ReportMessage } from '../../src/service/run.js';
import { instanceFromEnv } from '../../src/service/run.js';
import { isGone } from '../support/processes.js';

const fixture = fileURLToPath(new URL('../fixtures/service-run.mjs', import.meta.url));
const children = new Set<ChildProcess>();
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    expect(isGone(child.pid as number)).toBe(true);
  }
  children.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

/** Starts the fixture; with ipc it has an IPC channel, else only pipes. Collects stderr. */
function start(dir: string, env: Record<string, string>, ipc: boolean) {
  const options = { env: { ...process.env, WARREN_SOCKET_DIR: dir, ...env } };
  const child = ipc
    ? fork(fixture, [], { ...options, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    : spawn(process.execPath, [fixture], { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

function readyMessage(child: ChildProcess): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as ReadyMessage));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before it was ready`)));
  });
}

function stderrLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (s: Buffer | string) => {
      seen += String(s);
      const match = seen.match(pattern);
      if (match) {
        child.stderr?.off('data', onData);
        resolve(match[0]);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}; stderr: ${seen}`)));
  });
}

describe('runService', () => {
  it('sends a ready message over IPC with its instance from WARREN_INSTANCE, serves, and exits 0 after onClose on SIGTERM', async () => {
    const dir = socketDir();
    const { child, exited, stderr } = start(dir, { WARREN_INSTANCE: '3' }, true);
    const ready = await readyMessage(child);
    expect(ready).toEqual({ warren: 'ready', service: 'runner', instance: 3, path: join(dir, 'runner.3.sock'), pid: child.pid });
    const client = new ServiceClient({ socketDir: dir });
    try {
      expect((await client.service('runner').get('/pid')).body).toEqual({ pid: child.pid, instance: '3' });
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr()).toContain('closed');
    expect(existsSync(ready.path)).toBe(false);
  });

  it('reports its counters, memory, CPU and oldest running call over IPC every WARREN_REPORT_MS', async () => {
    const dir = socketDir();
    const { child } = start(dir, { WARREN_REPORT_MS: '50' }, true);
    const reports: ReportMessage[] = [];
    let wake: (() => void) | undefined;
    child.on('message', (m: { warren: string }) => {
      if (m.warren === 'report') {
        reports.push(m as ReportMessage);
        wake?.();
      }
    });
    const nextReport = (matching: (r: ReportMessage) => boolean) =>
      new Promise<ReportMessage>((resolve, reject) => {
        const check = () => {
          const found = reports.find(matching);
          if (found) {
            wake = undefined;
            resolve(found);
          }
        };
        wake = check;
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        check();
      });
    await readyMessage(child);
    const client = new ServiceClient({ socketDir: dir });
    try {
      const svc = client.service('runner');
      await svc.get('/pid');
      const stuck = svc.get('/stuck', { timeout: 60_000 }).catch(() => undefined);
      const report = await nextReport((r) => r.inFlight === 1 && r.oldestCallMs >= 100);
      expect(report).toMatchObject({ warren: 'report', service: 'runner', instance: 0, pid: child.pid });
      expect(report.metrics.routes['GET /pid']).toMatchObject({ requests: 1, errors: 0 });
      expect(report.metrics.routes['GET /stuck']).toMatchObject({ inFlight: 1 });
      expect(report.rssBytes).toBeGreaterThan(1_000_000);
      expect(report.cpuUserMicros).toBeGreaterThan(0);
      expect(Math.abs(report.at - Date.now())).toBeLessThan(60_000);
      void stuck;
    } finally {
      client.close();
    }
  });

  it('without an IPC channel says it is ready on stderr, and stops on SIGINT', async () => {
    const dir = socketDir();
    const { child, exited } = start(dir, {}, false);
    const line = await stderrLine(child, /runner\.0 ready on \S+ \(pid \d+\)/);
    expect(line).toBe(`runner.0 ready on ${join(dir, 'runner.0.sock')} (pid ${child.pid})`);
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it('shuts down when its parent goes away (the IPC channel closes)', async () => {
    const dir = socketDir();
    const { child, exited, stderr } = start(dir, {}, true);
    await readyMessage(child);
    // What a SIGKILLed parent does to the channel, without killing the test runner.
    child.disconnect();
    expect(await exited, stderr()).toEqual({ code: 0, signal: null });
    expect(stderr()).toContain('closed');
  });

  it('refuses a WARREN_INSTANCE that is not a non-negative integer', async () => {
    const dir = socketDir();
    const { exited, stderr } = start(dir, { WARREN_INSTANCE: '-1' }, true);
    const { code } = await exited;
    expect(code).not.toBe(0);
    expect(stderr()).toContain('WARREN_INSTANCE must be a non-negative integer, got "-1"');
    expect(instanceFromEnv({})).toBe(0);
    expect(instanceFromEnv({ WARREN_INSTANCE: '12' })).toBe(12);
    for (const bad of ['1.5', 'x', '01', ' 1']) expect(() => instanceFromEnv({ WARREN_INSTANCE: bad })).toThrow(/non-negative integer/);
  });
});
