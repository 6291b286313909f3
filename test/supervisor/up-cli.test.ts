// `warren up` end to end: the built CLI (npm test builds first) started as a real process, on real
// service processes and sockets, driven with `warren status`, `call`, `reload` and `stop`, and with
// signals (SIGTERM, SIGINT, SIGHUP, SIGKILL of the supervisor itself). One test at the end drives
// the Supervisor class directly, for a stop that races start() too closely to hit from outside.
//
// Every test uses a fresh socket directory under a short mkdtemp prefix (Unix socket paths must
// stay under 104 bytes). afterEach kills what a test left running, whatever happened: the CLI
// processes it started, then through `warren stop` a supervisor still answering, then (on Linux)
// every process whose environment names the socket directory (detached supervisors, instances).
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type InstanceStatus, parseConfig, Supervisor, type SupervisorStatus } from '../../src/supervisor/index.js';
import { type CliResult, processesUsing, useCli } from '../support/cli.js';
import { isGone } from '../support/processes.js';
import { until } from '../support/until.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/supervisor/${name}`, import.meta.url));
const SERVICE = fixture('up-service.mjs');
const STUBBORN = fixture('ignores-disconnect.mjs');

/** How long one CLI command may take on a busy 2-core machine before the test gives up on it. */
const COMMAND_MS = 60_000;
/** How long a bounded wait (for lines, pids, states) may take. */
const WAIT_MS = 30_000;
/** A test runs a dozen CLI commands and several service processes: generous on a busy machine, never a hang. */
const TEST_MS = 180_000;

const { run: cli, start: startCli, workDir: freshDir } = useCli(COMMAND_MS);

function spawnCli(args: string[], cwd?: string, env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  return startCli(args, { ...(cwd === undefined ? {} : { cwd }), env }).child;
}

/** `until` with the waited-for thing first, as the steps of these tests read; `warren status` runs are not cheap: every 50 ms. */
const waitFor = <T>(what: string, check: () => T | Promise<T>, ms = WAIT_MS) => until(check, what, { timeoutMs: ms, intervalMs: 50 });

/** True while a process with this pid runs; an exited process not yet reaped (a zombie) does not count. */
const isAlive = (pid: number): boolean => !isGone(pid);

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** A fresh directory for a test: the config files go in it, the sockets in `<dir>/s`. */
const workDir = () => freshDir('wu-');

/** Writes `<dir>/warren.config.json` and returns its path. */
function writeConfig(dir: string, config: unknown, name = 'warren.config.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return path;
}

async function status(socketDir: string): Promise<SupervisorStatus> {
  const result = await cli(['status', '--json', '--socket-dir', socketDir]);
  const parsed = JSON.parse(result.stdout) as SupervisorStatus;
  // Exit code 1 and one line on stderr exactly when an instance is errored.
  const errored = instancesOf(parsed).filter((i) => i.state === 'errored');
  if (errored.length === 0) expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  else expect(result).toMatchObject({ code: 1, stderr: expect.stringMatching(/^warren status: WARREN_INSTANCE_ERRORED: [^\n]*\n$/) });
  return parsed;
}

function instancesOf(s: SupervisorStatus, service?: string): InstanceStatus[] {
  return s.services.filter((x) => service === undefined || x.name === service).flatMap((x) => x.instances);
}

async function call(socketDir: string, service: string, method: string, path: string, data?: unknown) {
  const args = ['call', service, method, path, '--json', '--socket-dir', socketDir];
  if (data !== undefined) args.push('--data', JSON.stringify(data));
  const result = await cli(args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as { status: number; body: unknown };
}

/** `warren up --detach`; expects exit code 0 and returns the supervisor's pid it printed. */
async function upDetached(configPath: string, socketDir: string): Promise<{ pid: number; result: CliResult }> {
  const result = await cli(['up', '--detach', '--socket-dir', socketDir, configPath]);
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  const pid = Number(/supervisor pid (\d+) in the background/.exec(result.stdout)?.[1]);
  expect(pid).toBeGreaterThan(0);
  return { pid, result };
}

const sockets = (socketDir: string) =>
  existsSync(socketDir)
    ? readdirSync(socketDir)
        .filter((f) => f.endsWith('.sock'))
        .sort()
    : [];

/** A foreground `warren up` whose JSON log lines (stdout is a pipe) the test reads as they come. */
function foreground(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawnCli(['up', ...args], undefined, env);
  const records: { msg?: string; service?: string; instance?: number; level?: number }[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (s: string) => {
    stdout += s;
    const lines = stdout.split('\n');
    stdout = lines.pop() ?? '';
    for (const line of lines) {
      try {
        records.push(JSON.parse(line));
      } catch {
        records.push({ msg: line });
      }
    }
  });
  child.stderr.on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    records,
    exited,
    stderr: () => stderr,
    /** Waits until `count` records match; their list. */
    lines: (what: string, match: (r: (typeof records)[number]) => boolean, count = 1) =>
      waitFor(`${what} (stderr: ${stderr})`, () => {
        const found = records.filter(match);
        if (child.exitCode !== null) throw new Error(`warren up exited (${child.exitCode}) before ${what}: ${stderr}`);
        return found.length >= count ? found : undefined;
      }),
  };
}

