/**
 * A supervisor with real service processes for tests: a private socket directory, every event it
 * says recorded (and every pid it started, checked gone once it stopped), clients closed and
 * supervisors stopped after each test, and bounded waits on its status.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { type ClientOptions, ServiceClient } from '../../src/service/index.js';
import { type InstanceStatus, parseConfig, Supervisor, type SupervisorOutput } from '../../src/supervisor/index.js';
import { isGone } from './processes.js';

export const supervisorFixture = (name: string) => fileURLToPath(new URL(`../fixtures/supervisor/${name}`, import.meta.url));

export interface RecordedEvent {
  at: number;
  level: string;
  service: string | null;
  instance: number | null;
  msg: string;
}

/** What a supervisor said, in order, and the pids of every process it started. */
export class Recorder {
  readonly events: RecordedEvent[] = [];
  readonly lines: string[] = [];
  readonly pids = new Set<number>();
  readonly output: SupervisorOutput = {
    event: (level, service, instance, msg) => {
      this.events.push({ at: Date.now(), level, service, instance, msg });
      const started = /^started (?:as a standby )?\(pid (\d+)\)$/.exec(msg);
      if (started) this.pids.add(Number(started[1]));
    },
    line: (service, instance, stream, line, truncated) => {
      this.lines.push(`${service}.${instance} ${stream}${truncated ? ' (truncated)' : ''} ${line}`);
    },
  };

  /** The events whose message matches, as `level service.instance msg` lines. */
  matching(pattern: RegExp): string[] {
    return this.events.filter((e) => pattern.test(e.msg)).map(show);
  }

  /** Every event as one line each, for failure messages. */
  dump(): string {
    return this.events.map(show).join('\n');
  }
}

function show(e: RecordedEvent): string {
  return `${e.level} ${e.service}.${e.instance} ${e.msg}`;
}

/**
 * Registers the afterEach that closes every client, stops every supervisor, checks that no
 * process any of them started outlived it, and removes the directories; returns the helpers.
 */
export function useSupervisors() {
  const supervisors: { supervisor: Supervisor; rec: Recorder }[] = [];
  const clients: ServiceClient[] = [];
  const dirs: string[] = [];
  /** Pids started by the tests themselves or found by them (grandchildren), checked gone too. */
  const extraPids = new Set<number>();

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    const stopping = supervisors.splice(0);
    await Promise.all(stopping.map(({ supervisor }) => supervisor.stop()));
    for (const { rec } of stopping) {
      for (const pid of rec.pids) expect(isGone(pid), `pid ${pid} outlived its supervisor`).toBe(true);
    }
    for (const pid of extraPids) {
      if (!isGone(pid)) process.kill(pid, 'SIGKILL');
    }
    extraPids.clear();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    // Stopping drains every instance: on a busy machine that can take a while, never forever.
  }, 120_000);

  return {
    extraPids,

    /** A supervisor (not started) for these services, reporting every `reportIntervalMs`. */
    setup(services: Record<string, unknown>[], reportIntervalMs = 50) {
      // Short: the sockets live in it, and a Unix socket path has at most ~100 bytes.
      const base = mkdtempSync(join(tmpdir(), 'wr-'));
      dirs.push(base);
      const socketDir = join(base, 'run');
      const config = parseConfig({ socketDir, services }, { baseDir: base, env: {} });
      const rec = new Recorder();
      const supervisor = new Supervisor(config, { output: rec.output, reportIntervalMs });
      supervisors.push({ supervisor, rec });
      return { supervisor, socketDir, rec };
    },

    /** A supervisor made by the test itself (from a config file, say), stopped and checked like the others. */
    adopt(supervisor: Supervisor, rec: Recorder): void {
      supervisors.push({ supervisor, rec });
    },

    /** A fresh temporary directory, removed after the test (keep the prefix short: socket paths). */
    tempDir(prefix = 'wr-'): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },

    client(socketDir: string, options: ClientOptions = {}): ServiceClient {
      const c = new ServiceClient({ socketDir, timeout: 30_000, ...options });
      clients.push(c);
      return c;
    },
  };
}

export function instances(supervisor: Supervisor, service: string): InstanceStatus[] {
  return supervisor.status().services.find((s) => s.name === service)?.instances ?? [];
}

export { until } from './until.js';

/** Settles with the error a promise rejects with, or fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

export interface LoadResult {
  served: number;
  failed: number;
  /** The first few failures, described. */
  failures: string[];
  /** Answers per pid. */
  byPid: Map<number, number>;
}

/**
 * Runs `callers` concurrent loops of calls (each call made by `call(i)`, which must resolve with
 * the answering pid or throw) until `stop()` is called, `maxCalls` calls were made or
 * `maxMs` passed; `done` resolves with the counts.
 */
export function load(
  call: (caller: number, n: number) => Promise<number>,
  { callers, maxCalls = 1_000_000, maxMs = 60_000 }: { callers: number; maxCalls?: number; maxMs?: number },
) {
  const result: LoadResult = { served: 0, failed: 0, failures: [], byPid: new Map() };
  let stopped = false;
  let made = 0;
  const deadline = Date.now() + maxMs;
  const loop = async (caller: number) => {
    while (!stopped && made < maxCalls && Date.now() < deadline) {
      const n = made++;
      try {
        const pid = await call(caller, n);
        result.served++;
        result.byPid.set(pid, (result.byPid.get(pid) ?? 0) + 1);
      } catch (error) {
        result.failed++;
        if (result.failures.length < 5) result.failures.push(`call ${n} (caller ${caller}): ${String(error)}`);
        // A caller whose service is down does not spin: it tries again a little later.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };
  const done = Promise.all(Array.from({ length: callers }, (_, i) => loop(i))).then(() => result);
  return {
    result,
    done,
    get made() {
      return made;
    },
    stop(): Promise<LoadResult> {
      stopped = true;
      return done;
    },
  };
}
