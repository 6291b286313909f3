/**
 * One of a service's `instances`: a place that always has (at most) one current process.
 * The slot restarts it after a crash with backoff, gives up into `errored`, recycles it when it
 * grows too large, has served enough or hangs, and replaces it for reloads with a successor
 * that is ready before the old process drains. Instance numbers come from the supervisor: a
 * successor needs its own socket while its predecessor still listens.
 */

import type { ReportMessage } from '../service/run.js';
import { doublingDelay } from '../util/backoff.js';
import { RestartBackoff } from './backoff.js';
import type { ResolvedService } from './config.js';
import { cpuPercent as cpuPercentBetween, type ProcSample } from './proc-stats.js';
import { describeExit, ServiceProcess } from './process.js';
import type { ExitInfo, InstanceState, InstanceStatus } from './protocol.js';
import type { StandbySource } from './standby-pool.js';

/** What a slot needs from its supervisor. */
export interface SlotHost {
  socketDir: string;
  reportIntervalMs: number;
  /**
   * A free socket number for this service, released when its process has exited: `preferred`
   * (the slot's own) when free, else the lowest free one from `from` (the instance count) up.
   */
  allocate(service: string, preferred: number, from: number): number;
  release(service: string, instance: number): void;
  /** The descriptor of the service's shared `port` that its processes inherit; null: it has none. */
  listenFd(service: string): number | null;
  line(service: string, instance: number, stream: 'stdout' | 'stderr', line: string, truncated: boolean): void;
  event(level: 'info' | 'warn' | 'error', service: string, instance: number | null, msg: string): void;
}

export type RecycleReason = 'memory' | 'requests' | 'exec-timeout' | 'unresponsive';

/** A process that sends Warren's reports and has sent none for this many report intervals shows as silent. */
const SILENT_AFTER_REPORTS = 3;
/** Shortest wait before a recycle is tried again after its successor failed (ms). */
const RECYCLE_RETRY_MIN_MS = 1000;
/** Recycling by request count is spread over +0–10 % so that instances started together do not recycle together. */
const REQUEST_SPREAD = 0.1;

export class Slot {
  state: InstanceState = 'stopped';
  private readonly settleWaiters: (() => void)[] = [];
  current: ServiceProcess | null = null;
  restarts = 0;
  lastExit: ExitInfo | null = null;
  /** The reason it is errored, for status and logs. */
  failure: string | null = null;
  private backoff: RestartBackoff;
  /** The process whose stderr status shows: the current one, or the last that failed. */
  private lastFailed: ServiceProcess | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private replacing: Promise<void> | null = null;
  /** Counters of this slot's earlier processes that have exited. */
  private requestsBefore = 0;
  private errorsBefore = 0;
  /** Processes being drained (replaced or stopped) and not exited yet: their calls still count. */
  private readonly retiring = new Set<ServiceProcess>();
  private requestLimit = Number.POSITIVE_INFINITY;
  /** Recycles whose successor failed in a row, and no new recycle before this time (ms since the epoch). */
  private recycleFailures = 0;
  private recycleHeldUntil = 0;
  private stopped = false;

  constructor(
    /** The settings its next process starts with; a reload of the config changes them (reconfigure). */
    public service: ResolvedService,
    readonly index: number,
    private readonly host: SlotHost,
    /** The service's standbys (`standby`), taken over after a crash or for a recycle; null: none. */
    private readonly standbys: StandbySource | null = null,
  ) {
    this.backoff = new RestartBackoff(service.restart);
  }

  /** Settings from a reloaded config: the next process started (a replacement) uses them; crash counting starts over. */
  reconfigure(service: ResolvedService): void {
    this.service = service;
    this.backoff = new RestartBackoff(service.restart);
  }

  /** Starts a process; resolves once it is ready, or once the slot has given up (errored). */
  async start(): Promise<void> {
    this.stopped = false;
    this.clearRestart();
    const proc = this.spawn();
    await this.bringUp(proc, proc.ready);
  }