const READY = /^ready \(pid (\d+)\)$/;
const readyPid = (msg: string | undefined) => Number(READY.exec(msg ?? '')?.[1]);

// ---- tests ---------------------------------------------------------------------------------

describe('warren up: a bad configuration', { timeout: TEST_MS }, () => {
  const cases: { name: string; config: (dir: string) => unknown; expected: (dir: string) => string[] }[] = [
    {
      name: 'an unknown key',
      config: () => ({ logLevle: 'debug', services: [{ name: 'upsvc', entry: SERVICE }] }),
      expected: () => ['logLevle: unknown key', 'did you mean "logLevel"?', 'known keys: '],
    },
    {
      name: 'a value of the wrong type',
      config: () => ({ services: [{ name: 'upsvc', entry: SERVICE, instances: '2' }] }),
      expected: () => ['services[0].instances: expected a whole number from 1 to 256, got "2"'],
    },
    {
      name: 'a nested value out of range',
      config: () => ({ services: [{ name: 'upsvc', entry: SERVICE, restart: { minDelayMs: -5 } }] }),
      expected: () => ['services[0].restart.minDelayMs: expected a whole number of ms from 0 to 2147483647, got -5'],
    },
    {
      name: 'a duplicate service name',
      config: () => ({
        services: [
          { name: 'upsvc', entry: SERVICE },
          { name: 'upsvc', entry: SERVICE },
        ],
      }),
      expected: () => ['services[1].name: expected a unique name, got "upsvc" again (services[0].name has it)'],
    },
    {
      name: 'no services key',
      config: () => ({ logLevel: 'info' }),
      expected: () => ['services: expected a list of services', 'the key is missing'],
    },
    {
      name: 'an empty services list',
      config: () => ({ services: [] }),
      expected: () => ['services: expected at least one service, got []'],
    },
    {
      name: 'invalid JSON',
      // A trailing comma on line 3: the `}` after it, column 42, is where parsing fails.
      config: () => `{\n  "services": [\n    { "name": "upsvc", "entry": "x.mjs", }\n  ]\n}\n`,
      expected: (dir) => [`config file ${join(dir, 'warren.config.json')} is not valid JSON`, 'at line 3, column 42'],
    },
    {
      name: 'an entry file that does not exist',
      config: () => ({ services: [{ name: 'upsvc', entry: './services/missing.mjs' }] }),
      expected: (dir) => [`services[0].entry: service 'upsvc': entry file ${join(dir, 'services', 'missing.mjs')} does not exist`],
    },
  ];

  for (const { name, config, expected } of cases) {
    it(`${name}: exit code 2, one clear message naming the key and the value, nothing started`, async () => {
      const { dir, socketDir } = workDir();
      const path = writeConfig(dir, config(dir));
      for (const detach of [false, true]) {
        const result = await cli(['up', ...(detach ? ['--detach'] : []), '--socket-dir', socketDir, path]);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stdout).toBe('');
        expect(result.stderr.startsWith('warren up: WARREN_CONFIG: ')).toBe(true);
        expect(result.stderr).toContain(path);
        for (const text of expected(dir)) expect(result.stderr).toContain(text);
        // Refused before anything started: no socket directory, no supervisor.
        expect(existsSync(socketDir)).toBe(false);
      }
    });
  }

  it('several problems: one line each, `warren up: WARREN_CONFIG: <file>: <key>: …`', async () => {
    const { dir, socketDir } = workDir();
    const path = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, instances: 0, drainTimeoutMs: 'soon' }] });
    const result = await cli(['up', '--socket-dir', socketDir, path]);
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.startsWith(`warren up: WARREN_CONFIG: ${path}: services[0].`), line).toBe(true);
  });

  it('a socket path too long because of --socket-dir: the message names --socket-dir', async () => {
    const { dir } = workDir();
    const path = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE }] });
    const long = join(dir, 'x'.repeat(100));
    const result = await cli(['up', '--socket-dir', long, path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^warren up: WARREN_CONFIG: .*services\[0\]\.name: expected a socket path of at most 103 bytes, .*use a shorter --socket-dir or service name/,
    );
    // From the config file, it names the key there.
    const inFile = writeConfig(dir, { socketDir: long, services: [{ name: 'upsvc', entry: SERVICE }] }, 'long.json');
    const fromFile = await cli(['up', inFile]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain('use a shorter socketDir or service name');
  });

  it('status and up give the same advice on a socket directory open to others; on a shared one, never a chmod', async () => {
    const { dir, socketDir } = workDir();
    const path = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE }] });
    mkdirSync(socketDir);
    chmodSync(socketDir, 0o755);
    const advice = `expected 0700 (run: chmod 700 ${socketDir})`;
    const up = await cli(['up', '--socket-dir', socketDir, path]);
    const status = await cli(['status', '--socket-dir', socketDir]);
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/^warren up: WARREN_SOCKET_DIR: /);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/^warren status: WARREN_SOCKET_DIR: /);
    for (const result of [up, status]) expect(result.stderr).toContain(advice);

    const shared = join(dir, 'tmp');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    for (const args of [
      ['up', '--socket-dir', shared, path],
      ['status', '--socket-dir', shared],
    ]) {
      const result = await cli(args);
      expect(result.stderr).toContain(`${shared} is a shared directory`);
      expect(result.stderr).toContain(`use a dedicated directory instead, e.g. ${join(shared, `warren-${process.getuid?.()}`)}`);
      expect(result.stderr).not.toContain('chmod 7');
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('a config path that does not exist: exit code 2, naming the path', async () => {
    const { dir, socketDir } = workDir();
    const result = await cli(['up', '--socket-dir', socketDir, join(dir, 'nope.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`warren up: WARREN_CONFIG: config file ${join(dir, 'nope.json')} does not exist\n`);
  });
});

describe('warren up --detach', { timeout: TEST_MS }, () => {
  it('returns once every instance is online; status, call, reload and stop drive it; stop ends every process and removes the sockets', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, {
      services: [
        { name: 'upsvc', entry: SERVICE, instances: 2, readyTimeoutMs: 30_000 },
        { name: 'other', entry: SERVICE, env: { FIXTURE_SERVICE: 'other' }, readyTimeoutMs: 30_000 },
      ],
    });
    const { pid, result } = await upDetached(config, socketDir);
    expect(result.stdout).toContain(`3 of 3 instances online (upsvc 2/2, other 1/1); socket directory ${socketDir}`);
    expect(result.stdout).toContain(`its log: ${join(socketDir, 'supervisor.out')}`);

    const before = await status(socketDir);
    expect(before).toMatchObject({ pid, socketDir, configPath: config, state: 'running' });
    const first = instancesOf(before);
    expect(first.map((i) => [i.service, i.slot, i.state])).toEqual([
      ['upsvc', 0, 'online'],
      ['upsvc', 1, 'online'],
      ['other', 0, 'online'],
    ]);
    for (const i of first) expect(isAlive(i.pid as number), `instance pid ${i.pid}`).toBe(true);
    expect(isAlive(pid)).toBe(true);
    expect(sockets(socketDir)).toEqual(['other.0.sock', 'supervisor.sock', 'upsvc.0.sock', 'upsvc.1.sock']);

    const who = await call(socketDir, 'upsvc', 'GET', '/who');
    expect(who.status).toBe(200);
    expect(instancesOf(before, 'upsvc').map((i) => i.pid)).toContain((who.body as { pid: number }).pid);
    expect(await call(socketDir, 'other', 'POST', '/echo', { hello: 'warren' })).toMatchObject({ status: 200, body: { hello: 'warren' } });

    // A rolling reload: every instance replaced by a new process, which serves calls.
    const reload = await cli(['reload', '--socket-dir', socketDir]);
    expect(reload, reload.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(reload.stdout).toMatch(/^no changes; replacing 3 instances\nreloaded upsvc: .*\nreloaded other: /);
    const reloaded = instancesOf(await status(socketDir));
    expect(reloaded.every((i) => i.state === 'online')).toBe(true);
    for (const i of reloaded) {
      expect(first.map((f) => f.pid)).not.toContain(i.pid);
      expect(isAlive(i.pid as number)).toBe(true);
    }
    for (const i of first) await waitFor(`replaced pid ${i.pid} to exit`, () => !isAlive(i.pid as number));
    const again = await call(socketDir, 'upsvc', 'GET', '/who');
    expect(instancesOf(await status(socketDir), 'upsvc').map((i) => i.pid)).toContain((again.body as { pid: number }).pid);

    const stop = await cli(['stop', '--socket-dir', socketDir]);
    expect(stop, stop.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(stop.stdout).toContain(`stopping the supervisor (pid ${pid})`);
    expect(isAlive(pid)).toBe(false);
    for (const i of reloaded) await waitFor(`instance pid ${i.pid} to be gone`, () => !isAlive(i.pid as number));
    expect(sockets(socketDir)).toEqual([]);
    // Nothing answers any more.
    const after = await cli(['status', '--socket-dir', socketDir]);
    expect(after.code).toBe(2);
  });

  it('an instance that crashes at once: exit code 1 naming it; status shows it errored with its exit code and stderr', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, {
      services: [
        { name: 'crashy', entry: fixture('up-crash.mjs'), restart: { minDelayMs: 20, maxDelayMs: 100, maxUnstableRestarts: 1 } },
        { name: 'upsvc', entry: SERVICE, readyTimeoutMs: 30_000 },
      ],
    });
    const result = await cli(['up', '--detach', '--socket-dir', socketDir, config]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain('1 of 2 instances online (crashy 0/1, upsvc 1/1)');
    const pid = Number(/supervisor pid (\d+)/.exec(result.stdout)?.[1]);
    expect(result.stderr).toBe(
      `warren up: WARREN_INSTANCE_ERRORED: crashy.0 (exited 2 times in a row within stableAfterMs; last: code 7) errored; the supervisor (pid ${pid}) is still running: see \`warren status\`, stop it with \`warren stop\`\n`,
    );

    // The supervisor stays up for the healthy service, and says what went wrong with the other.
    const s = await status(socketDir);
    expect(s.pid).toBe(pid);
    const [crashy] = instancesOf(s, 'crashy');
    expect(crashy).toMatchObject({ state: 'errored', pid: null, restarts: 1, lastExit: { code: 7, signal: null } });
    expect(crashy?.stderrTail).toContain('up-crash: DATABASE_URL is not set (fixture)');
    expect(instancesOf(s, 'upsvc')[0]?.state).toBe('online');
    expect((await call(socketDir, 'upsvc', 'GET', '/who')).status).toBe(200);

    const table = await cli(['status', '--socket-dir', socketDir]);
    // An errored instance: the table, then exit code 1 (a health check), one line naming it.
    expect(table.code).toBe(1);
    expect(table.stderr).toMatch(/^warren status: WARREN_INSTANCE_ERRORED: crashy\.0 errored /);
    expect(table.stdout).toMatch(/crashy +0 +- +errored/);
    expect(table.stdout).toContain('crashy.0 errored (slot 0, 1 restart): exit code 7 at ');
    expect(table.stdout).toContain('    up-crash: DATABASE_URL is not set (fixture)');

    expect((await cli(['stop', '--socket-dir', socketDir])).code).toBe(0);
    expect(isAlive(pid)).toBe(false);
    expect(sockets(socketDir)).toEqual([]);
  });

  it('a supervisor that cannot start (a token file that holds no token): exit code 1 with that one message, nothing left running', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE }] });
    mkdirSync(socketDir, { mode: 0o700 });
    const token = join(socketDir, '.auth_token');
    writeFileSync(token, 'not a token\n', { mode: 0o600 });
    const expected = `warren up: WARREN_SOCKET_DIR: token file ${token} does not hold a token`;
    for (const detach of [true, false]) {
      const result = await cli(['up', ...(detach ? ['--detach'] : []), '--socket-dir', socketDir, config]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.startsWith(expected), result.stderr).toBe(true);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(processesUsing(socketDir)).toEqual([]);
      expect(sockets(socketDir)).toEqual([]);
    }
  });

  it('--json: up --detach prints its pid, log and status as one JSON line; stop --json says it stopped', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, readyTimeoutMs: 30_000 }] });
    const up = await cli(['up', '--detach', '--json', '--socket-dir', socketDir, config]);
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout.trimEnd().split('\n')).toHaveLength(1);
    const started = JSON.parse(up.stdout) as { pid: number; log: string; status: SupervisorStatus };
    expect(started).toMatchObject({ log: join(socketDir, 'supervisor.out'), status: { pid: started.pid, socketDir, configPath: config } });
    expect(instancesOf(started.status).map((i) => i.state)).toEqual(['online']);
    const stop = await cli(['stop', '--json', '--socket-dir', socketDir]);
    expect(stop, stop.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(stop.stdout)).toMatchObject({ stopped: true, pid: started.pid, socketDir });
    expect(isAlive(started.pid)).toBe(false);
  });

  it('warren stop with `warren logs -f` connected: the follower is ended by the supervisor, and stop is not held by it', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, readyTimeoutMs: 30_000 }] });
    const { pid } = await upDetached(config, socketDir);
    const follower = spawnCli(['logs', '-f', '--socket-dir', socketDir]);
    let followed = '';
    let followErr = '';
    follower.stdout.on('data', (s: string) => {
      followed += s;
    });
    follower.stderr.on('data', (s: string) => {
      followErr += s;
    });
    const followerExit = new Promise<number | null>((resolve) => follower.once('close', (code) => resolve(code)));
    await waitFor('the follower to print the recent lines', () => followed.includes('ready'));
    const stop = await cli(['stop', '--socket-dir', socketDir]);
    expect(stop, stop.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(isAlive(pid)).toBe(false);
    // Ended by the supervisor as it stopped (it saw the stop), not cut when the connection dropped.
    expect(await followerExit).toBe(1);
    expect(followErr).toBe(`warren logs: WARREN_PEER_CLOSED: the supervisor on ${socketDir} ended the log stream (it is stopping)\n`);
    expect(followed).toContain('stopping');
  });

  it('runs a TypeScript entry and a warren.config.ts through tsx', async () => {
    const { dir, socketDir } = workDir();
    // Found by name in the directory given; type annotations and an interface, as people write them.
    writeConfig(
      dir,
      `interface ServiceEntry {
  name: string;
  entry: string;
  instances?: number;
  readyTimeoutMs?: number;
}

const instances: number = 2;
const typed: ServiceEntry = { name: 'typed', entry: ${JSON.stringify(fixture('up-typed-service.ts'))}, instances, readyTimeoutMs: 30_000 };

export default { logLevel: 'info', services: [typed] satisfies ServiceEntry[] };
`,
      'warren.config.ts',
    );
    const { pid } = await upDetached(dir, socketDir);
    const s = await status(socketDir);
    expect(s).toMatchObject({ pid, configPath: join(dir, 'warren.config.ts') });
    const typed = instancesOf(s, 'typed');
    expect(typed.map((i) => i.state)).toEqual(['online', 'online']);
    for (const i of typed) expect(isAlive(i.pid as number)).toBe(true);
    const hello = await call(socketDir, 'typed', 'GET', '/hello/ada');
    expect(hello.status).toBe(200);
    expect(hello.body).toMatchObject({ hello: 'ada' });
    expect(typed.map((i) => i.pid)).toContain((hello.body as { pid: number }).pid);

    expect((await cli(['stop', '--socket-dir', socketDir])).code).toBe(0);
    for (const i of typed) await waitFor(`instance pid ${i.pid} to be gone`, () => !isAlive(i.pid as number));
  });
});

