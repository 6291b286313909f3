/**
 * The supervisor under load with real service processes: rolling reloads that fail no call,
 * an instance killed with SIGKILL (its in-flight callers fail at once, it comes back), and a
 * stop that leaves no process behind, grandchildren included.
 */
import { describe, expect, it } from 'vitest';
import type { ServiceResponse } from '../../src/service/index.js';
import { isGone } from '../support/processes.js';
import { instances, load, rejection, supervisorFixture, until, useSupervisors } from '../support/supervised.js';

const { setup, client, extraPids } = useSupervisors();
const entry = supervisorFixture('load-service.mjs');
const fast = { minDelayMs: 20, maxDelayMs: 200, maxUnstableRestarts: 5, stableAfterMs: 60_000 };

/** The answering pid of a 200, else throws. */
function pidOf(response: ServiceResponse): number {
  if (response.status !== 200) throw new Error(`status ${response.status}: ${JSON.stringify(response.body)}`);
  return (response.body as { pid: number }).pid;
}

describe('rolling reload under load', () => {
  it('three reloads in a row of a 2-instance service under 64 concurrent callers fail no call and replace every pid each time', async () => {
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, instances: 2, drainTimeoutMs: 10_000, restart: fast }]);
    await supervisor.start();
    const handle = client(socketDir).service('load');
    const pidsNow = () => instances(supervisor, 'load').map((i) => i.pid as number);
    const generations = [pidsNow()];
    const startedAt = Date.now();
    const calls = load(
      async (caller, n) => {
        if (caller % 2 === 0) return pidOf(await handle.get('/who'));
        const answer = await handle.post('/echo', { caller, n });
        expect((answer.body as { body: unknown }).body).toEqual({ caller, n });
        return pidOf(answer);
      },
      { callers: 64, maxMs: 100_000 },
    );
    // The calls counted in status never go down, replacements or not.
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(instances(supervisor, 'load').reduce((t, i) => t + i.requests, 0)), 10);
    try {
      // Load on both instances before the first reload.
      await until(() => calls.result.served >= 500, 'calls before the reloads');
      for (let round = 1; round <= 3; round++) {
        const result = await supervisor.reload();
        expect(result.replaced.map((r) => r.slot)).toEqual([0, 1]);
        const before = generations[generations.length - 1] ?? [];
        const after = pidsNow();
        expect(instances(supervisor, 'load').map((i) => i.state)).toEqual(['online', 'online']);
        for (const pid of after) expect(before, `round ${round}: pid ${pid} was not replaced`).not.toContain(pid);
        for (const pid of before) expect(isGone(pid), `round ${round}: pid ${pid} still runs`).toBe(true);
        generations.push(after);
      }
      // And on the last generation after them.
      const servedAfterReloads = calls.result.served;
      await until(() => calls.result.served >= servedAfterReloads + 500, 'calls after the reloads');
    } finally {
      clearInterval(sampler);
      await calls.stop();
    }
    const result = calls.result;
    const drops = samples.flatMap((n, i) => (i > 0 && n < (samples[i - 1] ?? 0) ? [`${samples[i - 1]} -> ${n}`] : []));
    expect(drops, 'the requests counted in status went down').toEqual([]);
    const elapsed = Date.now() - startedAt;
    // Once reports with no new call came in, status has counted every call exactly once: a
    // replaced process sends a last report after draining, with the calls it answered meanwhile.
    const total = () => instances(supervisor, 'load').reduce((t, i) => t + i.requests, 0);
    await until(
      () => instances(supervisor, 'load').every((i) => i.reqPerSec === 0) && total() === result.served,
      () => `status to count the ${result.served} calls served (it counts ${total()})`,
    );
    const counted = total();
    expect(counted).toBe(result.served);
    console.log(
      `reload under load: ${result.served} calls served, ${result.failed} failed, in ${elapsed} ms; ${counted} counted in status; ` +
        `pids by generation ${JSON.stringify(generations)}; answers by pid ${JSON.stringify([...result.byPid])}`,
    );
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(new Set(generations.flat()).size).toBe(8);
    for (const pid of generations[3] ?? []) expect(result.byPid.get(pid), `the last generation's ${pid} answered`).toBeGreaterThan(0);
    // Replacements, not crashes.
    expect(instances(supervisor, 'load').map((i) => i.restarts)).toEqual([0, 0]);
    expect(rec.matching(/restarting in|killed|recycling/)).toEqual([]);
    expect(rec.matching(/^replacing \(reload\)$/)).toHaveLength(6);
  }, 120_000);

  it('an instance that crashes while its successor starts during a reload ends with one process, and none is left behind', async () => {
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, restart: fast }]);
    await supervisor.start();
    const [first] = instances(supervisor, 'load');
    const oldPid = first?.pid as number;
    const reloading = supervisor.reload('load');
    // The successor is spawned at once; kill the old process before the successor is ready.
    await until(() => rec.pids.size === 2, 'the successor to be spawned');
    process.kill(oldPid, 'SIGKILL');
    await reloading.catch(() => {});
    await until(
      () => instances(supervisor, 'load')[0]?.state === 'online' && isGone(oldPid),
      () => `one process online: ${rec.dump()}`,
    );
    // Whatever was started on the way (the successor, a crash restart), one process serves, and
    // every other one ends.
    const [now] = instances(supervisor, 'load');
    await until(
      () => [...rec.pids].filter((pid) => !isGone(pid)).length === 1,
      () => `only ${now?.pid} alive: ${[...rec.pids].filter((pid) => !isGone(pid))}: ${rec.dump()}`,
      10_000,
    );
    expect([...rec.pids].filter((pid) => !isGone(pid))).toEqual([now?.pid]);
    // The race did happen: the old process crashed (and its restart was scheduled) before the successor was ready.
    expect(rec.matching(/^exited \(signal SIGKILL\); restarting in/), rec.dump()).toHaveLength(1);
    expect(pidOf(await client(socketDir).service('load').get('/who'))).toBe(now?.pid);
  });
});

