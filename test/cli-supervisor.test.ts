// The commands that drive a supervisor (status, stop, restart, reload, logs, token rotate): the
// pure rendering, then the commands in-process and the built CLI (npm test builds first) against
// a small real control server (test/support/fake-control.ts).
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  logsCommand,
  reloadCommand,
  restartCommand,
  type SupervisorCommandIo,
  statusCommand,
  stopCommand,
  tokenRotateCommand,
} from '../src/cli/supervisor-commands.js';
import { formatDuration, formatLogRecord, formatReload, formatRestart, renderStatus } from '../src/cli/supervisor-format.js';
import { CONTROL_SOCKET, type InstanceStatus, type LogRecord, type ReloadResult, type SupervisorStatus } from '../src/supervisor/index.js';
import { useFakeControls } from './support/fake-control.js';
import { isGone } from './support/processes.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** A local time today, so that clock times print the same in every time zone. */
const at = (h: number, m: number, s: number, ms = 0) => new Date(2026, 10, 22, h, m, s, ms).getTime();
const NOW = at(12, 10, 0);

function instance(service: string, n: number, fields: Partial<InstanceStatus> = {}): InstanceStatus {
  const state = fields.state ?? 'online';
  return {
    service,
    instance: n,
    slot: n,
    pid: 4100 + n,
    state,
    status: state,
    readySince: NOW - 192_000,
    uptime: 192_000,
    restarts: 0,
    requests: 1520,
    errors: 3,
    reqPerSec: 12.5,
    meanMs: 1.84,
    p99Ms: 9.2,
    avgResponseTime: 1.84,
    rssMB: 48.31,
    cpuPercent: 2.04,
    lastExit: null,
    failure: null,
    silentForMs: null,
    stderrTail: [],
    fds: null,
    ...fields,
  };
}

/** Three services; products.1 errored with a stderr tail, nulls where no process runs. */
function sampleStatus(): SupervisorStatus {
  return {
    pid: 4000,
    socketDir: '/run/user/1000/warren',
    configPath: '/srv/shop/warren.config.json',
    startedAt: NOW - 7_440_000,
    state: 'running',
    services: [
      { name: 'users', entry: 'users.js', instances: [instance('users', 0, { uptime: 7_440_000, requests: 98213, reqPerSec: 140.25 })] },
      {
        name: 'products',
        entry: 'products.js',
        instances: [
          instance('products', 0, { uptime: 5_000, readySince: NOW - 5_000, restarts: 1 }),
          instance('products', 1, {
            pid: null,
            state: 'errored',
            readySince: null,
            uptime: 0,
            restarts: 5,
            requests: 12,
            errors: 12,
            rssMB: null,
            cpuPercent: null,
            lastExit: { code: 1, signal: null, at: at(12, 3, 4, 512) },
            stderrTail: ['Error: connect ECONNREFUSED 127.0.0.1:5432', '    at TCPConnectWrap.afterConnect (node:net:1607:16)'],
          }),
        ],
      },
      {
        name: 'orders',
        entry: 'orders.js',
        instances: [
          instance('orders', 0, {
            state: 'starting',
            readySince: null,
            uptime: 0,
            requests: 0,
            errors: 0,
            reqPerSec: 0,
            meanMs: 0,
            p99Ms: 0,
            rssMB: null,
            cpuPercent: null,
          }),
        ],
      },
    ],
  };
}

/** The sample with products.1 online again; `orders` as given (starting by default). */
function healthyStatus(orders: InstanceStatus['state'] = 'starting'): SupervisorStatus {
  const status = sampleStatus();
  status.services[1]!.instances[1] = instance('products', 1);
  status.services[2]!.instances[0] = instance('orders', 0, { state: orders, status: orders });
  return status;
}

const STATUS_TEXT = `supervisor 4000 running on /run/user/1000/warren, up 2h04m, config /srv/shop/warren.config.json
service   instance   pid  state     uptime  restarts  requests  errors  req/s  mean ms  p99 ms  RSS MB  CPU %
users            0  4100  online     2h04m         0     98213       3  140.3      1.8     9.2    48.3    2.0
products         0  4100  online        5s         1      1520       3   12.5      1.8     9.2    48.3    2.0
products         1     -  errored        -         5        12      12      -        -       -       -      -
orders           0  4100  starting       -         0         0       0    0.0      0.0     0.0       -      -
restarts, requests, errors: per slot, all its processes so far; uptime, req/s, mean, p99, RSS, CPU: the current process

products.1 errored (slot 1, 5 restarts): exit code 1 at 12:03:04.512
    Error: connect ECONNREFUSED 127.0.0.1:5432
        at TCPConnectWrap.afterConnect (node:net:1607:16)
`;