describe('warren up in the foreground', { timeout: TEST_MS }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`prints a line per instance as it comes up; ${signal} stops it with exit code 0 and no instance outlives it`, async () => {
      const { dir, socketDir } = workDir();
      const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, instances: 2, readyTimeoutMs: 30_000 }] });
      const up = foreground(['--socket-dir', socketDir, config]);

      const ready = await up.lines('a ready line per instance', (r) => r.service === 'upsvc' && READY.test(r.msg ?? ''), 2);
      expect(ready.map((r) => r.instance).sort()).toEqual([0, 1]);
      await up.lines('the summary', (r) => r.msg === `2 of 2 instances online (upsvc 2/2); socket directory ${socketDir}`);
      const pids = ready.map((r) => readyPid(r.msg));
      const s = await status(socketDir);
      expect(s.pid).toBe(up.child.pid);
      expect(instancesOf(s).map((i) => i.pid)).toEqual(expect.arrayContaining(pids));
      expect((await call(socketDir, 'upsvc', 'POST', '/echo', [1, 2])).body).toEqual([1, 2]);

      if (signal === 'SIGTERM') {
        // SIGHUP reloads: two new processes, each with its ready line.
        up.child.kill('SIGHUP');
        await up.lines('the reload', (r) => r.msg === 'reloaded 2 instances');
        const all = await up.lines('ready lines of the new processes', (r) => r.service === 'upsvc' && READY.test(r.msg ?? ''), 4);
        pids.splice(0, pids.length, ...new Set(all.map((r) => readyPid(r.msg))));
        expect(pids).toHaveLength(4);
      }

      up.child.kill(signal);
      const exit = await Promise.race([
        up.exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`warren up did not exit after ${signal}`)), COMMAND_MS)),
      ]);
      expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
      expect(up.stderr()).toBe('');
      expect(up.records.some((r) => r.msg === 'stopped')).toBe(true);
      for (const pid of pids) await waitFor(`instance pid ${pid} to be gone`, () => !isAlive(pid));
      expect(sockets(socketDir)).toEqual([]);
    });
  }
});

