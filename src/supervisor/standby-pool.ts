/**
 * A service's standby processes (`standby: N`): started like any instance but told by
 * WARREN_STANDBY=1 to make their dependencies and wait, not listening (so no client finds them),
 * until a slot takes one over. A slot whose process crashed (or is recycled) activates one at
 * once instead of spawning a process and waiting for Node to start; the pool then starts another
 * behind it, once the activation is over, so that the spawn does not compete with it.
 *
 * A standby runs the code and settings it was started with: a reload or restart of the service
 * replaces every standby (renew) so that none with the old ones is ever activated. A standby that
 * exits before it is taken is started again with the service's restart backoff; after
 * `maxUnstableRestarts` failures in a row the pool gives up (its `failure` says why) until the
 * service is started, restarted or reloaded again. The slots go on without standbys meanwhile.
 */
import { RestartBackoff } from './backoff.js';
import type { ResolvedService } from './config.js';
import { cpuPercent } from './proc-stats.js';
import { describeExit, ServiceProcess } from './process.js';
import type { ExitInfo, StandbyStatus } from './protocol.js';
import type { SlotHost } from './slot.js';

/** What a slot needs from the pool. */
export interface StandbySource {
  /**
   * A warmed-up standby of the current settings, removed from the pool (its log number is
   * released: the slot allocates the socket number it serves on); null when none is ready.
   */
  take(): ServiceProcess | null;
  /** Starts the standbys missing, now that a takeover is over (a spawn would have slowed it). */
  refill(): void;
}

export class StandbyPool implements StandbySource {
  /** Standbys not taken yet, starting or ready. */
  private readonly processes: ServiceProcess[] = [];
  /** Standbys being stopped (renewed, or the pool stopped), until they have exited. */
  private readonly retiring = new Set<Promise<unknown>>();
  private backoff: RestartBackoff;
  private timer: NodeJS.Timeout | undefined;
  /** Taken since the last refill: the spawns wait until the takeover is over. */
  private held = 0;
  private running = false;
  /** Why the pool gave up starting standbys; null while it has not. */
  failure: string | null = null;

  constructor(
    private service: ResolvedService,
    private readonly host: SlotHost,
    /** A standby became ready: a slot waiting to restart may take it. */
    private readonly onReady: () => void,
  ) {
    this.backoff = new RestartBackoff(service.restart);
  }

  /** Starts the standbys wanted (none when `standby` is 0); forgets an earlier failure. */
  start(): void {
    this.running = true;
    this.failure = null;
    this.backoff.reset();
    this.fill();
  }

  /**
   * New settings: the standbys running are stopped (they run the old code and settings, and a
   * reload or restart must never activate one of them) and as many as wanted are started anew.
   */
  async renew(service: ResolvedService = this.service): Promise<void> {
    this.service = service;
    this.backoff = new RestartBackoff(service.restart);
    this.failure = null;
    this.clearTimer();
    const old = this.processes.splice(0);
    if (this.running) this.fill();
    await Promise.all(old.map((proc) => this.retire(proc)));
  }

  /** Settings for the standbys started from now on, without stopping those running (a change of `standby` only). */
  resize(service: ResolvedService): void {
    this.service = service;
    const extra = this.processes.splice(service.standby);
    for (const proc of extra) void this.retire(proc);
    if (this.running) this.fill();
  }

  /** Stops every standby; none is started until start(). Resolves once they have exited. */
  async stop(): Promise<void> {
    this.running = false;
    this.clearTimer();
    for (const proc of this.processes.splice(0)) void this.retire(proc);
    await Promise.all([...this.retiring]);
  }

  take(): ServiceProcess | null {
    const at = this.processes.findIndex((proc) => proc.standbySince !== null && proc.running);
    if (at < 0) return null;
    const [proc] = this.processes.splice(at, 1) as [ServiceProcess];
    this.host.release(this.service.name, proc.instance);
    this.held++;
    return proc;
  }

  refill(): void {
    this.held = Math.max(0, this.held - 1);
    if (this.held === 0 && this.running) this.fill();
  }

