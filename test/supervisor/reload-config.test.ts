/**
 * A reload applies the config file as it is now: with real service processes and a config file
 * edited on disk between reloads. Services scaled up and down, env changes by a rolling replace
 * that fails no call, services added and removed, a config that does not validate refused with
 * nothing changed, `reload(service)` for one service; then scale, stopService and startService.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServiceClient, ServiceResponse } from '../../src/service/index.js';
import { type InstanceStatus, loadConfig, Supervisor } from '../../src/supervisor/index.js';
import { isGone } from '../support/processes.js';
import { load, Recorder, rejection, supervisorFixture, until, useSupervisors } from '../support/supervised.js';

const ENTRY = supervisorFixture('env-service.mjs');
const TEST_MS = 180_000;
const sup = useSupervisors();

type Services = Record<string, { instances?: number; greeting?: string; extra?: Record<string, unknown> }>;

/** A config file in a fresh directory; `write` replaces its content (as a person editing it would). */
function configFile(services: Services) {
  const dir = sup.tempDir('wr-');
  const socketDir = join(dir, 'run');
  const path = join(dir, 'warren.config.json');
  const write = (next: Services, top: Record<string, unknown> = {}) => {
    const list = Object.entries(next).map(([name, s]) => ({
      name,
      entry: ENTRY,
      instances: s.instances ?? 1,
      env: { FIXTURE_SERVICE: name, ...(s.greeting === undefined ? {} : { GREETING: s.greeting }) },
      ...s.extra,
    }));
    writeFileSync(path, JSON.stringify({ socketDir, services: list, ...top }, null, 2));
  };
  write(services);
  return { dir, socketDir, path, write, writeRaw: (text: string) => writeFileSync(path, text) };
}

async function supervise(path: string): Promise<{ supervisor: Supervisor; rec: Recorder }> {
  // env {}: this process's WARREN_* variables do not steer the test's config.
  const read = () => loadConfig(path, { env: {} });
  const rec = new Recorder();
  const supervisor = new Supervisor(await read(), { output: rec.output, reportIntervalMs: 100, loadConfig: read });
  sup.adopt(supervisor, rec);
  await supervisor.start();
  return { supervisor, rec };
}

const client = (socketDir: string): ServiceClient => sup.client(socketDir);

const of = (supervisor: Supervisor, service: string): InstanceStatus[] =>
  supervisor.status().services.find((s) => s.name === service)?.instances ?? [];
const names = (supervisor: Supervisor) => supervisor.status().services.map((s) => s.name);
const pids = (supervisor: Supervisor, service: string) => of(supervisor, service).map((i) => i.pid);
const states = (supervisor: Supervisor, service: string) => of(supervisor, service).map((i) => i.state);

