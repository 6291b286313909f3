/**
 * Recycling with real service processes: an instance that served maxRequests calls, grew past
 * maxMemoryMB, or has a call running (or its event loop blocked) past execTimeoutMs is replaced
 * by a fresh one without failing the calls that go on meanwhile; and the counters the children
 * report reach supervisor.status().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServiceResponse } from '../../src/service/index.js';
import { isGone } from '../support/processes.js';
import { instances, load, type Recorder, rejection, supervisorFixture, until, useSupervisors } from '../support/supervised.js';

const { setup, client } = useSupervisors();
const entry = supervisorFixture('load-service.mjs');

/** The answering pid of a 200, else throws. */
function pidOf(response: ServiceResponse): number {
  if (response.status !== 200) throw new Error(`status ${response.status}: ${JSON.stringify(response.body)}`);
  return (response.body as { pid: number }).pid;
}

/**
 * The replacement of the process of instance `from` (pid `oldPid`) in the recorded events: its
 * successor said ready before the old process exited.
 */
function expectHandover(rec: Recorder, why: string, oldPid: number): void {
  const events = rec.events;
  const started = events.findIndex((e) => e.msg === `started (pid ${oldPid})`);
  expect(started, rec.dump()).toBeGreaterThanOrEqual(0);
  const oldInstance = events[started]?.instance;
  const replacing = events.findIndex((e, i) => i > started && e.instance === oldInstance && e.msg === `replacing (${why})`);
  expect(replacing, rec.dump()).toBeGreaterThan(started);
  const exited = events.findIndex((e, i) => i > replacing && e.instance === oldInstance && e.msg.startsWith('exited ('));
  const ready = events.findIndex((e, i) => i > replacing && e.instance !== oldInstance && e.msg.startsWith('ready (pid '));
  expect(ready, rec.dump()).toBeGreaterThan(replacing);
  expect(exited, rec.dump()).toBeGreaterThan(ready);
  expect(isGone(oldPid)).toBe(true);
}

/** The supervisor saw the process `pid` exit (its exit is logged once Node has reaped it). */
function exitLogged(rec: Recorder, pid: number): boolean {
  const started = rec.events.findIndex((e) => e.msg === `started (pid ${pid})`);
  const instance = rec.events[started]?.instance;
  return started >= 0 && rec.events.some((e, i) => i > started && e.instance === instance && e.msg.startsWith('exited ('));
}

