/**
 * One service process as the supervisor runs it: spawned in its own process group (with an IPC
 * channel when it speaks Warren's messages), ready as its `ready` setting says (Warren's ready
 * message, once started, or once it accepts a connection), reporting its counters, and stopped
 * with SIGTERM then SIGKILL after the drain timeout. It knows nothing of restarts or slots:
 * slot.ts decides what to do when it exits.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { spawnFailed } from '../errors.js';
import { type ActivateMessage, NODE_APP_INSTANCE_ENV, parseServiceMessage, STANDBY_ENV } from '../service/protocol.js';
import { INSTANCE_ENV, REPORT_INTERVAL_ENV, type ReportMessage, SOCKET_ID_ENV } from '../service/run.js';
import { SOCKET_DIR_ENV } from '../service/socket-dir.js';
import { TailBuffer } from '../util/tail-buffer.js';
import type { ResolvedService } from './config.js';
import { splitLines } from './lines.js';
import { SUPERVISOR_PID_ENV } from './orphans.js';
import { type ProcSample, sampleProcess } from './proc-stats.js';
import { groupGone, killGroup } from './process-group.js';
import type { ExitInfo } from './protocol.js';
import { listenLabel, waitForListener } from './readiness.js';
import { DRAIN_TIMEOUT_ENV, LISTEN_FD, LISTEN_FD_ENV, LISTENING_LINE, PORT_ENV, READY_FD, READY_FD_ENV } from './shared-port-env.js';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

export { NODE_APP_INSTANCE_ENV } from '../service/protocol.js';

/** Lines of stderr kept per process for `warren status`. */
const STDERR_TAIL = 20;
/** How long an exited process's IPC channel may take to deliver its last messages. */
const CHANNEL_CLOSE_WAIT_MS = 250;
/** How long the members of an exited process's group may take to die of the SIGKILL sent them. */
const GROUP_GONE_WAIT_MS = 5000;

export interface ProcessOptions {
  service: ResolvedService;
  /**
   * The number in its socket name (WARREN_SOCKET_ID) and log tag; unique among running processes
   * of the service. A standby's is its log tag only, until activate() gives it the one it serves on.
   */
  instance: number;
  /** The slot it fills, 0 … instances−1 (WARREN_INSTANCE, NODE_APP_INSTANCE); null for a standby until activate(). */
  slot: number | null;
  /**
   * Started as a standby (WARREN_STANDBY=1): `ready` is its standby message (dependencies made, not
   * listening); activate() makes it serve.
   */
  standby?: boolean;
  socketDir: string;
  reportIntervalMs: number;
  /**
   * The supervisor's descriptor of the service's shared `port` (shared-port.ts), handed to the
   * process as WARREN_LISTEN_FD; null when the service has no `port`.
   */
  listenFd?: number | null;
  /** Every line the process prints. */
  /** A line the process printed; `truncated` when it was cut at the splitter's maximum length. */
  onLine: (stream: 'stdout' | 'stderr', line: string, truncated: boolean) => void;
  onReport?: (report: ReportMessage) => void;
  /** A /proc measurement, every reportIntervalMs. */
  onSample?: (sample: ProcSample) => void;
}

/** Who gets a process's reports and measurements: the slot it fills (a standby changes hands). */
export interface ProcessListeners {
  onReport?: ((report: ReportMessage) => void) | undefined;
  onSample?: ((sample: ProcSample) => void) | undefined;
}

/** The handshake awaited: Warren's ready message (or the `ready` setting's condition), or a standby's message. */
type Handshake = 'ready' | 'standby';

/**
 * The preload that makes an app listen on the shared port (shared-port-preload.ts), built as its
 * own file into dist/supervisor/. From here (src/supervisor/, or dist/supervisor/ and dist/chunks/
 * once built: the same depth) it is ../../dist/supervisor/.
 */