  /**
   * A standby takes over this slot (after a crash, or once one is ready while the slot waits out
   * its restart delay): activated at once, with no process to start. Resolves as start() does.
   */
  private async takeOver(standby: ServiceProcess): Promise<void> {
    this.clearRestart();
    const ready = this.activate(standby);
    await this.bringUp(standby, ready, () => this.standbys?.refill());
  }

  /** Makes a standby taken from the pool this slot's: its exit, reports and samples come here; it serves on a socket number of its own. */
  private activate(standby: ServiceProcess): Promise<void> {
    const instance = this.host.allocate(this.service.name, this.index, this.service.instances);
    standby.attach({ onReport: (report) => this.onReport(standby, report), onSample: (sample) => this.onSample(standby, sample) });
    void standby.exited.then((exit) => this.onExit(standby, exit));
    return standby.activate(this.index, instance);
  }

  /** `proc` is current from now on; online once `ready` resolves, else the crash path decides (its exit). */
  private async bringUp(proc: ServiceProcess, ready: Promise<void>, settledReady?: () => void): Promise<void> {
    this.current = proc;
    this.setState('starting');
    try {
      await ready;
    } catch (error) {
      settledReady?.();
      if (this.current !== proc || this.stopped) return;
      // The message has no `service.instance` prefix: the log line is tagged with it already.
      this.host.event('error', this.service.name, proc.instance, proc.notReady ?? (error as Error).message);
      // Wait for the exit: the crash path decides between a delayed restart and errored.
      await proc.exited;
      await this.settled();
      return;
    }
    if (this.current === proc) this.online(proc);
    settledReady?.();
  }

  /**
   * A standby became ready: a slot waiting out its restart delay takes it now instead of
   * starting a process later. True when this slot took one.
   */
  offerStandby(): boolean {
    if (this.stopped || this.state !== 'restarting' || this.restartTimer === undefined) return false;
    const standby = this.standbys?.take() ?? null;
    if (standby === null) return false;
    this.host.event('info', this.service.name, this.current?.instance ?? null, `standby (pid ${standby.pid}) takes over`);
    void this.takeOver(standby);
    return true;
  }