describe('kill -9 under load', () => {
  it('in-flight callers of a killed instance get an error at once, the instance comes back, and later calls succeed', async () => {
    const { supervisor, socketDir } = setup([{ name: 'load', entry, restart: fast }]);
    await supervisor.start();
    const [before] = instances(supervisor, 'load');
    const oldPid = before?.pid as number;
    const handle = client(socketDir, { timeout: 120_000 }).service('load');
    const inFlight = 32;
    // Calls that would take a minute: any answer sooner is the kill's.
    const slow = Array.from({ length: inFlight }, () =>
      handle.post('/slow', { ms: 60_000 }).then(
        (response) => ({ error: null, response, at: Date.now() }),
        (error: unknown) => ({ error: error as Error & { code?: string }, response: null, at: Date.now() }),
      ),
    );
    let errorsWithin = 0;
    const busy = load(async (caller, n) => pidOf(caller % 2 === 0 ? await handle.get('/who') : await handle.post('/echo', { n })), {
      callers: 16,
    });
    try {
      await until(() => busy.result.served > 100, 'load');
      const waiting = async () => ((await handle.get('/waiting')).body as { waiting: number }).waiting;
      for (let i = 0; i < 500 && (await waiting()) < inFlight; i++);
      expect(await waiting()).toBe(inFlight);
      const killedAt = Date.now();
      process.kill(oldPid, 'SIGKILL');
      const settled = await Promise.all(slow);
      errorsWithin = Math.max(...settled.map((s) => s.at - killedAt));
      for (const s of settled) {
        expect(s.response).toBeNull();
        expect(s.error?.code).toBe('WARREN_PEER_CLOSED');
        expect(s.at - killedAt).toBeLessThan(5_000);
      }
      await until(
        () => instances(supervisor, 'load')[0]?.state === 'online' && instances(supervisor, 'load')[0]?.pid !== oldPid,
        'the restart',
      );
      const [after] = instances(supervisor, 'load');
      expect(after).toMatchObject({ restarts: 1, lastExit: { signal: 'SIGKILL' } });
      // The callers get through to the new process again.
      await until(() => (busy.result.byPid.get(after?.pid as number) ?? 0) > 100, 'calls to the new process');
      const failedBefore = busy.result.failed;
      const servedBefore = busy.result.served;
      await until(() => busy.result.served > servedBefore + 200, 'more calls');
      expect(busy.result.failed).toBe(failedBefore);
    } finally {
      await busy.stop();
    }
    const [after] = instances(supervisor, 'load');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => handle.post('/echo', { n })));
    for (const answer of answers) expect(pidOf(answer)).toBe(after?.pid);
    console.log(
      `kill -9 under load: in-flight calls failed within ${errorsWithin} ms; ${busy.result.served} calls served, ` +
        `${busy.result.failed} failed while the instance was down: ${busy.result.failures.join('; ')}`,
    );
  });
});

describe('stop', () => {
  it('a service with a call that never ends is SIGKILLed after drainTimeoutMs; stop() resolves and leaves no process, grandchildren included', async () => {
    const drainTimeoutMs = 400;
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, instances: 2, drainTimeoutMs, env: { FIXTURE_KID: '1' } }]);
    await supervisor.start();
    const handle = client(socketDir, { timeout: 120_000 }).service('load');
    const kids: number[] = [];
    // Concurrent calls spread over both instances.
    for (let i = 0; i < 50 && kids.length < 2; i++) {
      for (const answer of await Promise.all(Array.from({ length: 8 }, () => handle.get('/kid')))) {
        const kid = (answer.body as { pid: number }).pid;
        if (!kids.includes(kid)) kids.push(kid);
      }
    }
    expect(kids).toHaveLength(2);
    for (const kid of kids) extraPids.add(kid);
    const pids = instances(supervisor, 'load').map((i) => i.pid as number);
    // Stuck calls on both instances (each call goes to the one with fewer in flight).
    const stuck = Array.from({ length: 4 }, () => rejection(handle.post('/hang', {})));
    const hanging = new Map<number, number>();
    for (let i = 0; i < 200 && !pids.every((pid) => (hanging.get(pid) ?? 0) > 0); i++) {
      for (const answer of await Promise.all(Array.from({ length: 4 }, () => handle.get('/waiting')))) {
        const { pid, waiting } = answer.body as { pid: number; waiting: number };
        hanging.set(pid, waiting);
      }
    }
    expect([...hanging.values()]).toEqual([2, 2]);
    const started = Date.now();
    await supervisor.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(drainTimeoutMs - 10);
    for (const error of await Promise.all(stuck)) expect(error.code).toBe('WARREN_PEER_CLOSED');
    for (const pid of [...pids, ...kids]) expect(isGone(pid), `pid ${pid} outlived stop()`).toBe(true);
    expect(rec.matching(/did not stop within drainTimeoutMs 400: killed/)).toHaveLength(2);
  });

  it('a service that exits on SIGTERM leaves no grandchild behind either', async () => {
    const { supervisor, socketDir } = setup([{ name: 'load', entry, env: { FIXTURE_KID: '1' } }]);
    await supervisor.start();
    const kid = ((await client(socketDir).service('load').get('/kid')).body as { pid: number }).pid;
    extraPids.add(kid);
    expect(isGone(kid)).toBe(false);
    const [slot] = instances(supervisor, 'load');
    await supervisor.stop();
    expect(isGone(slot?.pid as number)).toBe(true);
    await until(() => isGone(kid), `the grandchild ${kid} to be gone`, 5_000);
  });
});
