/**
 * One service process as the supervisor runs it: spawned with an IPC channel and its own
 * process group, ready when it says so (see runService), reporting its counters, and stopped
 * with SIGTERM then SIGKILL after the drain timeout. It knows nothing of restarts or slots:
 * slot.ts decides what to do when it exits.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnFailed } from '../errors.js';
import { parseServiceMessage } from '../service/protocol.js';
import { INSTANCE_ENV, REPORT_INTERVAL_ENV, type ReportMessage } from '../service/run.js';
import { SOCKET_DIR_ENV } from '../service/socket-dir.js';
import type { ResolvedService } from './config.js';
import { splitLines } from './lines.js';
import { SUPERVISOR_PID_ENV } from './orphans.js';
import { groupGone, killGroup } from './process-group.js';
import type { ExitInfo } from './protocol.js';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);
/** How long an exited process's IPC channel may take to deliver its last messages. */
const CHANNEL_CLOSE_WAIT_MS = 250;
/** How long the members of an exited process's group may take to die of the SIGKILL sent them. */
const GROUP_GONE_WAIT_MS = 5000;

export interface ProcessOptions {
  service: ResolvedService;
  /** The instance number (socket name, WARREN_INSTANCE). */
  instance: number;
  socketDir: string;
  /** Working directory of the process (the config file's directory). */
  cwd: string;
  reportIntervalMs: number;
  /** Every line the process prints. */
  /** A line the process printed; `truncated` when it was cut at the splitter's maximum length. */
  onLine: (stream: 'stdout' | 'stderr', line: string, truncated: boolean) => void;
  onReport: (report: ReportMessage) => void;
}

/** Where tsx's ESM loader is, for `--import`: resolved from Warren's own dependencies. */
function tsxLoader(): string {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
  } catch (error) {
    throw spawnFailed('running a TypeScript entry needs the tsx package, which is not installed: npm install tsx', { cause: error });
  }
}

export class ServiceProcess {
  readonly child: ChildProcess;
  readonly instance: number;
  readonly pid: number | null;
  /** Resolves once the process said it is ready; rejects if it exits first or takes too long. */
  readonly ready: Promise<void>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Wall clock when it became ready. */
  readySince: number | null = null;
  exit: ExitInfo | null = null;
  /** Set before a planned stop, so that its exit is not taken for a crash. */
  stopping = false;
  /** stop() killed it with SIGKILL because it had not exited within the drain timeout. */
  killedAfterDrain = false;
  lastReport: ReportMessage | null = null;
  previousReport: ReportMessage | null = null;
  lastReportAt = 0;

  constructor(private readonly options: ProcessOptions) {
    const { service, instance, socketDir, cwd, reportIntervalMs } = options;
    this.instance = instance;
    const execArgv = TYPESCRIPT.has(extname(service.entry)) ? ['--import', tsxLoader()] : [];
    this.child = spawn(process.execPath, [...execArgv, service.entry], {
      cwd,
      env: {
        ...process.env,
        ...service.env,
        [SOCKET_DIR_ENV]: socketDir,
        [INSTANCE_ENV]: String(instance),
        [REPORT_INTERVAL_ENV]: String(reportIntervalMs),
        // How a later supervisor recognises this process should it be orphaned (orphans.ts).
        [SUPERVISOR_PID_ENV]: String(process.pid),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl-C in the supervisor's terminal reaches the supervisor only,
      // which then stops its instances in order instead of all of them dying at once.
      detached: true,
    });
    this.pid = this.child.pid ?? null;
    splitLines(this.child.stdout, (line, truncated) => options.onLine('stdout', line, truncated));
    splitLines(this.child.stderr, (line, truncated) => options.onLine('stderr', line, truncated));

    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit ??= { code, signal, at: Date.now() };
        const exit = this.exit;
        // 'exit' can come before the IPC channel is read to its end, which may hold the final
        // report of a process that drained: wait (briefly) for the channel to close.
        const channelClosed = new Promise<void>((done) => {
          if (!this.child.connected) return done();
          const timer = setTimeout(done, CHANNEL_CLOSE_WAIT_MS);
          this.child.once('disconnect', () => {
            clearTimeout(timer);
            done();
          });
        });
        // Whatever it started in its group and left running (a helper that ignores SIGTERM, say)
        // goes with it: nothing a service started may outlive it, nor a supervisor's stop(). The
        // SIGKILL is delivered asynchronously, so `exited` waits until the group is empty. The
        // group's number cannot have been reused yet: 'exit' comes in the same turn as the wait
        // that freed the pid, and a pid stays taken while a group of that number has members.
        const groupEmpty = this.pid !== null && killGroup(this.pid) ? groupGone(this.pid, GROUP_GONE_WAIT_MS) : Promise.resolve(true);
        void Promise.all([channelClosed, groupEmpty]).then(() => resolve(exit));
      };
      this.child.once('exit', finish);
      // A spawn failure (no such executable) emits 'error' and maybe no 'exit'.
      this.child.once('error', (error) => {
        options.onLine('stderr', `spawn failed: ${error.message}`, false);
        if (this.child.exitCode === null && this.child.pid === undefined) finish(null, null);
      });
    });

    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(spawnFailed(`${service.name}.${instance} did not say it was ready within ${service.readyTimeoutMs} ms`));
        this.kill();
      }, service.readyTimeoutMs);
      this.child.on('message', (message: unknown) => {
        // Validated on receipt: a process may send anything over its IPC channel.
        const m = parseServiceMessage(message);
        if (m?.warren === 'ready') {
          const ready = m;
          clearTimeout(timer);
          if (ready.service !== service.name) {
            reject(
              spawnFailed(
                `${service.entry} serves '${ready.service}', but the config calls it '${service.name}': clients would not find it`,
              ),
            );
            this.kill();
            return;
          }
          this.readySince = Date.now();
          this.lastReportAt = Date.now();
          resolve();
        } else if (m?.warren === 'report') {
          this.previousReport = this.lastReport;
          this.lastReport = m;
          this.lastReportAt = Date.now();
          options.onReport(this.lastReport);
        }
      });
      void this.exited.then((exit) => {
        clearTimeout(timer);
        reject(spawnFailed(`${service.name}.${instance} exited (${describeExit(exit)}) before it was ready`));
      });
    });
    // Whoever starts a process may not wait for ready (a planned stop during start).
    this.ready.catch(() => {});
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** SIGTERM (drain and exit), then SIGKILL after drainTimeoutMs; resolves once it exited. */
  stop(drainTimeoutMs = this.options.service.drainTimeoutMs): Promise<ExitInfo> {
    this.stopping = true;
    if (this.exit) return Promise.resolve(this.exit);
    this.signal('SIGTERM');
    const timer = setTimeout(() => {
      if (this.exit !== null) return;
      this.killedAfterDrain = true;
      this.kill();
    }, drainTimeoutMs);
    return this.exited.finally(() => clearTimeout(timer));
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.exit !== null || this.pid === null) return;
    try {
      // The whole group: whatever the service started itself goes too.
      process.kill(-this.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

export function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `signal ${exit.signal}`;
  if (exit.code !== null) return `code ${exit.code}`;
  return 'could not start';
}