describe('recycling', () => {
  it('tries a recycle whose successor cannot start again only after a growing delay, and keeps the old process serving', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'wmark-')), 'fail');
    const { supervisor, socketDir, rec } = setup([
      {
        name: 'marked',
        entry: supervisorFixture('fails-when-marked.mjs'),
        maxRequests: 5,
        env: { FAIL_MARKER: marker },
        restart: { minDelayMs: 100, maxDelayMs: 10_000 },
      },
    ]);
    try {
      await supervisor.start();
      const pid = instances(supervisor, 'marked')[0]?.pid as number;
      writeFileSync(marker, '');
      const marked = client(socketDir).service('marked');
      for (let i = 0; i < 8; i++) expect(pidOf(await marked.get('/who'))).toBe(pid);
      const failures = () => rec.events.filter((e) => e.msg.startsWith('recycling failed'));
      await until(
        () => failures().length >= 3,
        () => `three failed recycles: ${rec.dump()}`,
      );
      const [first, second, third] = failures();
      // Reports come every 50 ms: without the delay each of them would start another successor.
      expect((second?.at ?? 0) - (first?.at ?? 0), rec.dump()).toBeGreaterThanOrEqual(1000);
      expect((third?.at ?? 0) - (second?.at ?? 0), rec.dump()).toBeGreaterThanOrEqual(2000);
      expect(first?.msg).toMatch(/trying again in 1000 ms at the earliest$/);
      expect(rec.matching(/^recycling: /)).toHaveLength(failures().length);
      // All along, the first process serves.
      expect(pidOf(await marked.get('/who'))).toBe(pid);
      expect(instances(supervisor, 'marked')[0]).toMatchObject({ pid, state: 'online', restarts: 0 });
    } finally {
      rmSync(dirname(marker), { recursive: true, force: true });
    }
  });

  it('replaces an instance that served maxRequests calls (+0–10 %): successor online first, no call fails', async () => {
    const maxRequests = 40;
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, maxRequests, drainTimeoutMs: 5_000 }]);
    await supervisor.start();
    const [first] = instances(supervisor, 'load');
    const oldPid = first?.pid as number;
    const load1 = client(socketDir).service('load');

    // Below the limit: reported, and not recycled.
    for (let i = 0; i < maxRequests - 1; i++) pidOf(await load1.get('/who'));
    await until(() => instances(supervisor, 'load')[0]?.requests === maxRequests - 1, 'a report of the first calls');
    expect(rec.matching(/recycling/)).toEqual([]);

    // Past the limit with the spread (limit × 1.1), with calls going on all along.
    const calls = load(async (caller, n) => pidOf(caller % 2 === 0 ? await load1.get('/who') : await load1.post('/echo', { n })), {
      callers: 8,
      maxCalls: 20_000,
    });
    try {
      await until(() => calls.made > Math.ceil(maxRequests * 1.1), 'enough calls');
      await until(
        () => exitLogged(rec, oldPid) && instances(supervisor, 'load')[0]?.state === 'online',
        () => `the old process to be replaced and gone: ${rec.dump()}`,
      );
    } finally {
      await calls.stop();
    }
    const result = calls.result;
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    const [after] = instances(supervisor, 'load');
    expect(after?.pid).not.toBe(oldPid);
    expect(after?.restarts).toBe(0);
    expect(after?.lastExit).toBeNull();
    // Both processes answered calls.
    expect(result.byPid.get(oldPid)).toBeGreaterThan(0);
    expect([...result.byPid.keys()].some((pid) => pid !== oldPid)).toBe(true);

    const recycled = rec.events.find((e) => e.msg.startsWith('recycling: served'));
    expect(recycled?.level).toBe('warn');
    const served = Number(/served (\d+) calls \(maxRequests 40\)/.exec(recycled?.msg ?? '')?.[1]);
    expect(served).toBeGreaterThanOrEqual(maxRequests);
    expectHandover(rec, 'requests', oldPid);
    // The calls of the replaced process stay counted. Not necessarily all of them: those it
    // answered after its last report, while it drained, are never reported (the process sends no
    // report when it exits).
    const total = maxRequests - 1 + result.served;
    await until(() => (instances(supervisor, 'load')[0]?.requests ?? 0) >= served, 'the counts to carry over');
    expect(instances(supervisor, 'load')[0]?.requests).toBeLessThanOrEqual(total);
  });

  it('replaces an instance whose RSS passed maxMemoryMB while calls keep succeeding', async () => {
    const maxMemoryMB = 160;
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, maxMemoryMB, drainTimeoutMs: 5_000 }]);
    await supervisor.start();
    const [first] = instances(supervisor, 'load');
    const oldPid = first?.pid as number;
    expect(first?.rssMB ?? 0).toBeLessThan(maxMemoryMB);
    const handle = client(socketDir).service('load');
    const calls = load(async (caller, n) => pidOf(caller % 2 === 0 ? await handle.get('/who') : await handle.post('/echo', { n })), {
      callers: 4,
    });
    try {
      // Grow the first process only (a grow that lands on the successor would make it recycle too).
      for (let i = 0; i < 10; i++) {
        const grown = await handle.post('/grow', { mb: 40 });
        expect(pidOf(grown)).toBe(oldPid);
        if ((grown.body as { rss: number }).rss > maxMemoryMB * 1_048_576) break;
      }
      await until(
        () => exitLogged(rec, oldPid) && instances(supervisor, 'load')[0]?.state === 'online',
        () => `the grown process to be replaced: ${rec.dump()}`,
      );
      // Calls after the replacement reach the fresh process.
      await until(() => [...calls.result.byPid.keys()].some((pid) => pid !== oldPid), 'a call answered by the successor');
    } finally {
      await calls.stop();
    }
    expect(calls.result.failures).toEqual([]);
    expect(calls.result.served).toBeGreaterThan(0);
    const [after] = instances(supervisor, 'load');
    expect(after?.pid).not.toBe(oldPid);
    expect(after?.restarts).toBe(0);
    expect(rec.matching(/^recycling: RSS \d+ MB is over maxMemoryMB 160$/)).toHaveLength(1);
    expectHandover(rec, 'memory', oldPid);
    await until(() => (instances(supervisor, 'load')[0]?.rssMB ?? Number.POSITIVE_INFINITY) < maxMemoryMB, 'a report of the fresh RSS');
  });

  it('replaces an instance with a call stuck past execTimeoutMs: that caller gets an error, not a hang; later calls succeed', async () => {
    const execTimeoutMs = 1_000;
    const drainTimeoutMs = 500;
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, execTimeoutMs, drainTimeoutMs }]);
    await supervisor.start();
    const [first] = instances(supervisor, 'load');
    const oldPid = first?.pid as number;
    // A timeout far above what the recycling takes: the error must come from the recycling.
    const handle = client(socketDir, { timeout: 120_000 }).service('load');
    const calls = load(async (caller, n) => pidOf(caller % 2 === 0 ? await handle.get('/who') : await handle.post('/echo', { n })), {
      callers: 4,
    });
    const started = Date.now();
    let error: Error & { code?: string };
    try {
      error = await rejection(handle.post('/hang', {}));
      await until(() => instances(supervisor, 'load')[0]?.state === 'online' && exitLogged(rec, oldPid), 'the successor');
      await until(() => [...calls.result.byPid.keys()].some((pid) => pid !== oldPid), 'a call answered by the successor');
    } finally {
      await calls.stop();
    }
    const waited = Date.now() - started;
    expect(error.code).toBe('WARREN_PEER_CLOSED');
    expect(waited).toBeGreaterThanOrEqual(execTimeoutMs + drainTimeoutMs - 50);
    expect(waited).toBeLessThan(60_000);
    // The other calls went on: to the stuck process first, then to its successor.
    expect(calls.result.failures).toEqual([]);
    expect(calls.result.byPid.get(oldPid)).toBeGreaterThan(0);
    const [after] = instances(supervisor, 'load');
    expect(after?.pid).not.toBe(oldPid);
    expect(pidOf(await handle.get('/who'))).toBe(after?.pid);
    expect(rec.matching(/^recycling: a call has run \d+ ms \(execTimeoutMs 1000\)$/), rec.dump()).toHaveLength(1);
    expect(rec.matching(/did not stop within drainTimeoutMs 500: killed/)).toHaveLength(1);
    expectHandover(rec, 'exec-timeout', oldPid);
  });

  it('replaces an instance whose event loop is blocked past execTimeoutMs (no reports): the blocked call fails, the next succeed', async () => {
    const execTimeoutMs = 1_000;
    const { supervisor, socketDir, rec } = setup([{ name: 'load', entry, execTimeoutMs, drainTimeoutMs: 300 }]);
    await supervisor.start();
    const [first] = instances(supervisor, 'load');
    const oldPid = first?.pid as number;
    const handle = client(socketDir, { timeout: 120_000 }).service('load');
    // Blocks for a minute unless killed first.
    const error = await rejection(handle.post('/spin', { ms: 60_000 }));
    expect(error.code).toBe('WARREN_PEER_CLOSED');
    await until(() => instances(supervisor, 'load')[0]?.state === 'online' && exitLogged(rec, oldPid), 'the successor');
    const [after] = instances(supervisor, 'load');
    expect(after?.pid).not.toBe(oldPid);
    expect(pidOf(await handle.get('/who'))).toBe(after?.pid);
    expect(rec.matching(/^recycling: no report for \d+ ms \(execTimeoutMs 1000\)$/).length).toBeGreaterThanOrEqual(1);
    expectHandover(rec, 'unresponsive', oldPid);
  });
});