  /** Resolves when the slot is online, errored or stopped (restarts in between included). */
  private settled(): Promise<void> {
    if (this.state === 'online' || this.state === 'errored' || this.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  private setState(state: InstanceState): void {
    this.state = state;
    if (state === 'online' || state === 'errored' || state === 'stopped') {
      for (const wake of this.settleWaiters.splice(0)) wake();
    }
  }

  /**
   * Replaces the current process with a new one, ready before the old one drains. Resolves
   * with the old and new instance numbers; rejects (old one kept) when the successor fails.
   */
  replace(why: string, useStandby = false): Promise<{ from: number | null; to: number }> {
    if (this.replacing) return this.replacing.then(() => this.replace(why, useStandby));
    let result: { from: number | null; to: number } | undefined;
    const run = async () => {
      const old = this.current;
      if (old === null || !old.running || this.state !== 'online') {
        // Nothing healthy to hand over from: a plain (re)start.
        if (old?.running) await this.retire(old);
        await this.start();
        result = { from: old?.instance ?? null, to: this.current?.instance ?? -1 };
        return;
      }
      this.host.event('info', this.service.name, old.instance, `replacing (${why})`);
      // A recycle may hand over to a standby (same code and settings); a reload never does.
      const standby = useStandby ? (this.standbys?.take() ?? null) : null;
      const next = standby ?? this.spawn();
      try {
        await (standby === null ? next.ready : this.activate(standby));
      } catch (error) {
        next.stopping = true;
        next.kill();
        await next.exited;
        throw error;
      } finally {
        if (standby !== null) this.standbys?.refill();
      }
      // The old process may have crashed meanwhile: its restart, pending or already started,
      // is not needed any more, and the successor takes over from whichever process is current.
      this.clearRestart();
      const previous = this.current;
      this.current = next;
      this.online(next);
      result = { from: old.instance, to: next.instance };
      if (previous !== null && previous !== old && previous.running) await this.retire(previous);
      await this.retire(old);
    };
    this.replacing = run().finally(() => {
      this.replacing = null;
    });
    return this.replacing.then(() => result as { from: number | null; to: number });
  }

  /** Stops for good: drains the current process (SIGKILL after drainTimeoutMs). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearRestart();
    await this.replacing?.catch(() => {});
    const proc = this.current;
    if (proc?.running) {
      this.setState('draining');
      await this.retire(proc);
    }
    this.setState('stopped');
  }

  /** Stops then starts again, forgetting an errored state and the backoff. */
  async restart(): Promise<void> {
    await this.stop();
    this.backoff.reset();
    this.failure = null;
    await this.start();
  }

  status(): InstanceStatus {
    const proc = this.current;
    const report = proc?.lastReport ?? null;
    const previous = proc?.previousReport ?? null;
    const online = this.state === 'online' && proc?.readySince != null;
    let reqPerSec = 0;
    let cpuPercent: number | null = null;
    if (report && previous && report.at > previous.at) {
      const seconds = (report.at - previous.at) / 1000;
      reqPerSec = round((report.metrics.service.requests - previous.metrics.service.requests) / seconds, 1);
      const cpuMicros = report.cpuUserMicros + report.cpuSystemMicros - (previous.cpuUserMicros + previous.cpuSystemMicros);
      cpuPercent = round((cpuMicros / 1e6 / seconds) * 100, 1);
    }
    // Calls of a process that drains count until it exits, when they join requestsBefore: the
    // totals never go down during a replacement.
    let requests = this.requestsBefore + (report?.metrics.service.requests ?? 0);
    let errors = this.errorsBefore + (report?.metrics.service.errors ?? 0);
    for (const draining of this.retiring) {
      if (draining === proc) continue;
      requests += draining.lastReport?.metrics.service.requests ?? 0;
      errors += draining.lastReport?.metrics.service.errors ?? 0;
    }
    const meanMs = report?.metrics.service.meanMs ?? 0;
    // Measured from /proc where it can be: true for any process, and current even when the
    // process is too busy to report.
    const sample = proc?.running ? proc.sample : null;
    if (sample !== null && proc?.previousSample) cpuPercent = round(cpuPercentBetween(proc.previousSample, sample) ?? 0, 1);
    const rssBytes = sample?.rssBytes ?? (proc?.running ? report?.rssBytes : undefined);
    const silentMs = proc?.running && online && this.service.ready.kind === 'message' ? Date.now() - proc.lastReportAt : 0;
    return {
      service: this.service.name,
      instance: proc?.instance ?? -1,
      slot: this.index,
      pid: proc?.running ? proc.pid : null,
      state: this.state,
      status: this.state,
      readySince: online ? proc.readySince : null,
      uptime: online && proc.readySince !== null ? Date.now() - proc.readySince : 0,
      restarts: this.restarts,
      requests,
      errors,
      reqPerSec,
      meanMs,
      p99Ms: report?.metrics.service.p99Ms ?? 0,
      avgResponseTime: meanMs,
      rssMB: rssBytes === undefined ? null : round(rssBytes / 1_048_576, 1),
      cpuPercent: proc?.running ? cpuPercent : null,
      lastExit: this.lastExit,
      silentForMs: silentMs > SILENT_AFTER_REPORTS * this.host.reportIntervalMs ? silentMs : null,
      failure: this.state === 'errored' ? this.failure : null,
      // The current process's own lines (after a crash, the crashed one's until its successor
      // prints): never several processes run together.
      stderrTail:
        (proc !== null && (proc.stderrTail.size > 0 || this.lastFailed === null) ? proc : this.lastFailed)?.stderrTail.toArray() ?? [],
      fds: report && proc?.running ? report.fds : null,
    };
  }

  private spawn(): ServiceProcess {
    const instance = this.host.allocate(this.service.name, this.index, this.service.instances);
    const proc: ServiceProcess = new ServiceProcess({
      service: this.service,
      instance,
      slot: this.index,
      socketDir: this.host.socketDir,
      reportIntervalMs: this.host.reportIntervalMs,
      listenFd: this.host.listenFd(this.service.name),
      onLine: (stream, line, truncated) => this.host.line(this.service.name, proc.instance, stream, line, truncated),
      onReport: (report) => this.onReport(proc, report),
      onSample: (sample) => this.onSample(proc, sample),
    });
    this.host.event('info', this.service.name, instance, `started (pid ${proc.pid ?? 'none'})`);
    void proc.exited.then((exit) => this.onExit(proc, exit));
    return proc;
  }

  private online(proc: ServiceProcess): void {
    this.setState('online');
    this.failure = null;
    const limit = this.service.maxRequests;
    this.requestLimit = limit === null ? Number.POSITIVE_INFINITY : Math.round(limit * (1 + Math.random() * REQUEST_SPREAD));
    this.armWatchdog(proc);
    this.host.event('info', this.service.name, proc.instance, `ready (pid ${proc.pid})`);
  }

  /** Memory measured from outside: every process, Warren service or not, stuck or not. */
  private onSample(proc: ServiceProcess, sample: ProcSample): void {
    if (proc !== this.current || this.state !== 'online') return;
    const { maxMemoryMB } = this.service;
    if (maxMemoryMB !== null && sample.rssBytes > maxMemoryMB * 1_048_576) {
      this.recycle('memory', `RSS ${Math.round(sample.rssBytes / 1_048_576)} MB is over maxMemoryMB ${maxMemoryMB}`);
    }
  }

  private onReport(proc: ServiceProcess, report: ReportMessage): void {
    if (proc !== this.current || this.state !== 'online') return;
    const { maxMemoryMB, execTimeoutMs } = this.service;
    // Without /proc, the process's own figure is all there is.
    if (maxMemoryMB !== null && proc.sample === null && report.rssBytes > maxMemoryMB * 1_048_576) {
      this.recycle('memory', `RSS ${Math.round(report.rssBytes / 1_048_576)} MB is over maxMemoryMB ${maxMemoryMB}`);
    } else if (report.metrics.service.requests >= this.requestLimit) {
      this.recycle('requests', `served ${report.metrics.service.requests} calls (maxRequests ${this.service.maxRequests})`);
    } else if (execTimeoutMs !== null && report.oldestCallMs > execTimeoutMs) {
      this.recycle('exec-timeout', `a call has run ${Math.round(report.oldestCallMs)} ms (execTimeoutMs ${execTimeoutMs})`);
    }
  }

  /**
   * A process whose event loop is blocked sends no reports: with execTimeoutMs set, one silent
   * for longer than that (plus two report intervals) is replaced like a call running too long.
   */
  private armWatchdog(proc: ServiceProcess): void {
    clearInterval(this.watchdog);
    const limit = this.service.execTimeoutMs;
    if (limit === null) return;
    const silentFor = limit + 2 * this.host.reportIntervalMs;
    this.watchdog = setInterval(
      () => {
        if (proc !== this.current || !proc.running) {
          clearInterval(this.watchdog);
          return;
        }
        if (this.state === 'online' && Date.now() - proc.lastReportAt > silentFor) {
          this.recycle('unresponsive', `no report for ${Date.now() - proc.lastReportAt} ms (execTimeoutMs ${limit})`);
        }
      },
      Math.max(50, Math.min(1000, this.host.reportIntervalMs)),
    );
    this.watchdog.unref();
  }

  private recycle(reason: RecycleReason, detail: string): void {
    if (this.replacing || this.stopped || Date.now() < this.recycleHeldUntil) return;
    this.host.event('warn', this.service.name, this.current?.instance ?? null, `recycling: ${detail}`);
    this.replace(reason, true).then(
      () => {
        this.recycleFailures = 0;
        this.recycleHeldUntil = 0;
      },
      (error: unknown) => {
        // The process still serves; a successor that cannot start is not tried again at every
        // report, but after a delay that doubles as the restart delay does.
        const { minDelayMs, maxDelayMs } = this.service.restart;
        const delay = doublingDelay(
          this.recycleFailures,
          Math.max(minDelayMs, RECYCLE_RETRY_MIN_MS),
          Math.max(maxDelayMs, RECYCLE_RETRY_MIN_MS),
        );
        this.recycleFailures++;
        this.recycleHeldUntil = Date.now() + delay;
        this.host.event(
          'error',
          this.service.name,
          this.current?.instance ?? null,
          `recycling failed: ${(error as Error).message}; trying again in ${delay} ms at the earliest`,
        );
      },
    );
  }

  /** Drains and stops a process that is being replaced or stopped on purpose. */
  private async retire(proc: ServiceProcess): Promise<void> {
    proc.stopping = true;
    if (proc.running) this.retiring.add(proc);
    await proc.stop(this.service.drainTimeoutMs);
    // Not a process that was killed by someone else meanwhile.
    if (proc.killedAfterDrain) {
      this.host.event(
        'warn',
        this.service.name,
        proc.instance,
        `did not stop within drainTimeoutMs ${this.service.drainTimeoutMs}: killed`,
      );
    }
  }

  private onExit(proc: ServiceProcess, exit: ExitInfo): void {
    this.host.release(this.service.name, proc.instance);
    this.retiring.delete(proc);
    const report = proc.lastReport;
    if (report) {
      this.requestsBefore += report.metrics.service.requests;
      this.errorsBefore += report.metrics.service.errors;
    }
    // A planned stop, or a successor that never took over: not a crash of this slot.
    if (proc.stopping || proc !== this.current) {
      this.host.event('info', this.service.name, proc.instance, `exited (${describeExit(exit)})`);
      return;
    }
    clearInterval(this.watchdog);
    // The supervisor's own reason, when it killed the process itself, says more than the signal.
    this.lastExit = proc.failure === null ? exit : { ...exit, reason: proc.failure.reason };
    this.lastFailed = proc;
    if (this.stopped) return;
    if (proc.failure?.final) {
      // Deterministic (a name that does not match the config, an interpreter that is not there):
      // another try would fail the same way, so the slot is errored at once.
      this.setState('errored');
      this.failure = proc.failure.reason;
      this.host.event('error', this.service.name, proc.instance, `errored: ${this.failure} (not retried: it would fail again)`);
      return;
    }
    const uptime = proc.readySince === null ? null : exit.at - proc.readySince;
    const decision = this.backoff.onExit(uptime);
    if (!decision.restart) {
      this.setState('errored');
      const last = proc.failure?.reason ?? describeExit(exit);
      this.failure = `exited ${decision.unstableExits} times in a row within stableAfterMs; last: ${last}`;
      this.host.event('error', this.service.name, proc.instance, `errored: ${this.failure}`);
      return;
    }
    this.restarts++;
    const why = proc.failure === null ? `exited (${describeExit(exit)})` : `${proc.failure.reason}: killed`;
    // A standby takes over at once: there is nothing to wait for, and the crash still counts
    // towards maxUnstableRestarts, so a crash loop ends errored as it would without standbys.
    const standby = this.standbys?.take() ?? null;
    if (standby !== null) {
      this.host.event('warn', this.service.name, proc.instance, `${why}; standby (pid ${standby.pid}) takes over`);
      void this.takeOver(standby);
      return;
    }
    this.setState('restarting');
    this.host.event('warn', this.service.name, proc.instance, `${why}; restarting in ${decision.delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.start();
    }, decision.delayMs);
  }

  private clearRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
