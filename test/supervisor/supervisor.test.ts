/** The supervisor with real service processes: start, status, crashes and backoff, errored, stop, one per socket directory. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { ServiceClient } from '../../src/service/index.js';
import { type InstanceStatus, parseConfig, Supervisor, type SupervisorOutput } from '../../src/supervisor/index.js';
import { isGone } from '../support/processes.js';
import { until } from '../support/until.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/supervisor/${name}`, import.meta.url));
const supervisors: Supervisor[] = [];
const clients: ServiceClient[] = [];
const dirs: string[] = [];
const pids = new Set<number>();

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  for (const pid of pids) expect(isGone(pid), `pid ${pid} outlived its supervisor`).toBe(true);
  pids.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Records what the supervisor says, and wakes waiters on each event. */
function recorder() {
  const events: string[] = [];
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  const output: SupervisorOutput = {
    event: (level, service, instance, msg) => {
      events.push(`${level} ${service}.${instance} ${msg}`);
      for (const wake of waiters.splice(0)) wake();
    },
    line: (service, instance, stream, line) => {
      lines.push(`${service}.${instance} ${stream} ${line}`);
    },
  };
  return { output, events, lines, waiters };
}

function setup(services: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  const base = mkdtempSync(join(tmpdir(), 'warren-sup-'));
  dirs.push(base);
  const socketDir = join(base, 'run');
  const config = parseConfig({ socketDir, services, ...extra }, { baseDir: base, env: {} });
  const rec = recorder();
  const supervisor = new Supervisor(config, { output: rec.output, reportIntervalMs: 100 });
  supervisors.push(supervisor);
  return { supervisor, socketDir, rec };
}

function client(socketDir: string): ServiceClient {
  const c = new ServiceClient({ socketDir, timeout: 10_000 });
  clients.push(c);
  return c;
}

function instances(supervisor: Supervisor, service: string): InstanceStatus[] {
  return supervisor.status().services.find((s) => s.name === service)?.instances ?? [];
}

const fast = { minDelayMs: 20, maxDelayMs: 200, maxUnstableRestarts: 2, stableAfterMs: 60_000 };