describe('reported counters', () => {
  it('status shows the calls and errors every instance served, latency and RSS, from the reports', async () => {
    const { supervisor, socketDir } = setup([{ name: 'load', entry, instances: 2 }]);
    await supervisor.start();
    const handle = client(socketDir).service('load');
    const ok = 37;
    const failing = 5;
    const answers = await Promise.all([
      ...Array.from({ length: ok }, (_, n) => (n % 2 === 0 ? handle.get('/who') : handle.post('/echo', { n }))),
      ...Array.from({ length: failing }, () => handle.get('/fail')),
    ]);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(ok);
    expect(answers.filter((a) => a.status === 500)).toHaveLength(failing);
    const sum = (pick: (i: ReturnType<typeof instances>[number]) => number) =>
      instances(supervisor, 'load').reduce((t, i) => t + pick(i), 0);
    await until(
      () => sum((i) => i.requests) === ok + failing && sum((i) => i.errors) === failing,
      () => `the counts in a report: ${JSON.stringify(instances(supervisor, 'load'))}`,
    );
    const all = instances(supervisor, 'load');
    expect(all).toHaveLength(2);
    for (const i of all) {
      expect(i.state).toBe('online');
      expect(i.rssMB).toBeGreaterThan(0);
      expect(i.cpuPercent).not.toBeNull();
      expect(Number.isFinite(i.reqPerSec)).toBe(true);
      expect(i.avgResponseTime).toBe(i.meanMs);
      if (i.requests > 0) {
        expect(i.meanMs).toBeGreaterThan(0);
        expect(i.p99Ms).toBeGreaterThan(0);
      }
    }
    // Stable: a later report (one with no new call) says the same.
    await until(() => instances(supervisor, 'load').every((i) => i.reqPerSec === 0), 'a report after the last call');
    expect(sum((i) => i.requests)).toBe(ok + failing);
    expect(sum((i) => i.errors)).toBe(failing);
  });
});