describe('warren up in the foreground, stopped early', { timeout: TEST_MS }, () => {
  it('WARREN_LOG_PRETTY=1 gives pretty lines even without a terminal (JSON lines otherwise)', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, readyTimeoutMs: 30_000 }] });
    const up = foreground(['--socket-dir', socketDir, config], { WARREN_LOG_PRETTY: '1' });
    // Not JSON, so read as a bare msg: `[12:34:56.789] INFO: [upsvc.0] ready (pid 123)`.
    const [line] = await up.lines('a pretty ready line', (r) =>
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[upsvc\.0\] ready \(pid \d+\)$/.test(r.msg ?? ''),
    );
    expect(
      up.records.every((r) => r.level === undefined),
      'no JSON line',
    ).toBe(true);
    up.child.kill('SIGTERM');
    expect(await up.exited).toEqual({ code: 0, signal: null });
    await waitFor('the instance to be gone', () => !isAlive(Number(/pid (\d+)/.exec(line?.msg ?? '')?.[1])));
  });

  it('SIGTERM while the instances are still starting: exit code 0, and none of them outlives it', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, instances: 2, readyTimeoutMs: 30_000 }] });
    const up = foreground(['--socket-dir', socketDir, config]);
    const started = await up.lines('a started line per instance', (r) => /^started \(pid \d+\)$/.test(r.msg ?? ''), 2);
    up.child.kill('SIGTERM');
    const exit = await Promise.race([
      up.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('warren up did not exit after SIGTERM')), COMMAND_MS)),
    ]);
    expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
    for (const r of started) {
      const pid = Number(/\d+/.exec(r.msg ?? '')?.[0]);
      await waitFor(`instance pid ${pid} to be gone`, () => !isAlive(pid));
    }
    expect(sockets(socketDir)).toEqual([]);
  });
});