function body(response: ServiceResponse): { pid: number; instance: number; greeting: string | null } {
  if (response.status !== 200) throw new Error(`status ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as { pid: number; instance: number; greeting: string | null };
}

describe('reload re-reads the config file', { timeout: TEST_MS }, () => {
  it('scales up and down, adds and removes services, replaces on an env change without failing a call, and replaces all when nothing changed', async () => {
    const file = configFile({ users: { instances: 2, greeting: 'hello' }, legacy: {} });
    const { supervisor, rec } = await supervise(file.path);
    const users = client(file.socketDir).service('users');
    const firstUsers = pids(supervisor, 'users');
    const legacyPid = pids(supervisor, 'legacy')[0] as number;

    // Scale up, add, remove: the instances kept are not touched.
    file.write({ users: { instances: 3, greeting: 'hello' }, billing: {} });
    const grown = await supervisor.reload();
    expect(grown.changes).toEqual(['users: instances 2 → 3', '+ billing (1 instance)', '- legacy']);
    expect(grown.replaced).toEqual([]);
    expect(names(supervisor)).toEqual(['users', 'billing']);
    expect(states(supervisor, 'users')).toEqual(['online', 'online', 'online']);
    expect(of(supervisor, 'users').map((i) => i.slot)).toEqual([0, 1, 2]);
    expect(pids(supervisor, 'users').slice(0, 2)).toEqual(firstUsers);
    expect(states(supervisor, 'billing')).toEqual(['online']);
    expect(isGone(legacyPid), 'the removed service was stopped').toBe(true);
    expect(supervisor.config.services.map((s) => [s.name, s.instances])).toEqual([
      ['users', 3],
      ['billing', 1],
    ]);
    expect(body(await client(file.socketDir).service('billing').get('/env')).greeting).toBeNull();

    // An env change, with fewer instances, under calls: the two kept are replaced, none fails.
    file.write({ users: { instances: 2, greeting: 'bonjour' }, billing: {} });
    const before = pids(supervisor, 'users');
    const calls = load(async () => body(await users.get('/env')).pid, { callers: 8, maxMs: 120_000 });
    let changed: Awaited<ReturnType<Supervisor['reload']>>;
    try {
      await until(() => calls.result.served >= 50, 'calls before the reload');
      changed = await supervisor.reload();
      const servedAfter = calls.result.served;
      await until(() => calls.result.served >= servedAfter + 50, 'calls after the reload');
    } finally {
      await calls.stop();
    }
    expect(calls.result.failures).toEqual([]);
    expect(changed.changes).toEqual(['users: instances 3 → 2; env (GREETING) changed, replacing 2 instances']);
    expect(changed.replaced.map((r) => [r.service, r.slot])).toEqual([
      ['users', 0],
      ['users', 1],
    ]);
    const after = pids(supervisor, 'users');
    expect(after).toHaveLength(2);
    for (const pid of before) expect(isGone(pid as number), `old users pid ${pid} still runs`).toBe(true);
    // Every process that answers now has the new environment.
    const seen = new Map<number, string | null>();
    await until(async () => {
      const answer = body(await users.get('/env'));
      seen.set(answer.pid, answer.greeting);
      return after.every((pid) => seen.has(pid as number));
    }, 'an answer from each new users process');
    expect([...seen.values()].every((greeting) => greeting === 'bonjour')).toBe(true);
    expect(rec.matching(/^reload: /)).toContain(
      'info users.null reload: users: instances 3 → 2; env (GREETING) changed, replacing 2 instances',
    );

    // Nothing changed: every instance is replaced, as a reload always did.
    const same = await supervisor.reload();
    expect(same.changes).toEqual(['no changes; replacing 3 instances']);
    expect(same.replaced.map((r) => `${r.service}.${r.slot}`)).toEqual(['users.0', 'users.1', 'billing.0']);
    for (const pid of after) expect(isGone(pid as number)).toBe(true);
    expect(states(supervisor, 'users')).toEqual(['online', 'online']);
  });

  it('a service added by a reload has its stale socket removed first; a removed one shows as draining in status until it has stopped', async () => {
    const file = configFile({ users: {}, legacy: {} });
    const { supervisor, rec } = await supervise(file.path);
    // A socket file left by a process killed with SIGKILL: nothing listens on it.
    const stale = join(file.socketDir, 'billing.0.sock');
    spawnSync(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`],
      {
        stdio: 'ignore',
      },
    );
    expect(existsSync(stale)).toBe(true);

    // legacy holds a call in flight, so that it drains for a while after the reload drops it.
    const legacy = client(file.socketDir).service('legacy');
    const slow = legacy.get('/slow?ms=1500');
    await until(() => rec.lines.includes('legacy.0 stdout slow call began'), 'the slow call running on legacy');
    file.write({ users: {}, billing: {} });
    const reloading = supervisor.reload();
    await until(() => states(supervisor, 'legacy').includes('draining'), 'legacy shown as draining while it drains');
    expect((await slow).body).toBe('done');
    const result = await reloading;
    expect(result.changes).toEqual(['+ billing (1 instance)', '- legacy']);
    expect(names(supervisor)).toEqual(['users', 'billing']);
    expect(rec.matching(/removed stale socket/)).toEqual([`info billing.0 removed stale socket ${stale}`]);
    expect(body(await client(file.socketDir).service('billing').get('/env')).instance).toBe(0);
  });

  it('refuses a config that does not validate, or moves the socket directory, with the start-up message; nothing changes', async () => {
    const file = configFile({ users: { instances: 2 } });
    const { supervisor } = await supervise(file.path);
    const running = pids(supervisor, 'users');

    file.writeRaw(JSON.stringify({ socketDir: file.socketDir, services: [{ name: 'users', entry: ENTRY, instances: '3' }] }));
    const invalid = await rejection(supervisor.reload());
    expect(invalid.code).toBe('WARREN_CONFIG');
    expect(invalid.message).toBe(
      `reload refused, nothing was changed: invalid config ${file.path} (1 problem):\n  services[0].instances: expected a whole number from 1 to 256, got "3"`,
    );

    file.writeRaw('{ "services": [ }');
    const broken = await rejection(supervisor.reload('users'));
    expect(broken.code).toBe('WARREN_CONFIG');
    expect(broken.message).toBe(
      `reload refused, nothing was changed: config file ${file.path} is not valid JSON: Unexpected token '}' at line 1, column 17`,
    );

    file.writeRaw(JSON.stringify({ socketDir: file.socketDir, services: [{ name: 'users', entry: join(file.dir, 'missing.mjs') }] }));
    expect((await rejection(supervisor.reload())).message).toContain(`entry file ${join(file.dir, 'missing.mjs')} does not exist`);

    file.write({ users: { instances: 2 } }, { socketDir: join(file.dir, 'elsewhere') });
    const moved = await rejection(supervisor.reload());
    expect(moved.code).toBe('WARREN_CONFIG');
    expect(moved.message).toContain(
      `socketDir: ${file.socketDir} → ${join(file.dir, 'elsewhere')}: a reload cannot move the socket directory`,
    );

    expect(pids(supervisor, 'users')).toEqual(running);
    expect(states(supervisor, 'users')).toEqual(['online', 'online']);
    expect(supervisor.config.services.map((s) => s.instances)).toEqual([2]);

    // Fixed: applied; a start-only setting is reported, not applied.
    file.write({ users: { instances: 1 } }, { logLevel: 'debug' });
    const fixed = await supervisor.reload();
    expect(fixed.changes).toEqual([
      'logLevel: info → debug: not applied by a reload; takes effect at the next `warren up`',
      'users: instances 2 → 1',
    ]);
    expect(pids(supervisor, 'users')).toEqual(running.slice(0, 1));
    expect(isGone(running[1] as number)).toBe(true);
  });

  it('reload(service) applies only that service: changed, added or removed; an unknown name is refused', async () => {
    const file = configFile({ users: { greeting: 'a' }, orders: {} });
    const { supervisor } = await supervise(file.path);
    const orders = pids(supervisor, 'orders');
    file.write({ users: { greeting: 'b' }, orders: { instances: 2 }, billing: {} });

    const one = await supervisor.reload('users');
    expect(one.changes).toEqual(['users: env (GREETING) changed, replacing 1 instance']);
    expect(one.replaced.map((r) => r.service)).toEqual(['users']);
    expect(pids(supervisor, 'orders')).toEqual(orders);
    expect(names(supervisor)).toEqual(['users', 'orders']);

    expect((await supervisor.reload('billing')).changes).toEqual(['+ billing (1 instance)']);
    expect(states(supervisor, 'billing')).toEqual(['online']);
    expect((await supervisor.reload('orders')).changes).toEqual(['orders: instances 1 → 2']);
    expect(pids(supervisor, 'orders')[0]).toBe(orders[0]);

    const again = await supervisor.reload('users');
    expect(again.changes).toEqual(['users: no changes; replacing 1 instance']);

    file.write({ users: { greeting: 'b' } });
    expect((await supervisor.reload('orders')).changes).toEqual(['- orders']);
    expect(names(supervisor)).toEqual(['users', 'billing']);

    const unknown = await rejection(supervisor.reload('nope'));
    expect(unknown.code).toBe('WARREN_UNKNOWN_SERVICE');
    expect(unknown.message).toBe("no service 'nope' in this supervisor (known: users, billing)");
  });
});