describe('Supervisor', () => {
  it('starts every instance as its own process, shows them online, and stops them all (sockets gone)', async () => {
    const { supervisor, socketDir } = setup([
      { name: 'echo', entry: fixture('echo-service.mjs'), instances: 2 },
      { name: 'other', entry: fixture('echo-service.mjs'), env: { FIXTURE_SERVICE: 'other' } },
    ]);
    const status = await supervisor.start();
    expect(status.state).toBe('running');
    const echo = instances(supervisor, 'echo');
    expect(echo.map((i) => [i.slot, i.instance, i.state])).toEqual([
      [0, 0, 'online'],
      [1, 1, 'online'],
    ]);
    for (const i of echo) {
      expect(i.pid).toBeGreaterThan(0);
      pids.add(i.pid as number);
    }
    const echoClient = client(socketDir).service('echo');
    const answers = await Promise.all(Array.from({ length: 20 }, () => echoClient.get('/who')));
    expect(new Set(answers.map((a) => (a.body as { pid: number }).pid))).toEqual(new Set(echo.map((i) => i.pid)));
    expect((await client(socketDir).service('other').post('/echo', { x: 1 })).body).toEqual({ x: 1 });
    await until(
      () => instances(supervisor, 'echo').every((i) => i.requests > 0 && i.rssMB !== null),
      () => `reports: ${JSON.stringify(supervisor.status().services)}`,
    );
    await supervisor.stop();
    for (const pid of pids) expect(isGone(pid)).toBe(true);
    expect(readdirSync(socketDir).filter((f) => f.endsWith('.sock'))).toEqual([]);
    expect(supervisor.status().state).toBe('stopped');
  });

  it('a service that exits at once is restarted with backoff, then errored with its last exit and stderr', async () => {
    const { supervisor, rec } = setup([{ name: 'crashy', entry: fixture('crash-at-once.mjs'), restart: fast }]);
    await supervisor.start();
    const [slot] = instances(supervisor, 'crashy');
    expect(slot).toMatchObject({ state: 'errored', pid: null, restarts: 2, lastExit: { code: 3, signal: null } });
    expect(slot?.stderrTail).toContain('boom: cannot start (fixture)');
    expect(rec.events.filter((e) => e.includes('restarting in'))).toHaveLength(2);
    expect(rec.events.some((e) => e.startsWith('error crashy.') && e.includes('errored: exited 3 times in a row'))).toBe(true);
  });

  it('a service that never says it is ready is killed after readyTimeoutMs and ends errored', async () => {
    // readyTimeoutMs is also how long Node has to start and print its line: 300 ms was not
    // enough on a loaded machine (killed before it printed, the stderr tail was empty).
    const { supervisor } = setup([
      { name: 'slowpoke', entry: fixture('never-ready.mjs'), readyTimeoutMs: 3000, restart: { ...fast, maxUnstableRestarts: 1 } },
    ]);
    await supervisor.start();
    const [slot] = instances(supervisor, 'slowpoke');
    expect(slot).toMatchObject({ state: 'errored', restarts: 1, lastExit: { signal: 'SIGKILL' } });
    expect(slot?.stderrTail).toContain('warming up forever');
  });

  it('an instance killed with SIGKILL comes back, and calls succeed again', async () => {
    const { supervisor, socketDir } = setup([{ name: 'echo', entry: fixture('echo-service.mjs'), restart: fast }]);
    await supervisor.start();
    const [before] = instances(supervisor, 'echo');
    process.kill(before?.pid as number, 'SIGKILL');
    await until(
      () => instances(supervisor, 'echo')[0]?.restarts === 1 && instances(supervisor, 'echo')[0]?.state === 'online',
      () => `the restart: ${JSON.stringify(supervisor.status().services)}`,
    );
    const [after] = instances(supervisor, 'echo');
    pids.add(after?.pid as number);
    expect(after?.pid).not.toBe(before?.pid);
    expect(after?.lastExit).toMatchObject({ signal: 'SIGKILL' });
    expect((await client(socketDir).service('echo').get('/who')).body).toMatchObject({ pid: after?.pid });
  });

  it('an instance that ignores SIGTERM is killed after drainTimeoutMs', async () => {
    const { supervisor } = setup([{ name: 'stubborn', entry: fixture('ignores-sigterm.mjs'), drainTimeoutMs: 300 }]);
    await supervisor.start();
    const [slot] = instances(supervisor, 'stubborn');
    pids.add(slot?.pid as number);
    const started = Date.now();
    await supervisor.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(isGone(slot?.pid as number)).toBe(true);
  });

  it('a second supervisor on the same socket directory refuses with WARREN_ALREADY_RUNNING and starts nothing', async () => {
    const first = setup([{ name: 'echo', entry: fixture('echo-service.mjs') }]);
    await first.supervisor.start();
    const config = parseConfig(
      { socketDir: first.socketDir, services: [{ name: 'echo', entry: fixture('echo-service.mjs') }] },
      { baseDir: tmpdir(), env: {} },
    );
    const rec = recorder();
    const second = new Supervisor(config, { output: rec.output });
    const error = await second.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(isWarrenError(error) && error.code).toBe('WARREN_ALREADY_RUNNING');
    expect((error as Error).message).toContain(first.socketDir);
    expect(rec.events.filter((e) => e.includes('started'))).toEqual([]);
    expect(instances(first.supervisor, 'echo')[0]?.state).toBe('online');
  });

  it('removes sockets that dead processes left in the socket directory before starting', async () => {
    const { supervisor, socketDir, rec } = setup([{ name: 'echo', entry: fixture('echo-service.mjs') }]);
    mkdirSync(socketDir, { recursive: true, mode: 0o700 });
    // A process that listened on echo.5.sock and was killed: its socket file stays behind.
    const stale = join(socketDir, 'echo.5.sock');
    const holder = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await gone;
    expect(existsSync(stale)).toBe(true);
    await supervisor.start();
    expect(existsSync(stale)).toBe(false);
    expect(rec.events.some((e) => e.includes(`removed stale socket ${stale}`))).toBe(true);
    // Clients only see the live instance.
    const answers = await Promise.all(Array.from({ length: 5 }, () => client(socketDir).service('echo').get('/who')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });
});