describe('warren up and other supervisors', { timeout: TEST_MS }, () => {
  it('after a SIGKILL of the supervisor its instances exit, and a new `warren up` starts cleanly over the stale sockets', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, {
      services: [
        // A long restart delay: an instance killed below stays down until the supervisor is killed too.
        { name: 'upsvc', entry: SERVICE, instances: 2, readyTimeoutMs: 30_000, restart: { minDelayMs: 600_000, maxDelayMs: 600_000 } },
      ],
    });
    const { pid } = await upDetached(config, socketDir);
    const [zero, one] = instancesOf(await status(socketDir));
    const zeroPid = zero?.pid as number;
    const onePid = one?.pid as number;

    // upsvc.0 dies by SIGKILL: its socket stays behind (stale). Then the supervisor, by SIGKILL too.
    kill(zeroPid, 'SIGKILL');
    await waitFor('upsvc.0 to wait for its restart', async () => instancesOf(await status(socketDir))[0]?.state === 'restarting');
    expect(isAlive(zeroPid)).toBe(false);
    kill(pid, 'SIGKILL');
    await waitFor('the supervisor to be gone', () => !isAlive(pid));
    // upsvc.1 sees its IPC channel close and shuts down by itself (removing its own socket).
    await waitFor('upsvc.1 to exit after losing its supervisor', () => !isAlive(onePid));
    expect(sockets(socketDir)).toEqual(['supervisor.sock', 'upsvc.0.sock']);
    const dead = await cli(['status', '--socket-dir', socketDir]);
    expect(dead.code).toBe(2);

    const second = await upDetached(config, socketDir);
    expect(second.pid).not.toBe(pid);
    const s = await status(socketDir);
    expect(s.pid).toBe(second.pid);
    const fresh = instancesOf(s);
    expect(fresh.map((i) => [i.instance, i.state])).toEqual([
      [0, 'online'],
      [1, 'online'],
    ]);
    for (const i of fresh) {
      expect([zeroPid, onePid]).not.toContain(i.pid);
      expect(isAlive(i.pid as number)).toBe(true);
    }
    expect(sockets(socketDir)).toEqual(['supervisor.sock', 'upsvc.0.sock', 'upsvc.1.sock']);
    const log = readFileSync(join(socketDir, 'supervisor.out'), 'utf8');
    expect(log).toContain(`removed stale socket ${join(socketDir, 'upsvc.0.sock')}`);
    // Calls reach the new processes only.
    const answers = await Promise.all([1, 2, 3, 4].map(() => call(socketDir, 'upsvc', 'GET', '/who')));
    for (const a of answers) expect(fresh.map((i) => i.pid)).toContain((a.body as { pid: number }).pid);

    expect((await cli(['stop', '--socket-dir', socketDir])).code).toBe(0);
    for (const i of fresh) await waitFor(`instance pid ${i.pid} to be gone`, () => !isAlive(i.pid as number));
  });

  it('a new `warren up` kills the instances a SIGKILLed supervisor left that did not exit by themselves', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: STUBBORN, readyTimeoutMs: 30_000 }] });
    const { pid } = await upDetached(config, socketDir);
    const stubborn = instancesOf(await status(socketDir))[0]?.pid as number;
    kill(pid, 'SIGKILL');
    await waitFor('the supervisor to be gone', () => !isAlive(pid));
    // It answers still, orphaned (its IPC channel closed and it stayed).
    expect((await call(socketDir, 'upsvc', 'GET', '/who')).body).toMatchObject({ pid: stubborn });

    const second = await upDetached(config, socketDir);
    expect(isAlive(stubborn)).toBe(false);
    const log = readFileSync(join(socketDir, 'supervisor.out'), 'utf8');
    expect(log).toContain(`killed pid ${stubborn}, left running by supervisor ${pid} that is gone`);
    const fresh = instancesOf(await status(socketDir));
    expect(fresh.map((i) => i.state)).toEqual(['online']);
    expect(fresh[0]?.pid).not.toBe(stubborn);
    expect((await call(socketDir, 'upsvc', 'GET', '/who')).body).toMatchObject({ pid: fresh[0]?.pid });
    expect((await cli(['stop', '--socket-dir', socketDir])).code).toBe(0);
    await waitFor('the second supervisor to be gone', () => !isAlive(second.pid));
  });

  it('a second `warren up` on the same socket directory refuses with exit code 1 (WARREN_ALREADY_RUNNING); the first runs on unharmed', async () => {
    const { dir, socketDir } = workDir();
    const config = writeConfig(dir, { services: [{ name: 'upsvc', entry: SERVICE, instances: 2, readyTimeoutMs: 30_000 }] });
    const { pid } = await upDetached(config, socketDir);
    const before = await status(socketDir);
    const log = join(socketDir, 'supervisor.out');
    const logBefore = readFileSync(log, 'utf8');

    const expected = `WARREN_ALREADY_RUNNING: another supervisor is running on ${socketDir} (its control socket ${join(socketDir, 'supervisor.sock')} answers)`;
    for (const detach of [false, true]) {
      const second = await cli(['up', ...(detach ? ['--detach'] : []), '--socket-dir', socketDir, config]);
      expect(second.code, second.stderr).toBe(1);
      expect(second.stderr).toContain(`warren up: ${expected}`);
      // One clear message, not buried in the running supervisor's log.
      expect(second.stderr.split(expected)).toHaveLength(2);
      expect(second.stderr).not.toContain('"msg"');
      // It names what the other supervisor runs, from its status: one line.
      expect(second.stderr).toContain(`; it runs config ${config} (pid ${pid})\n`);
      expect(second.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    // The first supervisor's log is its own: the refused ones wrote nothing into it.
    expect(readFileSync(log, 'utf8')).toBe(logBefore);

    const after = await status(socketDir);
    expect(after.pid).toBe(pid);
    expect(after.startedAt).toBe(before.startedAt);
    expect(instancesOf(after).map((i) => [i.pid, i.state, i.restarts])).toEqual(instancesOf(before).map((i) => [i.pid, 'online', 0]));
    for (const i of instancesOf(after)) expect(isAlive(i.pid as number)).toBe(true);
    expect(sockets(socketDir)).toEqual(['supervisor.sock', 'upsvc.0.sock', 'upsvc.1.sock']);
    expect((await call(socketDir, 'upsvc', 'GET', '/who')).status).toBe(200);

    expect((await cli(['stop', '--socket-dir', socketDir])).code).toBe(0);
    for (const i of instancesOf(after)) await waitFor(`instance pid ${i.pid} to be gone`, () => !isAlive(i.pid as number));
  });
});

