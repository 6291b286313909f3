/**
 * `standby: N` with real processes: a warmed-up process that does not listen takes over a slot
 * whose process crashed (a call is answered by it, on the same slot) while another standby starts
 * behind it; a recycle hands over to one too; status shows them; stopping the service or the
 * supervisor stops them; a reload replaces them (none with the old settings is ever activated);
 * one that cannot start is given up on after the restart policy's tries; and the config refuses
 * bad values and services that cannot have standbys.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/supervisor-format.js';
import { ConfigError } from '../../src/errors.js';
import type { ServiceHandle, ServiceResponse } from '../../src/service/index.js';
import { describePlan, diffConfig } from '../../src/supervisor/config-diff.js';
import { loadConfig, parseConfig, type StandbyStatus, Supervisor } from '../../src/supervisor/index.js';
import { isGone } from '../support/processes.js';
import { instances, Recorder, supervisorFixture, until, useSupervisors } from '../support/supervised.js';

const ENTRY = supervisorFixture('standby-service.mjs');
const TEST_MS = 180_000;
const sup = useSupervisors();

interface Seen {
  warren: string | null;
  node: string | null;
  socket: string | null;
  standby: string | null;
}
interface EnvBody extends Seen {
  pid: number;
  loaded: Seen;
  depsAt: number;
  readyAt: number | null;
  value: string | null;
}

function body(response: ServiceResponse): EnvBody {
  if (response.status !== 200) throw new Error(`status ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as EnvBody;
}

function standbyOf(supervisor: Supervisor, service = 'warm') {
  const standby = supervisor.status().services.find((s) => s.name === service)?.standby;
  if (standby === undefined) throw new Error(`no standby field for ${service}`);
  return standby;
}

/** Standbys warmed up and waiting. */
function ready(supervisor: Supervisor, service = 'warm'): StandbyStatus[] {
  return standbyOf(supervisor, service).processes.filter((p) => p.state === 'standby' && p.pid !== null);
}

/** Waits for a warmed-up standby whose pid is not one of `not`; resolves with its pid. */
function readyStandby(supervisor: Supervisor, rec: Recorder, not: readonly number[] = []): Promise<number> {
  return until(
    () => ready(supervisor).find((p) => !not.includes(p.pid as number))?.pid,
    () => `a ready standby other than ${not.join(', ') || 'none'}: ${JSON.stringify(standbyOf(supervisor))}\n${rec.dump()}`,
  );
}

/** Calls GET /env until the process `pid` answers; resolves with its answer. */
function answeredBy(handle: ServiceHandle, pid: number, rec: Recorder): Promise<EnvBody> {
  const seen: string[] = [];
  return until(
    async () => {
      try {
        const answer = body(await handle.get('/env'));
        seen.push(String(answer.pid));
        return answer.pid === pid ? answer : undefined;
      } catch (error) {
        seen.push(String(error));
        return undefined; // the crashed process's connection, before the standby listens
      }
    },
    () => `a call answered by pid ${pid} (${seen.slice(-20).join(', ')}; ${JSON.stringify(handle.stats())})\n${rec.dump()}`,
  );
}

