// `warren reload`, `scale`, `stop <service>`, `start <service>` and SIGHUP end to end: the built CLI
// (npm test builds first) as real processes, on real service processes, with the config file
// edited on disk between reloads. afterEach stops what a test left running (`warren stop`, then
// SIGKILL of every process whose environment names the test's socket directory) and fails the test
// if anything was left.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SupervisorStatus } from '../../src/supervisor/index.js';
import { useCli } from '../support/cli.js';
import { isGone } from '../support/processes.js';
import { supervisorFixture } from '../support/supervised.js';
import { until } from '../support/until.js';

const ENTRY = supervisorFixture('env-service.mjs');
const TEST_MS = 180_000;

const { run: cli, start: startCli, workDir } = useCli();

type Services = Record<string, { instances?: number; greeting?: string }>;

/** A fresh directory with a config file (sockets in `<dir>/s`); `write` replaces the file's content. */
function project(services: Services) {
  const { dir, socketDir } = workDir('wl-');
  const path = join(dir, 'warren.config.json');
  const write = (next: Services) => {
    const list = Object.entries(next).map(([name, s]) => ({
      name,
      entry: ENTRY,
      instances: s.instances ?? 1,
      env: { FIXTURE_SERVICE: name, ...(s.greeting === undefined ? {} : { GREETING: s.greeting }) },
    }));
    writeFileSync(path, JSON.stringify({ services: list }, null, 2));
  };
  write(services);
  const run = (...args: string[]) => cli([...args, '--socket-dir', socketDir]);
  const status = async (): Promise<SupervisorStatus> => {
    const result = await run('status', '--json');
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as SupervisorStatus;
  };
  return { dir, socketDir, path, write, run, status, writeRaw: (text: string) => writeFileSync(path, text) };
}

const table = (s: SupervisorStatus) => s.services.map((svc) => `${svc.name}: ${svc.instances.map((i) => i.state).join(' ')}`);
const pidsOf = (s: SupervisorStatus, name: string) => s.services.find((x) => x.name === name)?.instances.map((i) => i.pid) ?? [];

describe('warren reload, scale, stop and start of a service', { timeout: TEST_MS }, () => {
  it('reload prints what changed in the file and applies it; an invalid file is refused in one line; scale, stop and start a service; stop with nothing running exits 0', async () => {
    const p = project({ users: { greeting: 'hello' }, legacy: {} });
    const up = await cli(['up', '--detach', '--socket-dir', p.socketDir, p.path]);
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
    const legacy = pidsOf(await p.status(), 'legacy')[0] as number;

    p.write({ users: { instances: 2, greeting: 'bonjour' }, billing: {} });
    const reload = await p.run('reload');
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    const lines = reload.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'users: instances 1 → 2; env (GREETING) changed, replacing 1 instance',
      '+ billing (1 instance)',
      '- legacy',
    ]);
    expect(lines[3]).toMatch(/^reloaded users: 0 → \d+$/);
    expect(lines).toHaveLength(4);
    expect(table(await p.status())).toEqual(['users: online online', 'billing: online']);
    expect(isGone(legacy)).toBe(true);
    const answer = await p.run('call', 'users', 'GET', '/env', '--json');
    expect(JSON.parse(answer.stdout).body.greeting).toBe('bonjour');

    // An edit that does not validate: refused in one line, everything runs on.
    const before = await p.status();
    p.writeRaw(JSON.stringify({ services: [{ name: 'users', entry: ENTRY, instances: 0 }] }));
    const refused = await p.run('reload');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `warren reload: WARREN_CONFIG: reload refused, nothing was changed: invalid config ${p.path} (1 problem): services[0].instances: expected a whole number from 1 to 256, got 0\n`,
    );
    expect(pidsOf(await p.status(), 'users')).toEqual(pidsOf(before, 'users'));

    // Unchanged file: every instance replaced, as before.
    p.write({ users: { instances: 2, greeting: 'bonjour' }, billing: {} });
    const same = await p.run('reload', 'users');
    expect(same).toMatchObject({ code: 0, stderr: '' });
    expect(same.stdout).toMatch(/^users: no changes; replacing 2 instances\nreloaded users: \d+ → \d+, \d+ → \d+\n$/);

    const scaled = await p.run('scale', 'users', '3');
    expect(scaled).toEqual({
      code: 0,
      signal: null,
      stdout: "scaled users: instances 2 → 3 (done); until the next reload, which applies the config file's count\n",
      stderr: '',
    });
    expect(table(await p.status())).toEqual(['users: online online online', 'billing: online']);
    const badScale = await p.run('scale', 'users', 'many');
    expect(badScale.code).toBe(2);
    expect(badScale.stderr).toContain("instances must be a whole number of at least 1, got 'many'");

    const stopped = await p.run('stop', 'users');
    expect(stopped).toEqual({
      code: 0,
      signal: null,
      stdout: 'stopped users: 3 instances drained; `warren start users` starts it again\n',
      stderr: '',
    });
    const afterStop = await p.status();
    expect(table(afterStop)).toEqual(['users: stopped stopped stopped', 'billing: online']);
    expect(afterStop.state).toBe('running');

    const started = await p.run('start', 'users');
    expect(started).toEqual({ code: 0, signal: null, stdout: 'started users: 3 instances; 3 of 3 online\n', stderr: '' });
    const again = await p.run('start', 'users');
    expect(again.stdout).toBe('users is already running (no stopped or errored instance); `warren restart users` restarts it\n');
    const unknown = await p.run('stop', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("warren stop: WARREN_UNKNOWN_SERVICE: no service 'nope' in this supervisor (known: users, billing)\n");

    // The reload applies the file's count again.
    expect((await p.run('reload')).stdout.split('\n')[0]).toBe('users: instances 3 → 2');

    const stop = await p.run('stop');
    expect(stop.code).toBe(0);
    const nothing = await p.run('stop');
    expect(nothing).toEqual({
      code: 0,
      signal: null,
      stdout: `nothing to stop: no supervisor is running on ${p.socketDir} (no ${join(p.socketDir, 'supervisor.sock')})\n`,
      stderr: '',
    });
    expect((await p.run('stop', 'users')).code).toBe(0);
  });

  it('SIGHUP to a foreground `warren up` re-reads the file and logs what changed', async () => {
    const p = project({ users: {} });
    const { child } = startCli(['up', '--socket-dir', p.socketDir, p.path]);
    const records: { msg?: string }[] = [];
    let rest = '';
    child.stdout.on('data', (s: string) => {
      const parts = (rest + s).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) records.push(JSON.parse(line) as { msg?: string });
    });
    let stderr = '';
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    const logged = (msg: string) =>
      until(() => records.some((r) => r.msg === msg), { message: () => `the line "${msg}" (stderr: ${stderr})`, timeoutMs: 30_000 });
    await logged(`1 of 1 instances online (users 1/1); socket directory ${p.socketDir}`);

    p.write({ users: { instances: 2 }, billing: {} });
    child.kill('SIGHUP');
    await logged('reload: users: instances 1 → 2');
    await logged('reload: + billing (1 instance)');
    await logged('reloaded 0 instances');
    expect(table(await p.status())).toEqual(['users: online online', 'billing: online']);

    // A broken file: the reload fails with the reason, the supervisor runs on.
    p.writeRaw('{');
    child.kill('SIGHUP');
    await until(() => records.some((r) => r.msg?.startsWith('reload failed: WARREN_CONFIG: reload refused, nothing was changed: ')), {
      message: 'the failed reload',
      timeoutMs: 30_000,
    });
    expect(table(await p.status())).toEqual(['users: online online', 'billing: online']);

    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