describe('default socket directories: one per project', { timeout: TEST_MS }, () => {
  it('two projects without a socketDir both start; status, stop and call find each one from its directory or below', async () => {
    const { dir: runtime } = workDir();
    // XDG_RUNTIME_DIR as a fresh directory: the defaults live under <runtime>/warren.
    const env = { XDG_RUNTIME_DIR: runtime };
    const projects = ['shop', 'blog'].map((name) => {
      const { dir } = workDir();
      const project = join(dir, name);
      mkdirSync(join(project, 'sub'), { recursive: true });
      writeConfig(project, { services: [{ name: 'upsvc', entry: SERVICE, readyTimeoutMs: 30_000 }] });
      return project;
    });
    const started: { project: string; pid: number; socketDir: string }[] = [];
    try {
      for (const project of projects) {
        const up = await cli(['up', '--detach', '--json'], { cwd: project, env });
        expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
        const { pid, status: s } = JSON.parse(up.stdout) as { pid: number; status: SupervisorStatus };
        started.push({ project, pid, socketDir: s.socketDir });
        expect(s.socketDir.startsWith(join(runtime, 'warren', `${basename(project)}-`))).toBe(true);
        expect(s.configPath).toBe(join(project, 'warren.config.json'));
      }
      expect(started[0]?.socketDir).not.toBe(started[1]?.socketDir);
      for (const { project, pid, socketDir } of started) {
        const fromSub = await cli(['status', '--json'], { cwd: join(project, 'sub'), env });
        expect(fromSub, fromSub.stderr).toMatchObject({ code: 0 });
        expect(JSON.parse(fromSub.stdout)).toMatchObject({ pid, socketDir });
        const who = await cli(['call', 'upsvc', 'GET', '/who', '--json'], { cwd: project, env });
        expect(who, who.stderr).toMatchObject({ code: 0 });
      }
      // A second `warren up` of the same project is refused, naming the running one's config.
      const again = await cli(['up'], { cwd: projects[0] as string, env });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`; it runs config ${join(projects[0] as string, 'warren.config.json')} (pid ${started[0]?.pid})`);
    } finally {
      for (const { project, pid } of started) {
        const stop = await cli(['stop'], { cwd: project, env });
        expect(stop, stop.stderr).toMatchObject({ code: 0 });
        expect(isAlive(pid)).toBe(false);
      }
    }
  });
});

describe('Supervisor.stop() while start() is still taking the socket directory', { timeout: TEST_MS }, () => {
  // What `warren up` does when SIGTERM arrives just after it installed its handlers: the stop must
  // win, and start() must not spawn instances (or keep the control socket open) after it.
  it('starts no instance and leaves no control socket behind', async () => {
    const { dir, socketDir } = workDir();
    const config = parseConfig({ socketDir, services: [{ name: 'upsvc', entry: SERVICE }] }, { baseDir: dir, env: {} });
    const events: string[] = [];
    const supervisor = new Supervisor(config, {
      output: { event: (_level, service, instance, msg) => events.push(`${service}.${instance} ${msg}`), line: () => {} },
    });
    const started = supervisor.start();
    await supervisor.stop('test');
    const status = await started;
    expect(status.state).toBe('stopped');
    expect(instancesOf(status).map((i) => [i.state, i.pid])).toEqual([['stopped', null]]);
    expect(events.filter((e) => e.includes('started (pid'))).toEqual([]);
    expect(sockets(socketDir)).toEqual([]);
    expect(supervisor.status().state).toBe('stopped');
  });
});