describe('supervisor command output', () => {
  it('formats durations with two units at most', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(5_400)).toBe('5s');
    expect(formatDuration(59_999)).toBe('59s');
    expect(formatDuration(60_000)).toBe('1m00s');
    expect(formatDuration(192_000)).toBe('3m12s');
    expect(formatDuration(7_440_000)).toBe('2h04m');
    expect(formatDuration(86_399_000)).toBe('23h59m');
    expect(formatDuration((3 * 24 + 2) * 3_600_000 + 59 * 60_000)).toBe('3d2h');
    expect(formatDuration(-5)).toBe('0s');
  });

  it('renders the status table aligned, with - for nulls and the errored instance explained below', () => {
    expect(renderStatus(sampleStatus(), NOW)).toBe(STATUS_TEXT);
    // Right-aligned numbers: every row ends each numeric column at the header's end.
    const [header = '', ...rows] = STATUS_TEXT.split('\n').slice(1, 6);
    for (const name of ['pid', 'requests', 'RSS MB', 'CPU %']) {
      const end = header.indexOf(name) + name.length;
      for (const row of rows) expect(row[end - 1], `${name} in ${row}`).not.toBe(' ');
      for (const row of rows) expect(row[end] ?? ' ', `${name} in ${row}`).toBe(' ');
    }
  });

  it('renders an errored instance that never exited and one killed by a signal, and a supervisor without services', () => {
    const status = sampleStatus();
    status.services = [
      { name: 'a', entry: 'a.js', instances: [instance('a', 0, { pid: null, state: 'errored', stderrTail: [] })] },
      {
        name: 'b',
        entry: 'b.js',
        instances: [instance('b', 0, { pid: null, state: 'errored', lastExit: { code: null, signal: 'SIGKILL', at: at(9, 0, 0) } })],
      },
    ];
    const text = renderStatus(status, NOW);
    expect(text).toContain('\na.0 errored (slot 0, 0 restarts): no exit recorded\n    (nothing on stderr)\n');
    expect(text).toContain('\nb.0 errored (slot 0, 0 restarts): killed by SIGKILL at 09:00:00.000\n');
    expect(renderStatus({ ...status, configPath: null, services: [] }, NOW)).toBe(
      'supervisor 4000 running on /run/user/1000/warren, up 2h04m\nno services\n',
    );
  });

  it('says under the table which instance is out of file descriptors, and what to do', () => {
    const status = sampleStatus();
    const fds = { exhausted: true, code: 'EMFILE', lastAt: at(9, 0, 0), count: 3 };
    status.services = [
      { name: 'a', entry: 'a.js', instances: [instance('a', 0, { fds }), instance('a', 1, { fds: { ...fds, exhausted: false } })] },
    ];
    const text = renderStatus(status, NOW);
    expect(text).toContain('\na.0 is out of file descriptors (EMFILE, 3 times): it refuses new connections; raise its limit (ulimit -n)');
    expect(text).not.toContain('a.1 is out of file descriptors');
  });

  it('formats log lines with the time, level, who and a mark for stderr', () => {
    const record: LogRecord = {
      time: at(12, 3, 4, 5),
      level: 'info',
      service: 'products',
      instance: 1,
      stream: 'stdout',
      msg: 'listening',
    };
    expect(formatLogRecord(record)).toBe('12:03:04.005 info  products.1 listening');
    expect(formatLogRecord({ ...record, level: 'error', stream: 'stderr', msg: 'boom' })).toBe(
      '12:03:04.005 error products.1 stderr| boom',
    );
    expect(formatLogRecord({ ...record, service: 'supervisor', instance: null, stream: 'supervisor', msg: 'started' })).toBe(
      '12:03:04.005 info  supervisor started',
    );
  });

  it('formats reload and restart results', () => {
    expect(
      formatReload({
        replaced: [
          { service: 'products', slot: 0, from: 0, to: 2 },
          { service: 'products', slot: 1, from: 1, to: 0 },
          { service: 'users', slot: 0, from: null, to: 1 },
        ],
      }),
    ).toBe('reloaded products: 0 → 2, 1 → 0\nreloaded users: - → 1\n');
    expect(formatReload({ replaced: [] })).toBe('nothing was reloaded\n');
    const before = sampleStatus();
    const after = sampleStatus();
    after.services[1]!.instances = [instance('products', 0, { pid: 4200 }), instance('products', 1, { pid: 4201 })];
    expect(formatRestart('products', 2, before, after)).toBe(
      'restarted products: 2 instances\n  slot 0: products.0 pid 4100 → products.0 pid 4200 online\n  slot 1: products.1 (errored) → products.1 pid 4201 online\n',
    );
    expect(formatRestart('users', 1, undefined, after)).toBe('restarted users: 1 instance\n');
  });
});

/** An io that records what a command prints; `signal` is aborted with abort(). */
function recordingIo(fields: Partial<SupervisorCommandIo> = {}) {
  const controller = new AbortController();
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  const io: SupervisorCommandIo = {
    out: (text) => {
      out += text;
      for (const listener of listeners.splice(0)) listener();
    },
    err: (text) => {
      err += text;
    },
    env: {},
    signal: controller.signal,
    now: () => NOW,
    ...fields,
  };
  return {
    io,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    abort: () => controller.abort(),
    /** Resolves once the output matches (bounded by the test timeout). */
    async waitForOut(predicate: (out: string) => boolean): Promise<void> {
      while (!predicate(out)) await new Promise<void>((resolve) => listeners.push(resolve));
    },
  };
}