  status(): StandbyStatus[] {
    const now = Date.now();
    return this.processes.map((proc) => {
      const ready = proc.standbySince !== null;
      const sample = proc.running ? proc.sample : null;
      const cpu = sample !== null && proc.previousSample ? cpuPercent(proc.previousSample, sample) : null;
      return {
        service: this.service.name,
        instance: proc.instance,
        pid: proc.running ? proc.pid : null,
        state: ready ? 'standby' : 'starting',
        readySince: proc.standbySince,
        uptime: ready ? now - (proc.standbySince as number) : 0,
        rssMB: sample === null ? null : Math.round(sample.rssBytes / 104_857.6) / 10,
        cpuPercent: cpu === null ? null : Math.round(cpu * 10) / 10,
      };
    });
  }

  /** Starts standbys until there are as many as wanted, unless the pool gave up or waits to try again. */
  private fill(): void {
    if (this.failure !== null || this.timer !== undefined || this.held > 0) return;
    while (this.processes.length < this.service.standby) this.processes.push(this.spawn());
  }

  private spawn(): ServiceProcess {
    const name = this.service.name;
    // A number for its log lines: from `instances` up, as a reload's successor gets.
    const instance = this.host.allocate(name, this.service.instances, this.service.instances);
    const proc: ServiceProcess = new ServiceProcess({
      service: this.service,
      instance,
      slot: null,
      standby: true,
      socketDir: this.host.socketDir,
      reportIntervalMs: this.host.reportIntervalMs,
      listenFd: this.host.listenFd(name),
      onLine: (stream, line, truncated) => this.host.line(name, proc.instance, stream, line, truncated),
    });
    this.host.event('info', name, instance, `started as a standby (pid ${proc.pid ?? 'none'})`);
    proc.ready.then(
      () => {
        if (!this.processes.includes(proc)) return;
        this.host.event('info', name, proc.instance, `standby ready (pid ${proc.pid}): warmed up, not listening`);
        this.onReady();
      },
      (error: unknown) => {
        if (!this.processes.includes(proc)) return;
        this.host.event('error', name, proc.instance, `standby: ${proc.notReady ?? (error as Error).message}`);
      },
    );
    void proc.exited.then((exit) => this.onExit(proc, exit));
    return proc;
  }

  private onExit(proc: ServiceProcess, exit: ExitInfo): void {
    const at = this.processes.indexOf(proc);
    // Taken by a slot (whose process it is now), or stopped on purpose: not the pool's business.
    if (at < 0 || proc.stopping) return;
    this.processes.splice(at, 1);
    this.host.release(this.service.name, proc.instance);
    const name = this.service.name;
    const last = proc.failure?.reason ?? describeExit(exit);
    if (proc.failure?.final) {
      this.failure = `standby: ${proc.failure.reason} (not retried: it would fail again)`;
      this.host.event('error', name, proc.instance, this.failure);
      return;
    }
    const uptime = proc.standbySince === null ? null : exit.at - proc.standbySince;
    const decision = this.backoff.onExit(uptime);
    if (!decision.restart) {
      this.failure = `standby: exited ${decision.unstableExits} times in a row within stableAfterMs; last: ${last}`;
      this.host.event(
        'error',
        name,
        proc.instance,
        `${this.failure}; no standby is started until the service is started, restarted or reloaded`,
      );
      return;
    }
    this.host.event('warn', name, proc.instance, `standby exited (${last}); another in ${decision.delayMs} ms`);
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) this.fill();
    }, decision.delayMs);
  }

  /** Stops a standby (SIGTERM: it runs onClose and exits; SIGKILL after drainTimeoutMs). */
  private retire(proc: ServiceProcess): Promise<unknown> {
    const stopped = proc.stop(this.service.drainTimeoutMs).then((exit) => {
      this.host.release(this.service.name, proc.instance);
      this.host.event('info', this.service.name, proc.instance, `standby exited (${describeExit(exit)})`);
    });
    this.retiring.add(stopped);
    void stopped.finally(() => this.retiring.delete(stopped));
    return stopped;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