const SHARED_PORT_PRELOAD = new URL('../../dist/supervisor/shared-port-preload.js', import.meta.url).href;

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
  /** Its socket number and log tag (a standby's changes when it is activated). */
  instance: number;
  readonly pid: number | null;
  /**
   * Resolves once the process said it is ready (a standby: that it is warmed up); rejects if it
   * exits first or takes too long.
   */
  readonly ready: Promise<void>;
  /** A standby that has not been activated yet. */
  standby: boolean;
  /** Wall clock when a standby said it was warmed up. */
  standbySince: number | null = null;
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
  /** The slot it fills: its WARREN_INSTANCE and NODE_APP_INSTANCE (null: a standby not activated yet). */
  slot: number | null;
  /** Why it never became ready, without the `service.instance` prefix of the error (log lines carry that tag already). */
  notReady: string | null = null;
  /** Why the supervisor gave up on it before it was ready; `final` when trying again cannot help. */
  failure: { reason: string; final: boolean } | null = null;
  /** Its RSS and CPU time read from /proc at each report interval (null before the first, or without /proc). */
  sample: ProcSample | null = null;
  previousSample: ProcSample | null = null;
  private sampler: NodeJS.Timeout | undefined;
  private listeners: ProcessListeners;
  /** Where the message awaited by the current handshake goes. */
  private awaiting: ((message: NonNullable<ReturnType<typeof parseServiceMessage>>) => void) | null = null;
  /** The last lines it printed on stderr: its own, not its predecessors'. */
  readonly stderrTail = new TailBuffer<string>(STDERR_TAIL);

  constructor(private readonly options: ProcessOptions) {
    const { service, instance, slot, socketDir, reportIntervalMs } = options;
    this.instance = instance;
    this.slot = slot;
    this.standby = options.standby === true;
    this.listeners = { onReport: options.onReport, onSample: options.onSample };
    const [command, args] = commandLine(service);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...service.env,
      [SOCKET_DIR_ENV]: socketDir,
      [REPORT_INTERVAL_ENV]: String(reportIntervalMs),
      // How a later supervisor recognises this process should it be orphaned (orphans.ts).
      [SUPERVISOR_PID_ENV]: String(process.pid),
    };
    if (this.standby || slot === null) {
      // A standby learns its slot and socket number when it is activated (ActivateMessage).
      env[STANDBY_ENV] = '1';
      for (const name of [INSTANCE_ENV, NODE_APP_INSTANCE_ENV, SOCKET_ID_ENV]) delete env[name];
    } else {
      // The slot, stable across restarts and reloads (PM2's NODE_APP_INSTANCE too); the socket
      // number may differ while a successor and its predecessor both listen.
      env[INSTANCE_ENV] = String(slot);
      env[NODE_APP_INSTANCE_ENV] = String(slot);
      env[SOCKET_ID_ENV] = String(instance);
      delete env[STANDBY_ENV];
    }
    for (const name of [LISTEN_FD_ENV, READY_FD_ENV, DRAIN_TIMEOUT_ENV]) delete env[name];
    const listenFd = options.listenFd ?? null;
    if (service.port !== null && listenFd !== null) {
      env[PORT_ENV] = String(service.port);
      env[LISTEN_FD_ENV] = String(LISTEN_FD);
      env[DRAIN_TIMEOUT_ENV] = String(service.drainTimeoutMs);
      if (service.ready.kind === 'shared-port') env[READY_FD_ENV] = String(READY_FD);
    }
    // Only a process that sends Warren's messages gets the IPC channel, and only one whose
    // readiness the preload tells gets the ready pipe; for any other, fd 3 would be an
    // unexplained open descriptor. The shared socket comes after them, always as fd 4: an
    // integer in stdio is a descriptor of the supervisor that the child inherits.
    const stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = ['ignore', 'pipe', 'pipe'];
    if (service.ready.kind === 'message') stdio.push('ipc');
    else if (service.ready.kind === 'shared-port') stdio.push('pipe');
    if (env[LISTEN_FD_ENV] !== undefined && listenFd !== null) {
      if (stdio.length === READY_FD) stdio.push('ignore');
      stdio.push(listenFd);
    }
    this.child = spawn(command, args, {
      cwd: service.cwd,
      env,
      stdio,
      // Its own process group: Ctrl-C in the supervisor's terminal reaches the supervisor only,
      // which then stops its instances in order instead of all of them dying at once.
      detached: true,
    });
    this.pid = this.child.pid ?? null;
    splitLines(this.child.stdout, (line, truncated) => options.onLine('stdout', line, truncated));
    splitLines(this.child.stderr, (line, truncated) => {
      this.stderrTail.push(line);
      options.onLine('stderr', line, truncated);
    });

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
      this.child.once('exit', (code, signal) => {
        clearInterval(this.sampler);
        finish(code, signal);
      });
      // A spawn failure (no such executable) emits 'error' and maybe no 'exit'.
      this.child.once('error', (error) => {
        this.failure ??= { reason: `could not start ${command}: ${error.message}`, final: true };
        options.onLine('stderr', `spawn failed: ${error.message}`, false);
        if (this.child.pid === undefined) finish(null, null);
      });
    });

    if (this.child.connected) {
      this.child.on('message', (message: unknown) => {
        // Validated on receipt: a process may send anything over its IPC channel.
        const m = parseServiceMessage(message);
        if (m === undefined) return;
        if (m.warren === 'report') {
          this.previousReport = this.lastReport;
          this.lastReport = m;
          this.lastReportAt = Date.now();
          this.listeners.onReport?.(m);
        } else {
          this.awaiting?.(m);
        }
      });
    }
    this.ready = this.awaitReady(this.standby ? 'standby' : 'ready');
    if (this.pid !== null) {
      const pid = this.pid;
      this.sampler = setInterval(() => {
        const sample = sampleProcess(pid);
        if (sample === null || this.exit !== null) return;
        this.previousSample = this.sample;
        this.sample = sample;
        this.listeners.onSample?.(sample);
      }, reportIntervalMs);
      this.sampler.unref();
    }
    // Whoever starts a process may not wait for ready (a planned stop during start).
    this.ready.catch(() => {});
  }

  /** Reports and measurements go to these from now on (a standby taken by a slot). */
  attach(listeners: ProcessListeners): void {
    this.listeners = listeners;
  }

  /**
   * Makes a standby serve as `slot` on socket number `instance`: sends its activate message and
   * resolves once it said it is ready (within readyTimeoutMs); rejects, and kills it, otherwise.
   * The caller takes it only once it is warmed up (`ready` resolved).
   */
  activate(slot: number, instance: number): Promise<void> {
    this.slot = slot;
    this.instance = instance;
    this.standby = false;
    const ready = this.awaitReady('ready');
    const message: ActivateMessage = { warren: 'activate', slot, socket: instance };
    try {
      this.child.send(message, undefined, undefined, (error) => {
        // The channel broke under the write: the process is going; its exit settles `ready`.
        if (error) this.kill();
      });
    } catch {
      this.kill();
    }
    ready.catch(() => {});
    return ready;
  }

  /**
   * Resolves once the process is ready as `service.ready` says (for 'standby': once it said it is
   * warmed up); rejects (and kills the process) when it cannot be.
   */
  private awaitReady(handshake: Handshake): Promise<void> {
    const { service } = this.options;
    const mode = service.ready;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string, final: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.awaiting = null;
        this.failure = { reason, final };
        this.notReady = reason;
        reject(spawnFailed(`${service.name}.${this.instance} ${reason}`));
        this.kill();
      };
      const succeed = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.awaiting = null;
        if (handshake === 'standby') {
          this.standbySince = Date.now();
          return resolve();
        }
        this.readySince = Date.now();
        this.lastReportAt = Date.now();
        resolve();
      };
      const what =
        handshake === 'standby'
          ? "did not say it was warmed up (Warren's standby message)"
          : mode.kind === 'listen'
            ? `did not accept a connection on ${listenLabel(mode)}`
            : mode.kind === 'shared-port'
              ? `did not listen on its shared port ${service.port} (listen(process.env.PORT))`
              : "did not say it was ready (Warren's ready message)";
      const timer = setTimeout(() => fail(`${what} within readyTimeoutMs ${service.readyTimeoutMs}`, false), service.readyTimeoutMs);
      if (mode.kind === 'message') {
        this.awaiting = (m) => {
          if (m.warren !== handshake) return;
          if (m.service !== service.name) {
            // Deterministic: the same code says the same name again, so this is not retried.
            fail(`${service.entry} serves '${m.service}', but the config calls it '${service.name}': clients would not find it`, true);
            return;
          }
          succeed();
        };
      }
      void this.exited.then((exit) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.awaiting = null;
        const before = handshake === 'standby' ? 'before it was warmed up' : 'before it was ready';
        this.notReady = this.failure?.reason ?? `exited (${describeExit(exit)}) ${before}`;
        reject(spawnFailed(`${service.name}.${this.instance} ${this.notReady}`));
      });
      if (mode.kind === 'spawn') {
        // Online once started: the 'spawn' event says the executable was found and runs.
        this.child.once('spawn', succeed);
      } else if (mode.kind === 'listen') {
        void waitForListener(mode, this.pid, () => settled).then((ok) => {
          if (ok) succeed();
        });
      } else if (mode.kind === 'shared-port') {
        // The preload writes one line on the ready pipe once the app's listen succeeded.
        const pipe = this.child.stdio[READY_FD] as Readable | null | undefined;
        let text = '';
        pipe?.setEncoding('utf8');
        pipe?.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(LISTENING_LINE)) {
            pipe.destroy();
            succeed();
          }
        });
        pipe?.on('error', () => {});
      }
    });
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

/** The executable and its arguments, from `interpreter`, `nodeArgs`, `entry` and `args`. */
export function commandLine(service: ResolvedService): [string, string[]] {
  const { interpreter, nodeArgs, entry, args } = service;
  if (interpreter === 'none') return [entry, [...args]];
  if (interpreter === 'node') {
    const loader = TYPESCRIPT.has(extname(entry)) ? ['--import', tsxLoader()] : [];
    // A shared port: the app's listen(PORT) is made a listen on the inherited socket.
    const preload = service.port === null ? [] : ['--import', SHARED_PORT_PRELOAD];
    return [process.execPath, [...nodeArgs, ...loader, ...preload, entry, ...args]];
  }
  return [interpreter, [...nodeArgs, entry, ...args]];
}

export function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `signal ${exit.signal}`;
  if (exit.code !== null) return `code ${exit.code}`;
  return 'could not start';
}