/** The variables a process was started with (its environment at exec, from /proc). */
function startEnv(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return new Map(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

describe('standby processes', { timeout: TEST_MS }, () => {
  it('a crashed instance is taken over by a standby: the next call is answered by it, on the same slot, and another standby starts behind it', async () => {
    // A restart delay far longer than the test waits: only the standby can serve slot 1 in time.
    const { supervisor, socketDir, rec } = sup.setup([
      { name: 'warm', entry: ENTRY, instances: 2, standby: 1, restart: { minDelayMs: 60_000, maxDelayMs: 60_000 } },
    ]);
    await supervisor.start();
    const standbyPid = await readyStandby(supervisor, rec);
    // Not in discovery: it has no socket, and its environment names no slot.
    const sockets = () => instances(supervisor, 'warm').map((i) => i.instance);
    expect(sockets()).toEqual([0, 1]);
    const env = startEnv(standbyPid);
    expect(env.get('WARREN_STANDBY')).toBe('1');
    expect(env.has('WARREN_INSTANCE') || env.has('NODE_APP_INSTANCE') || env.has('WARREN_SOCKET_ID')).toBe(false);

    const warm = sup.client(socketDir).service('warm');
    const [slot0, slot1] = instances(supervisor, 'warm');
    const crashed = slot1?.pid as number;
    const killedAt = Date.now();
    process.kill(crashed, 'SIGKILL');
    const seen = await answeredBy(warm, standbyPid, rec);

    // The slot's number, as a handler reads it; the code at module load and dependencies() ran
    // before the crash, in the standby, which knew no slot then.
    expect(seen).toMatchObject({ warren: '1', node: '1', socket: '1', standby: null });
    expect(seen.loaded).toEqual({ warren: null, node: null, socket: null, standby: '1' });
    expect(seen.depsAt).toBeLessThan(killedAt);
    expect(seen.readyAt).toBeGreaterThanOrEqual(killedAt);
    const [after0, after1] = instances(supervisor, 'warm');
    expect(after1).toMatchObject({ slot: 1, instance: 1, pid: standbyPid, state: 'online', restarts: 1 });
    expect(after0).toMatchObject({ slot: 0, pid: slot0?.pid, restarts: 0 });
    expect(rec.matching(/takes over$/), rec.dump()).toEqual([
      `warn warm.1 exited (signal SIGKILL); standby (pid ${standbyPid}) takes over`,
    ]);
    expect(rec.matching(/restarting in/)).toEqual([]);

    // Another standby, warmed up behind it.
    const next = await readyStandby(supervisor, rec, [standbyPid]);
    expect(standbyOf(supervisor)).toMatchObject({ wanted: 1, failure: null, processes: [{ pid: next, state: 'standby' }] });
    // And it takes over the next crash just the same.
    process.kill(standbyPid, 'SIGKILL');
    expect((await answeredBy(warm, next, rec)).warren).toBe('1');
  });

  it('status shows the standbys: in supervisor.status() and as rows of the status table', async () => {
    const { supervisor, rec } = sup.setup([{ name: 'warm', entry: ENTRY, standby: 2 }]);
    await supervisor.start();
    await until(
      () => ready(supervisor).length === 2,
      () => `two ready standbys: ${JSON.stringify(standbyOf(supervisor))}`,
    );
    const standby = standbyOf(supervisor);
    expect(standby.wanted).toBe(2);
    const numbers = standby.processes.map((p) => p.instance);
    // Their log numbers are not the slot's socket number.
    expect(numbers).not.toContain(0);
    expect(new Set(numbers).size).toBe(2);
    for (const p of standby.processes) expect(rec.matching(new RegExp(`^started as a standby \\(pid ${p.pid}\\)$`))).toHaveLength(1);
    const table = renderStatus(supervisor.status());
    const rows = table.split('\n').filter((line) => /^warm\s+standby\s+\d+\s+ready\b/.test(line));
    expect(rows, table).toHaveLength(2);
    expect(table).toMatch(/^warm\s+0\s+\d+\s+online\b/m);
  });

  it('stopping the service or the supervisor stops its standbys; starting the service starts them again', async () => {
    const { supervisor, rec } = sup.setup([{ name: 'warm', entry: ENTRY, standby: 1 }]);
    await supervisor.start();
    const first = await readyStandby(supervisor, rec);
    await supervisor.stopService('warm');
    expect(isGone(first)).toBe(true);
    expect(standbyOf(supervisor).processes).toEqual([]);
    expect(rec.matching(/^standby exited \(code 0\)$/)).toHaveLength(1);

    await supervisor.startService('warm');
    const second = await readyStandby(supervisor, rec, [first]);
    await supervisor.stop();
    expect(isGone(second)).toBe(true);
    // Every process it started is gone (useSupervisors checks them all again after the test).
    for (const pid of rec.pids) expect(isGone(pid), `pid ${pid}`).toBe(true);
  });

  it('a reload replaces the standbys: one activated after it runs the new settings; a change of standby alone replaces no instance', async () => {
    const dir = sup.tempDir();
    const socketDir = join(dir, 'run');
    const path = join(dir, 'warren.config.json');
    const write = (value: string, standby = 1) =>
      writeFileSync(
        path,
        JSON.stringify({ socketDir, services: [{ name: 'warm', entry: ENTRY, standby, env: { FIXTURE_VALUE: value } }] }),
      );
    write('old');
    const read = () => loadConfig(path, { env: {} });
    const rec = new Recorder();
    const supervisor = new Supervisor(await read(), { output: rec.output, reportIntervalMs: 50, loadConfig: read });
    sup.adopt(supervisor, rec);
    await supervisor.start();
    const old = await readyStandby(supervisor, rec);

    write('new');
    const result = await supervisor.reload();
    expect(result.changes).toEqual(['warm: env (FIXTURE_VALUE) changed, replacing 1 instance']);
    await until(() => isGone(old), `the old standby ${old} gone`);
    const renewed = await readyStandby(supervisor, rec, [old]);
    const warm = sup.client(socketDir).service('warm');
    const serving = instances(supervisor, 'warm')[0]?.pid as number;
    expect(body(await warm.get('/env')).value).toBe('new');
    process.kill(serving, 'SIGKILL');
    expect((await answeredBy(warm, renewed, rec)).value).toBe('new');

    // Nothing changed in the file (new code on disk, say): the standbys are replaced too.
    const again = await readyStandby(supervisor, rec, [old, renewed]);
    await supervisor.reload();
    await until(() => isGone(again), `the standby ${again} replaced by a reload with no change`);
    const third = await readyStandby(supervisor, rec, [old, renewed, again]);

    // Only `standby` changed: one more standby, the instance and the running standby untouched.
    const before = instances(supervisor, 'warm')[0]?.pid;
    write('new', 2);
    expect((await supervisor.reload()).changes).toEqual(['warm: standby 1 → 2']);
    await until(
      () => ready(supervisor).length === 2,
      () => `two ready standbys: ${JSON.stringify(standbyOf(supervisor))}`,
    );
    expect(ready(supervisor).map((p) => p.pid)).toContain(third);
    expect(instances(supervisor, 'warm')[0]?.pid).toBe(before);
  });

  it('a recycle hands over to a standby', async () => {
    const { supervisor, socketDir, rec } = sup.setup([{ name: 'warm', entry: ENTRY, standby: 1, maxRequests: 3 }]);
    await supervisor.start();
    const standbyPid = await readyStandby(supervisor, rec);
    const first = instances(supervisor, 'warm')[0]?.pid as number;
    const warm = sup.client(socketDir).service('warm');
    for (let i = 0; i < 4; i++) body(await warm.get('/env'));
    const seen = await answeredBy(warm, standbyPid, rec);
    expect(seen.warren).toBe('0');
    expect(rec.matching(/^replacing \(requests\)$/).length).toBeGreaterThanOrEqual(1);
    await until(() => isGone(first), `the recycled process ${first} gone`);
    expect(instances(supervisor, 'warm')[0]).toMatchObject({ pid: standbyPid, state: 'online', restarts: 0 });
  });

  it('a standby that cannot start is tried again with backoff, then given up on; the instances serve on and a crash restarts normally', async () => {
    const { supervisor, socketDir, rec } = sup.setup([
      {
        name: 'warm',
        entry: ENTRY,
        standby: 1,
        env: { FIXTURE_STANDBY_EXIT: '1' },
        restart: { minDelayMs: 0, maxDelayMs: 0, maxUnstableRestarts: 2 },
      },
    ]);
    await supervisor.start();
    const failure = await until(
      () => standbyOf(supervisor).failure,
      () => `the standbys given up on: ${rec.dump()}`,
    );
    expect(failure).toBe('standby: exited 3 times in a row within stableAfterMs; last: code 3');
    expect(standbyOf(supervisor).processes).toEqual([]);
    expect(rec.matching(/^standby exited \(code 3\); another in 0 ms$/)).toHaveLength(2);
    expect(renderStatus(supervisor.status())).toContain(`\nwarm: no standby running (1 wanted): ${failure}\n`);

    const crashed = instances(supervisor, 'warm')[0]?.pid as number;
    process.kill(crashed, 'SIGKILL');
    const warm = sup.client(socketDir).service('warm');
    const seen = await until(
      async () => {
        try {
          const b = body(await warm.get('/env'));
          return b.pid !== crashed ? b : undefined;
        } catch {
          return undefined;
        }
      },
      () => `a restarted instance: ${rec.dump()}`,
    );
    expect(seen).toMatchObject({ warren: '0', standby: null, loaded: { warren: '0', standby: null } });
    expect(rec.matching(/takes over/)).toEqual([]);
    expect(rec.matching(/^exited \(signal SIGKILL\); restarting in 0 ms$/)).toHaveLength(1);
  });
});

describe('standby in the config', () => {
  const parse = (service: Record<string, unknown>) =>
    parseConfig(
      { socketDir: '/tmp/wr-standby', services: [{ name: 'warm', entry: './warm.mjs', ...service }] },
      { baseDir: '/srv', env: {} },
    );
  const issues = (service: Record<string, unknown>) => {
    try {
      parse(service);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to 0; takes a whole number from 0 to 16', () => {
    expect(parse({}).services[0]?.standby).toBe(0);
    expect(parse({ standby: 16 }).services[0]?.standby).toBe(16);
    for (const bad of [-1, 1.5, 17, '1', null]) {
      expect(issues({ standby: bad })).toEqual([
        { path: 'services[0].standby', message: `expected a whole number from 0 to 16, got ${JSON.stringify(bad)}` },
      ]);
    }
  });

  it('is refused for a process that is not a Warren service (ready "spawn" or { listen }), saying why', () => {
    const why =
      'a standby waits, warmed up and not listening, for the supervisor\'s word to serve, which only a Warren service (ready: "message", one that calls runService) understands';
    expect(issues({ standby: 1, ready: 'spawn' })).toEqual([
      { path: 'services[0].standby', message: `expected 0 for a service whose ready is "spawn", got 1: ${why}` },
    ]);
    expect(issues({ standby: 2, ready: { listen: 3000 } })).toEqual([
      { path: 'services[0].standby', message: `expected 0 for a service whose ready is {"listen":3000}, got 2: ${why}` },
    ]);
    // Another interpreter is online once spawned unless told otherwise.
    expect(issues({ standby: 1, interpreter: 'python3' })[0]?.message).toMatch(/^expected 0 for a service whose ready is "spawn", got 1: /);
    expect(parse({ standby: 1, ready: 'message' }).services[0]?.standby).toBe(1);
  });

  it('a reload that changes only standby says so and replaces no instance', () => {
    const before = parse({ standby: 1 });
    const after = parse({ standby: 3 });
    const [plan] = diffConfig(before, after).services;
    expect(plan).toMatchObject({ kind: 'change', scale: null, standby: { from: 1, to: 3 }, changed: [] });
    expect(describePlan(plan as NonNullable<typeof plan>)).toBe('warm: standby 1 → 3');
  });
});