describe('a reload whose new process cannot start', { timeout: TEST_MS }, () => {
  it('answers the error; the old process goes on serving; a fixed file applies on the next reload', async () => {
    const file = configFile({ users: { greeting: 'old' } });
    const { supervisor } = await supervise(file.path);
    const users = client(file.socketDir).service('users');
    const [pid] = pids(supervisor, 'users');
    file.write({ users: { greeting: 'old', extra: { entry: supervisorFixture('crash-at-once.mjs') } } });

    const failed = await rejection(supervisor.reload());
    expect(failed.code).toBe('WARREN_SPAWN');
    // The successor's own failure (process.ts words it): it names the new instance.
    expect(failed.message).toMatch(/^users\.\d+ /);
    expect(pids(supervisor, 'users')).toEqual([pid]);
    expect(states(supervisor, 'users')).toEqual(['online']);
    expect(body(await users.get('/env'))).toMatchObject({ pid, greeting: 'old' });

    file.write({ users: { greeting: 'new' } });
    expect((await supervisor.reload()).changes).toEqual(['users: entry, env (GREETING) changed, replacing 1 instance']);
    expect(body(await users.get('/env')).greeting).toBe('new');
  });
});

describe('scale, stopService and startService', { timeout: TEST_MS }, () => {
  it('scale changes the count until a reload applies the file again; stop and start one service while the others run', async () => {
    const file = configFile({ users: {}, orders: {} });
    const { supervisor } = await supervise(file.path);
    const first = pids(supervisor, 'users')[0];

    expect(await supervisor.scale('users', 3)).toEqual({ service: 'users', from: 1, to: 3, stopped: false });
    expect(states(supervisor, 'users')).toEqual(['online', 'online', 'online']);
    expect(pids(supervisor, 'users')[0]).toBe(first);
    const three = pids(supervisor, 'users');
    expect(await supervisor.scale('users', 2)).toEqual({ service: 'users', from: 3, to: 2, stopped: false });
    expect(isGone(three[2] as number)).toBe(true);
    expect(pids(supervisor, 'users')).toEqual(three.slice(0, 2));
    for (const bad of [0, 257, 1.5]) {
      const error = await rejection(supervisor.scale('users', bad));
      expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect(error.message).toBe(`instances must be a whole number from 1 to 256, got ${bad}`);
    }
    expect((await rejection(supervisor.scale('nope', 2))).code).toBe('WARREN_UNKNOWN_SERVICE');

    // The file still says 1: a reload applies it again.
    expect((await supervisor.reload()).changes).toEqual(['users: instances 2 → 1']);
    expect(pids(supervisor, 'users')).toEqual([first]);

    // Stop one service: its instances drain and stop, the other runs on.
    const ordersPid = pids(supervisor, 'orders')[0];
    expect(await supervisor.stopService('users')).toEqual({ service: 'users', stopped: 1 });
    expect(isGone(first as number)).toBe(true);
    expect(of(supervisor, 'users').map((i) => [i.state, i.pid])).toEqual([['stopped', null]]);
    expect(states(supervisor, 'orders')).toEqual(['online']);
    expect(supervisor.status().state).toBe('running');

    // A stopped service stays stopped through a reload and a scale; its new settings are kept for its start.
    file.write({ users: { greeting: 'later' }, orders: {} });
    expect((await supervisor.reload()).changes).toEqual([
      'users: env (GREETING) changed, applied when it is started (stopped: nothing started; `warren start users` uses the new settings)',
    ]);
    expect(await supervisor.scale('users', 2)).toEqual({ service: 'users', from: 1, to: 2, stopped: true });
    expect(states(supervisor, 'users')).toEqual(['stopped', 'stopped']);
    expect((await supervisor.reload()).changes).toEqual([
      'users: instances 2 → 1 (stopped: nothing started; `warren start users` uses the new settings)',
    ]);
    expect(pids(supervisor, 'orders')).toEqual([ordersPid]);
    expect((await supervisor.reload('users')).changes).toEqual([
      'users: no changes; it is stopped, nothing to replace (`warren start users` starts it)',
    ]);

    expect(await supervisor.startService('users')).toEqual({ service: 'users', started: 1 });
    expect(states(supervisor, 'users')).toEqual(['online']);
    expect(body(await client(file.socketDir).service('users').get('/env')).greeting).toBe('later');
    expect(await supervisor.startService('users')).toEqual({ service: 'users', started: 0 });
    expect((await rejection(supervisor.stopService('nope'))).code).toBe('WARREN_UNKNOWN_SERVICE');
  });
});