const sampleLogs = (): LogRecord[] => [
  { time: at(12, 0, 0, 1), level: 'info', service: 'supervisor', instance: null, stream: 'supervisor', msg: 'started' },
  { time: at(12, 0, 1, 2), level: 'info', service: 'users', instance: 0, stream: 'stdout', msg: 'users ready' },
  { time: at(12, 0, 2, 3), level: 'error', service: 'products', instance: 1, stream: 'stderr', msg: 'Error: boom' },
  { time: at(12, 0, 3, 4), level: 'info', service: 'users', instance: 0, stream: 'stdout', msg: 'GET /users/42' },
];

describe('supervisor commands (in-process, against a control server)', () => {
  const fakes = useFakeControls();
  const start = (options: Partial<Parameters<typeof fakes.start>[0]> = {}) =>
    fakes.start({ status: sampleStatus(), logs: sampleLogs(), ...options });

  it('status prints the table of the status the supervisor gives; an errored instance makes it exit 1, saying which', async () => {
    const fake = await start();
    const rec = recordingIo();
    expect(await statusCommand({ socketDir: fake.dir }, rec.io)).toBe(1);
    expect(rec.err).toBe(
      'warren status: WARREN_INSTANCE_ERRORED: products.1 errored (see above; `warren restart <service>` brings one back)\n',
    );
    expect(rec.out).toBe(STATUS_TEXT.replace('/run/user/1000/warren', fake.dir).replace('supervisor 4000', `supervisor ${fake.pid}`));
    // Called as `warren ls`, the line says so.
    const ls = recordingIo();
    expect(await statusCommand({ socketDir: fake.dir }, ls.io, 'warren ls')).toBe(1);
    expect(ls.err).toMatch(/^warren ls: WARREN_INSTANCE_ERRORED: products\.1 errored/);
  });

  it('status exits 0 when no instance is errored (one starting is not an error)', async () => {
    const fake = await start({ status: healthyStatus() });
    const rec = recordingIo();
    expect(await statusCommand({ socketDir: fake.dir }, rec.io)).toBe(0);
    expect(rec.err).toBe('');
    expect(rec.out).toMatch(/orders +0 +4100 +starting/);
  });

  it('status --check prints one line and exits 0 only when every instance is online', async () => {
    const online = await start({ status: healthyStatus('online') });
    const ok = recordingIo();
    expect(await statusCommand({ check: true, socketDir: online.dir }, ok.io)).toBe(0);
    expect(ok.out).toBe('ok: 4 of 4 instances online\n');
    expect(ok.err).toBe('');
    const okJson = recordingIo();
    expect(await statusCommand({ check: true, json: true, socketDir: online.dir }, okJson.io)).toBe(0);
    expect(JSON.parse(okJson.out)).toEqual({ ok: true, online: 4, instances: 4, notOnline: [] });

    const starting = await start({ status: healthyStatus() });
    const notYet = recordingIo();
    expect(await statusCommand({ check: true, socketDir: starting.dir }, notYet.io)).toBe(1);
    expect(notYet.out).toBe('');
    expect(notYet.err).toBe('warren status: WARREN_NOT_ONLINE: orders.0 starting; 3 of 4 instances online\n');

    const errored = await start();
    const bad = recordingIo();
    expect(await statusCommand({ check: true, json: true, socketDir: errored.dir }, bad.io)).toBe(1);
    expect(JSON.parse(bad.out)).toEqual({
      ok: false,
      online: 2,
      instances: 4,
      notOnline: [
        { service: 'products', slot: 1, state: 'errored' },
        { service: 'orders', slot: 0, state: 'starting' },
      ],
    });
    expect(bad.err).toBe('warren status: WARREN_INSTANCE_ERRORED: products.1 errored; 2 of 4 instances online\n');
  });

  it('colours states and log levels on a terminal only, and never with NO_COLOR; FORCE_COLOR forces it', async () => {
    const fake = await start({ status: healthyStatus() });
    const tty = recordingIo({ isTTY: true });
    await statusCommand({ socketDir: fake.dir }, tty.io);
    expect(tty.out).toContain('\x1b[32monline  \x1b[39m');
    expect(tty.out).toContain('\x1b[33mstarting\x1b[39m');
    // Colour does not move the columns: without the escapes it is the plain table.
    const pipe = recordingIo();
    await statusCommand({ socketDir: fake.dir }, pipe.io);
    expect(pipe.out).not.toContain('\x1b');
    expect(tty.out.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g'), '')).toBe(pipe.out);
    const noColor = recordingIo({ isTTY: true, env: { NO_COLOR: '1' } });
    await statusCommand({ socketDir: fake.dir }, noColor.io);
    expect(noColor.out).toBe(pipe.out);
    const forced = recordingIo({ env: { FORCE_COLOR: '1' } });
    await logsCommand(undefined, { socketDir: fake.dir }, forced.io);
    expect(forced.out).toContain('\x1b[31merror\x1b[39m products.1 stderr| Error: boom');
    const forcedOff = recordingIo({ isTTY: true, env: { FORCE_COLOR: '0' } });
    await logsCommand(undefined, { socketDir: fake.dir }, forcedOff.io);
    expect(forcedOff.out).not.toContain('\x1b');
  });

  it('status takes the socket directory from WARREN_SOCKET_DIR', async () => {
    const fake = await start({ status: healthyStatus() });
    const rec = recordingIo({ env: { WARREN_SOCKET_DIR: fake.dir } });
    expect(await statusCommand({}, rec.io)).toBe(0);
    expect(rec.out).toContain(`running on ${fake.dir}`);
  });

  it('status --json prints the SupervisorStatus: one line, or indented on a terminal', async () => {
    const fake = await start({ status: healthyStatus() });
    const line = recordingIo();
    expect(await statusCommand({ json: true, socketDir: fake.dir }, line.io)).toBe(0);
    expect(line.out.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(line.out)).toEqual(fake.status);
    const tty = recordingIo({ isTTY: true });
    expect(await statusCommand({ json: true, socketDir: fake.dir }, tty.io)).toBe(0);
    expect(tty.out).toBe(`${JSON.stringify(fake.status, null, 2)}\n`);
  });

  it('status --watch prints successive tables apart by a blank line until Ctrl-C, then exits 0', async () => {
    const fake = await start();
    const rec = recordingIo();
    const done = statusCommand({ watch: true, interval: 20, socketDir: fake.dir }, rec.io);
    await rec.waitForOut((out) => out.split('supervisor ').length > 3);
    rec.abort();
    expect(await done).toBe(0);
    const frames = rec.out.split('\n\nsupervisor ');
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames[0]).toMatch(/^supervisor /);
    expect(rec.out).not.toContain('\x1b');
    expect(fake.calls.filter((c) => c.method === 'supervisor.status').length).toBe(frames.length);
  });

  it('status --watch on a terminal redraws in place and shows the cursor again when stopped', async () => {
    const fake = await start();
    const rec = recordingIo({ isTTY: true });
    const done = statusCommand({ watch: true, interval: 20, socketDir: fake.dir }, rec.io);
    await rec.waitForOut((out) => out.split('\x1b[H\x1b[2J').length > 2);
    rec.abort();
    expect(await done).toBe(0);
    expect(rec.out.startsWith('\x1b[?25l\x1b[H\x1b[2Jevery 20 ms, 12:10:00; Ctrl-C to stop\n\nsupervisor ')).toBe(true);
    expect(rec.out.endsWith('\x1b[?25h')).toBe(true);
  });

  it('status --watch exits 1 when the supervisor goes away, saying so', async () => {
    const fake = await start();
    const rec = recordingIo({ isTTY: true });
    const done = statusCommand({ watch: true, interval: 20, socketDir: fake.dir }, rec.io);
    await rec.waitForOut((out) => out.includes('products.1 errored'));
    await fake.kill();
    expect(await done).toBe(1);
    expect(rec.err).toBe(`warren status: WARREN_PEER_CLOSED: the supervisor on ${fake.dir} went away (its control connection closed)\n`);
    expect(rec.out.endsWith('\x1b[?25h')).toBe(true);
  });

  it('exits 2 when no supervisor runs (stop: 0, nothing to stop): no directory, no socket, or a stale socket', async () => {
    const dir = fakes.tempDir();
    const missing = recordingIo();
    expect(await statusCommand({ socketDir: join(dir, 'nope') }, missing.io)).toBe(2);
    expect(missing.err).toBe(
      `warren status: WARREN_SOCKET_DIR: no supervisor is running on ${join(dir, 'nope')} (no ${join(dir, 'nope', CONTROL_SOCKET)}); start one with \`warren up\`\n`,
    );
    const empty = recordingIo();
    expect(await reloadCommand(undefined, { socketDir: dir }, empty.io)).toBe(2);
    expect(empty.err).toMatch(/^warren reload: WARREN_SOCKET_DIR: no supervisor is running on .* start one with `warren up`\n$/);
    // Except stop: nothing running is what it is asked for.
    const nothing = recordingIo();
    expect(await stopCommand({ socketDir: dir }, nothing.io)).toBe(0);
    expect(nothing.err).toBe('');
    expect(nothing.out).toBe(`nothing to stop: no supervisor is running on ${dir} (no ${join(dir, CONTROL_SOCKET)})\n`);

    // A socket file nothing listens on: what a supervisor killed with SIGKILL leaves.
    const path = join(dir, CONTROL_SOCKET);
    const proc = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`,
    ]);
    await new Promise((resolve) => proc.stdout.once('data', resolve));
    const killed = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await killed;
    expect(existsSync(path)).toBe(true);
    const stale = recordingIo();
    expect(await logsCommand(undefined, { socketDir: dir }, stale.io)).toBe(2);
    expect(stale.err).toMatch(
      /^warren logs: WARREN_SOCKET_DIR: no supervisor is running on .*supervisor\.sock is stale: nothing listens on it/,
    );
  });

  it('exits 2 with WARREN_UNAUTHORIZED when the supervisor refuses the token', async () => {
    const fake = await start();
    writeFileSync(join(fake.dir, '.auth_token'), 'a'.repeat(64), { mode: 0o600 });
    const rec = recordingIo();
    expect(await statusCommand({ socketDir: fake.dir }, rec.io)).toBe(2);
    expect(rec.err).toMatch(
      /^warren status: WARREN_UNAUTHORIZED: the supervisor on .* refused the token in .*\.auth_token \(wrong or missing token\)/,
    );
    expect(fake.refused).toBe(1);
    expect(fake.calls).toEqual([]);
  });

  it('restart prints the instances before and after; an unknown service exits 1 with the code', async () => {
    const fake = await start();
    const rec = recordingIo();
    expect(await restartCommand('products', { socketDir: fake.dir }, rec.io)).toBe(0);
    expect(rec.out).toBe(
      'restarted products: 2 instances\n  slot 0: products.0 pid 4100 → products.0 pid 4200 online\n  slot 1: products.1 (errored) → products.1 pid 1100 online\n',
    );
    const unknown = recordingIo();
    expect(await restartCommand('nope', { socketDir: fake.dir }, unknown.io)).toBe(1);
    expect(unknown.err).toBe("warren restart: WARREN_UNKNOWN_SERVICE: no service 'nope' in this supervisor\n");
  });

  it('reload prints which instance replaced which, for one service or all', async () => {
    const fake = await start();
    const one = recordingIo();
    expect(await reloadCommand('products', { socketDir: fake.dir }, one.io)).toBe(0);
    expect(one.out).toBe('reloaded products: 0 → 2, - → 0\n');
    expect(fake.calls.at(-1)).toEqual({ method: 'supervisor.reload', params: { service: 'products' } });
    const all = recordingIo();
    expect(await reloadCommand(undefined, { socketDir: fake.dir }, all.io)).toBe(0);
    expect(all.out).toBe('reloaded users: 0 → 1\nreloaded products: 2 → 1, 0 → 2\nreloaded orders: 0 → 1\n');
    const unknown = recordingIo();
    expect(await reloadCommand('nope', { socketDir: fake.dir, timeout: 5000 }, unknown.io)).toBe(1);
    expect(unknown.err).toMatch(/^warren reload: WARREN_UNKNOWN_SERVICE: /);
  });

  it('--json: restart, reload, logs, stop and token rotate print data, one JSON line each', async () => {
    const fake = await start();
    const restart = recordingIo();
    expect(await restartCommand('products', { json: true, socketDir: fake.dir }, restart.io)).toBe(0);
    expect(JSON.parse(restart.out)).toEqual({
      service: 'products',
      restarted: 2,
      instances: [
        { slot: 0, instance: 0, pid: 4200, state: 'online' },
        { slot: 1, instance: 1, pid: 1100, state: 'online' },
      ],
    });
    const reload = recordingIo();
    expect(await reloadCommand('products', { json: true, socketDir: fake.dir }, reload.io)).toBe(0);
    expect(reload.out.trimEnd().split('\n')).toHaveLength(1);
    // The supervisor's answer as it is (after the restart above: both instances had a process).
    expect((JSON.parse(reload.out) as ReloadResult).replaced.map((r) => [r.service, r.slot])).toEqual([
      ['products', 0],
      ['products', 1],
    ]);
    const logs = recordingIo();
    expect(await logsCommand('users', { json: true, lines: 2, socketDir: fake.dir }, logs.io)).toBe(0);
    expect(
      logs.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(sampleLogs().filter((r) => r.service === 'users'));
    const token = recordingIo({ now: Date.now });
    expect(await tokenRotateCommand({ json: true, grace: 1000, socketDir: fake.dir }, token.io)).toBe(0);
    expect(JSON.parse(token.out)).toEqual({
      tokenFile: join(fake.dir, '.auth_token'),
      supervisorPid: fake.pid,
      previousExpiresAt: expect.any(Number),
    });

    const stoppable = await start({ pidProcess: true });
    const stop = recordingIo({ now: Date.now });
    expect(await stopCommand({ json: true, socketDir: stoppable.dir }, stop.io)).toBe(0);
    expect(JSON.parse(stop.out)).toEqual({ stopped: true, pid: stoppable.pid, socketDir: stoppable.dir, ms: expect.any(Number) });
  });

  it('logs of a service the supervisor does not run: WARREN_UNKNOWN_SERVICE listing the ones it does (with -f too)', async () => {
    const fake = await start();
    for (const follow of [false, true]) {
      const rec = recordingIo();
      expect(await logsCommand('nope', { follow, socketDir: fake.dir }, rec.io)).toBe(1);
      expect(rec.err).toBe(
        "warren logs: WARREN_UNKNOWN_SERVICE: no service 'nope' in this supervisor (known: users, products, orders, supervisor)\n",
      );
    }
    // The supervisor's own lines are not a service, and are known.
    const own = recordingIo();
    expect(await logsCommand('supervisor', { socketDir: fake.dir }, own.io)).toBe(0);
  });

  it('stop waits until the control socket is gone and the supervisor process has exited', async () => {
    const fake = await start({ pidProcess: true });
    const rec = recordingIo({ now: Date.now });
    expect(await stopCommand({ socketDir: fake.dir }, rec.io)).toBe(0);
    expect(rec.err).toBe('');
    expect(rec.out).toMatch(
      new RegExp(`^stopping the supervisor \\(pid ${fake.pid}\\) on .*: its instances drain first\\nstopped after \\d+\\.\\ds\\n$`),
    );
    expect(existsSync(fake.path)).toBe(false);
    // Exited: gone, or a zombie this test process has not reaped yet (as stop itself counts it).
    expect(isGone(fake.pid)).toBe(true);
  });

  it('stop exits 1 when the supervisor is still there after --timeout', async () => {
    const fake = await start({ pidProcess: true, onStop: 'linger' });
    const rec = recordingIo({ now: Date.now });
    expect(await stopCommand({ socketDir: fake.dir, timeout: 100 }, rec.io)).toBe(1);
    expect(rec.err).toMatch(
      /^warren stop: WARREN_TIMEOUT: the supervisor has not stopped within 100 ms \(its control socket .* is still there\)/,
    );
  });

  it('logs prints the last -n records of a service', async () => {
    const fake = await start();
    const rec = recordingIo();
    expect(await logsCommand('users', { lines: 1, socketDir: fake.dir }, rec.io)).toBe(0);
    expect(rec.out).toBe('12:00:03.004 info  users.0 GET /users/42\n');
    expect(fake.calls).toEqual([{ method: 'supervisor.logs', params: { service: 'users', lines: 1, follow: false } }]);
    const all = recordingIo();
    expect(await logsCommand(undefined, { socketDir: fake.dir }, all.io)).toBe(0);
    expect(all.out.split('\n')).toEqual([
      '12:00:00.001 info  supervisor started',
      '12:00:01.002 info  users.0 users ready',
      '12:00:02.003 error products.1 stderr| Error: boom',
      '12:00:03.004 info  users.0 GET /users/42',
      '',
    ]);
    expect(fake.calls.at(-1)?.params).toEqual({ lines: 100, follow: false });
  });

  it('logs -f streams new records until Ctrl-C (exit 0), and the stream stops on the supervisor side', async () => {
    const fake = await start();
    const rec = recordingIo();
    const done = logsCommand(undefined, { follow: true, lines: 0, socketDir: fake.dir }, rec.io);
    await fake.following();
    fake.push({ time: at(12, 5, 0), level: 'warn', service: 'users', instance: 0, stream: 'stdout', msg: 'slow call' });
    await rec.waitForOut((out) => out.includes('slow call'));
    rec.abort();
    expect(await done).toBe(0);
    expect(rec.out).toBe('12:05:00.000 warn  users.0 slow call\n');
    expect(rec.err).toBe('');
    // The connection is closed once the command is done.
    await expect.poll(() => fake.server.peers.size).toBe(0);
  });

  it('logs -f exits 1 when the supervisor goes away or ends the stream', async () => {
    const fake = await start();
    const rec = recordingIo();
    const done = logsCommand('users', { follow: true, socketDir: fake.dir }, rec.io);
    await rec.waitForOut((out) => out.includes('GET /users/42'));
    await fake.kill();
    expect(await done).toBe(1);
    expect(rec.out).toBe('12:00:01.002 info  users.0 users ready\n12:00:03.004 info  users.0 GET /users/42\n');
    expect(rec.err).toMatch(/^warren logs: WARREN_PEER_CLOSED: the supervisor on .* went away/);

    const other = await start();
    const ended = recordingIo();
    const running = logsCommand(undefined, { follow: true, lines: 0, socketDir: other.dir }, ended.io);
    await other.following();
    other.endLogs();
    expect(await running).toBe(1);
    expect(ended.err).toMatch(/^warren logs: WARREN_PEER_CLOSED: the supervisor on .* ended the log stream \(it is stopping\)\n$/);
  });

  it('token rotate goes through the supervisor when one runs, and says until when the old token works', async () => {
    const fake = await start();
    const rec = recordingIo({ now: Date.now });
    expect(await tokenRotateCommand({ grace: 90000, socketDir: fake.dir }, rec.io)).toBe(0);
    expect(fake.calls).toEqual([{ method: 'supervisor.rotateToken', params: { graceMs: 90000 } }]);
    const token = readFileSync(join(fake.dir, '.auth_token'), 'utf8');
    expect(token).not.toBe(fake.token);
    const previous = JSON.parse(readFileSync(join(fake.dir, '.auth_token.prev'), 'utf8')) as { token: string };
    expect(previous.token).toBe(fake.token);
    expect(rec.out).toMatch(
      new RegExp(
        `^rotated the token in ${fake.dir}/\\.auth_token through the supervisor \\(pid ${fake.pid}\\)\\nthe previous token is accepted until \\d\\d:\\d\\d:\\d\\d \\(for 1m30s\\)\\n$`,
      ),
    );
  });

  it('token rotate writes the files directly when no supervisor runs', async () => {
    const dir = fakes.tempDir();
    const first = recordingIo({ now: Date.now });
    expect(await tokenRotateCommand({ socketDir: dir }, first.io)).toBe(0);
    expect(first.out).toBe(
      `rotated the token in ${dir}/.auth_token (no supervisor is running: written directly)\nthere was no token before\n`,
    );
    const token = readFileSync(join(dir, '.auth_token'), 'utf8');
    const second = recordingIo({ now: Date.now });
    expect(await tokenRotateCommand({ socketDir: dir }, second.io)).toBe(0);
    expect(second.out).toMatch(/\nthe previous token is accepted until \d\d:\d\d:\d\d \(for 1m00s\)\n$/);
    expect(JSON.parse(readFileSync(join(dir, '.auth_token.prev'), 'utf8'))).toMatchObject({ token });
    const missing = recordingIo();
    expect(await tokenRotateCommand({ socketDir: join(dir, 'nope') }, missing.io)).toBe(2);
    expect(missing.err).toMatch(/^warren token rotate: WARREN_SOCKET_DIR: socket directory .*nope does not exist/);
  });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.WARREN_SOCKET_DIR;
  return env;
}

/** Runs the built `warren ...args` to its end. */
function warren(args: string[], cwd?: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: cliEnv(), timeout: 20_000, ...(cwd === undefined ? {} : { cwd }) },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
  });
}

describe('warren status, logs, restart (the built CLI against a control server)', () => {
  const fakes = useFakeControls();
  const running = new Set<ChildProcessWithoutNullStreams>();
  afterEach(async () => {
    for (const proc of running) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
    }
    running.clear();
  });

  /** Starts `warren ...args` and keeps its output; `waitFor` resolves once stdout matches, `exit` with the exit code. */
  function spawnWarren(args: string[]) {
    const proc = spawn(process.execPath, [cli, ...args], { env: cliEnv() });
    running.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    proc.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    return {
      proc,
      exit,
      get stdout() {
        return stdout;
      },
      get stderr() {
        return stderr;
      },
      waitFor(predicate: (out: string) => boolean): Promise<void> {
        if (predicate(stdout)) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const check = () => {
            if (!predicate(stdout)) return;
            proc.stdout.off('data', check);
            resolve();
          };
          proc.stdout.on('data', check);
          void exit.then(() => reject(new Error(`warren exited before the expected output; stdout: ${stdout}; stderr: ${stderr}`)));
        });
      },
    };
  }

  it('status prints the table, --json the status as one line', async () => {
    const fake = await fakes.start({ status: sampleStatus() });
    const table = await warren(['status', '--socket-dir', fake.dir]);
    // products.1 is errored: the table, then exit code 1 with one line saying so.
    expect(table).toMatchObject({ code: 1 });
    expect(table.stderr).toMatch(/^warren status: WARREN_INSTANCE_ERRORED: products\.1 errored [^\n]*\n$/);
    const lines = table.stdout.split('\n');
    expect(lines[1]).toBe(STATUS_TEXT.split('\n')[1]);
    expect(table.stdout).toContain('products.1 errored (slot 1, 5 restarts): exit code 1 at ');
    expect(table.stdout).toContain('\n    Error: connect ECONNREFUSED 127.0.0.1:5432\n');
    const json = await warren(['status', '--json', '--socket-dir', fake.dir]);
    expect(json.code).toBe(1);
    expect(json.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(json.stdout)).toEqual(fake.status);
  });

  it('exits 2 on bad option values (commander refuses them through argParser), before connecting', async () => {
    const fake = await fakes.start({ status: sampleStatus() });
    const interval = await warren(['status', '--watch', '--interval', 'often', '--socket-dir', fake.dir]);
    expect(interval).toMatchObject({ code: 2, stdout: '' });
    expect(interval.stderr).toBe(
      "warren status: WARREN_INVALID_ARGUMENT: option '--interval <ms>' argument 'often' is invalid. --interval must be a whole number of at least 10, got 'often'\n",
    );
    const lines = await warren(['logs', '-n', '-1', '--socket-dir', fake.dir]);
    expect(lines.code).toBe(2);
    expect(lines.stderr).toMatch(/--lines must be a whole number \(0 or more\), got '-1'/);
    const grace = await warren(['token', 'rotate', '--grace', '1.5', '--socket-dir', fake.dir]);
    expect(grace.code).toBe(2);
    expect(grace.stderr).toMatch(/--grace must be a whole number \(0 or more\), got '1.5'/);
    const timeout = await warren(['stop', '--timeout', '0', '--socket-dir', fake.dir]);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/--timeout must be a whole number of at least 1, got '0'/);
    expect(fake.calls).toEqual([]);
  });

  it('takes --socket-dir before the command as well as after it', async () => {
    const fake = await fakes.start({ status: healthyStatus() });
    const before = await warren(['--socket-dir', fake.dir, 'status', '--json']);
    const after = await warren(['status', '--json', '--socket-dir', fake.dir]);
    expect(before).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(before.stdout)).toEqual(fake.status);
    expect(after).toEqual(before);
  });

  it('exits 2 with the message when no supervisor runs', async () => {
    const dir = fakes.tempDir();
    const result = await warren(['status', '--socket-dir', dir]);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: `warren status: WARREN_SOCKET_DIR: no supervisor is running on ${dir} (no ${dir}/supervisor.sock); start one with \`warren up\`\n`,
    });
  });

  it('exits 1 on an error from the supervisor and 2 on a usage error', async () => {
    const fake = await fakes.start({ status: sampleStatus() });
    const unknown = await warren(['restart', 'nope', '--socket-dir', fake.dir]);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toBe("warren restart: WARREN_UNKNOWN_SERVICE: no service 'nope' in this supervisor\n");
    const missing = await warren(['restart', '--socket-dir', fake.dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'service'/);
    const reload = await warren(['reload', 'users', '--socket-dir', fake.dir]);
    expect(reload).toEqual({ code: 0, stdout: 'reloaded users: 0 → 1\n', stderr: '' });
  });

  it('status --watch prints tables until SIGINT, then exits 0', async () => {
    const fake = await fakes.start({ status: sampleStatus() });
    const watch = spawnWarren(['status', '--watch', '--interval', '50', '--socket-dir', fake.dir]);
    await watch.waitFor((out) => out.split('\n\nsupervisor ').length >= 3);
    watch.proc.kill('SIGINT');
    expect(await watch.exit).toBe(0);
    expect(watch.stderr).toBe('');
    expect(watch.stdout).not.toContain('\x1b');
    for (const frame of watch.stdout.split('\n\nsupervisor ').slice(0, 3)) expect(frame).toContain('products.1 errored');
  });

  it('ls and list are status; monit is status --watch; start is up', async () => {
    const fake = await fakes.start({ status: healthyStatus() });
    const status = await warren(['status', '--json', '--socket-dir', fake.dir]);
    expect(status.code).toBe(0);
    for (const alias of ['ls', 'list']) expect(await warren([alias, '--json', '--socket-dir', fake.dir])).toEqual(status);
    // Their errors name the command as typed, wherever the program option stands.
    const none = join(fake.dir, 'none');
    for (const args of [
      ['ls', '--socket-dir', none],
      ['--socket-dir', none, 'list'],
      ['status', '--socket-dir', none],
    ]) {
      const typed = args.find((arg) => !arg.startsWith('-') && arg !== none);
      const failed = await warren(args);
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(new RegExp(`^warren ${typed}: WARREN_SOCKET_DIR: no supervisor is running on `));
    }
    const monit = spawnWarren(['monit', '--interval', '50', '--socket-dir', fake.dir]);
    await monit.waitFor((out) => out.split('\n\nsupervisor ').length >= 3);
    monit.proc.kill('SIGINT');
    expect(await monit.exit).toBe(0);
    expect(monit.stderr).toBe('');
    // `start` is `up` on the config of the current directory, and says `warren start` in its errors.
    const start = await warren(['start', '--detach'], fake.dir);
    expect(start).toMatchObject({ code: 2, stdout: '' });
    expect(start.stderr).toMatch(
      new RegExp(`^warren start: WARREN_CONFIG: no config file in ${fake.dir}: expected one of warren\\.config\\.json, [^\\n]*\\n$`),
    );
    const help = await warren(['--help']);
    for (const name of ['start', 'status|ls', 'monit']) expect(help.stdout).toContain(name);
  });

  it('logs -f streams records until SIGINT (exit 0), and exits 1 when the supervisor goes', async () => {
    const fake = await fakes.start({ status: sampleStatus(), logs: sampleLogs() });
    const follow = spawnWarren(['logs', 'products', '-f', '--socket-dir', fake.dir]);
    await follow.waitFor((out) => out.includes('Error: boom'));
    await fake.following();
    fake.push({ time: at(12, 6, 0, 7), level: 'info', service: 'products', instance: 0, stream: 'stdout', msg: 'GET /products' });
    fake.push({ time: at(12, 6, 0, 8), level: 'info', service: 'users', instance: 0, stream: 'stdout', msg: 'not products' });
    fake.push({ time: at(12, 6, 0, 9), level: 'warn', service: 'products', instance: 1, stream: 'stderr', msg: 'deprecated' });
    await follow.waitFor((out) => out.includes('deprecated'));
    follow.proc.kill('SIGINT');
    expect(await follow.exit).toBe(0);
    expect(follow.stdout).toBe(
      '12:00:02.003 error products.1 stderr| Error: boom\n12:06:00.007 info  products.0 GET /products\n12:06:00.009 warn  products.1 stderr| deprecated\n',
    );
    expect(follow.stderr).toBe('');

    const again = spawnWarren(['logs', '--follow', '-n', '1', '--socket-dir', fake.dir]);
    await again.waitFor((out) => out.includes('GET /users/42'));
    await fake.following();
    await fake.kill();
    expect(await again.exit).toBe(1);
    expect(again.stderr).toMatch(/^warren logs: WARREN_PEER_CLOSED: the supervisor on .* went away/);
  });
});
