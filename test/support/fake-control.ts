/**
 * A small real control server for the CLI tests: the CONTROL methods of protocol.ts over
 * listenUnix on `<dir>/supervisor.sock`, answering from data the test controls. It checks the
 * token in hello, streams logs from an async generator, and on stop closes its socket and ends
 * the process that stands for the supervisor.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { WarrenError } from '../../src/errors.js';
import { listenUnix, type PeerServer } from '../../src/peer/transports/socket.js';
import { loadOrCreateToken, rotateToken } from '../../src/service/index.js';
import { CONTROL, CONTROL_SOCKET, type LogRecord, type ReloadResult, type SupervisorStatus } from '../../src/supervisor/index.js';

export interface FakeControlOptions {
  /** The status it answers (its pid and socketDir are filled in). */
  status: SupervisorStatus;
  /** Log records it keeps, oldest first. */
  logs?: LogRecord[];
  /** On stop: 'exit' (default) closes the socket and ends the pid process; 'linger' answers and stays. */
  onStop?: 'exit' | 'linger';
  /** Run a real process to stand for the supervisor (its pid is the one hello and status give). */
  pidProcess?: boolean;
}

export interface FakeControl {
  dir: string;
  path: string;
  /** The token hello accepts (the one in the directory when the server started). */
  token: string;
  pid: number;
  status: SupervisorStatus;
  /** Every request after hello, in order. */
  calls: { method: string; params: unknown }[];
  /** Failed hellos. */
  refused: number;
  /** Resolves once a logs request with follow is streaming. */
  following(): Promise<void>;
  /** Sends a record to the logs readers that follow. */
  push(record: LogRecord): void;
  /** Ends every follower's stream, as a supervisor that stops does. */
  endLogs(): void;
  /** Closes the socket and every connection at once: the supervisor went away. */
  kill(): Promise<void>;
  server: PeerServer;
}

/** Registers an afterEach that closes every fake, ends its pid process and removes its directory. */
export function useFakeControls() {
  const fakes: FakeControl[] = [];
  const procs: ChildProcess[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((fake) => fake.kill()));
    for (const proc of procs.splice(0)) await endProcess(proc);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh private directory (0700) without any server. */
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-cli-'));
    dirs.push(dir);
    return dir;
  };

  return {
    tempDir,

    async start(options: FakeControlOptions, dir = tempDir()): Promise<FakeControl> {
      let proc: ChildProcess | undefined;
      if (options.pidProcess) {
        proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore' });
        procs.push(proc);
        await new Promise((resolve, reject) => proc?.once('spawn', resolve).once('error', reject));
      }
      const fake = await startFakeControl(dir, options, proc);
      fakes.push(fake);
      return fake;
    },
  };
}

async function endProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
}

async function startFakeControl(dir: string, options: FakeControlOptions, proc: ChildProcess | undefined): Promise<FakeControl> {
  const token = await loadOrCreateToken(dir);
  const pid = proc?.pid ?? process.pid;
  const status: SupervisorStatus = { ...options.status, pid, socketDir: dir };
  const logs = options.logs ?? [];
  const followers = new Set<{ push: (record: LogRecord | null) => void }>();
  const followingWaiters: (() => void)[] = [];
  const calls: FakeControl['calls'] = [];
  const known = (service: unknown) => {
    const found = status.services.find((s) => s.name === service);
    if (!found) throw new WarrenError('WARREN_UNKNOWN_SERVICE', `no service '${String(service)}' in this supervisor`);
    return found;
  };

  const fake: FakeControl = {
    dir,
    path: join(dir, CONTROL_SOCKET),
    token,
    pid,
    status,
    calls,
    refused: 0,
    following: () => (followers.size > 0 ? Promise.resolve() : new Promise((resolve) => followingWaiters.push(resolve))),
    push: (record) => {
      for (const follower of followers) follower.push(record);
    },
    endLogs: () => {
      for (const follower of followers) follower.push(null);
    },
    kill: async () => {
      fake.endLogs();
      for (const peer of fake.server.peers) peer.destroy();
      await fake.server.close();
      if (proc) await endProcess(proc);
    },
    server: undefined as unknown as PeerServer,
  };

  async function* stream(params: { service?: string; lines?: number; follow?: boolean }, signal: AbortSignal): AsyncGenerator<LogRecord> {
    const mine = logs.filter((r) => params.service === undefined || r.service === params.service);
    const queue: (LogRecord | null)[] = [];
    let wake: (() => void) | null = null;
    const follower = {
      push: (record: LogRecord | null) => {
        if (record && params.service !== undefined && record.service !== params.service) return;
        queue.push(record);
        wake?.();
      },
    };
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    if (params.follow) {
      followers.add(follower);
      for (const resolve of followingWaiters.splice(0)) resolve();
    }
    try {
      yield* mine.slice(params.lines === undefined ? 0 : Math.max(0, mine.length - params.lines));
      while (params.follow && !signal.aborted) {
        const next = queue.shift();
        if (next === null) return;
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    } finally {
      followers.delete(follower);
      signal.removeEventListener('abort', onAbort);
    }
  }

  fake.server = await listenUnix(fake.path, (peer) => {
    let trusted = false;
    const handle = <P>(method: string, handler: (params: P, signal: AbortSignal) => unknown) => {
      peer.onRequest(method, (params, ctx) => {
        if (!trusted) throw new WarrenError('WARREN_UNAUTHORIZED', 'say supervisor.hello with the token first');
        calls.push({ method, params });
        return handler((params ?? {}) as P, ctx.signal);
      });
    };
    peer.onRequest(CONTROL.hello.method, (params) => {
      if ((params as { token?: unknown } | null)?.token !== token) {
        fake.refused++;
        throw new WarrenError('WARREN_UNAUTHORIZED', 'wrong or missing token');
      }
      trusted = true;
      return { pid, socketDir: dir, version: '0.0.0-test' };
    });
    handle(CONTROL.status.method, () => status);
    handle<{ service?: string }>(CONTROL.reload.method, ({ service }) => {
      const services = service === undefined ? status.services : [known(service)];
      const replaced: ReloadResult['replaced'] = [];
      for (const s of services) {
        const used = new Set(s.instances.map((i) => i.instance));
        for (const instance of s.instances) {
          let next = 0;
          while (used.has(next)) next++;
          used.add(next);
          used.delete(instance.instance);
          replaced.push({ service: s.name, slot: instance.slot, from: instance.pid === null ? null : instance.instance, to: next });
          Object.assign(instance, { instance: next, pid: (instance.pid ?? 1000) + 100 });
        }
      }
      return { replaced };
    });
    handle<{ service: string }>(CONTROL.restart.method, ({ service }) => {
      const s = known(service);
      for (const instance of s.instances) {
        Object.assign(instance, { pid: (instance.pid ?? 1000) + 100, state: 'online', status: 'online', lastExit: null, stderrTail: [] });
      }
      return { restarted: s.instances.length };
    });
    handle(CONTROL.stop.method, () => {
      if (options.onStop !== 'linger') setImmediate(() => void fake.kill());
      return { stopping: true };
    });
    handle<{ graceMs?: number }>(CONTROL.rotateToken.method, async ({ graceMs }) => {
      await rotateToken(dir, graceMs === undefined ? {} : { graceMs });
      return { rotated: true };
    });
    handle(CONTROL.logs.method, (params: { service?: string; lines?: number; follow?: boolean }, signal) => stream(params, signal));
  });
  return fake;
}
