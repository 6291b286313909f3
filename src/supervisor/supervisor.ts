/**
 * The supervisor: runs every instance of every configured service as its own process, keeps
 * them alive, recycles and reloads them without dropping calls, answers on a control socket,
 * and stops them all cleanly. `warren up` is a thin shell around this class; tests drive it
 * directly.
 *
 * @example
 * const supervisor = new Supervisor(await loadConfig('warren.config.json'));
 * await supervisor.start();          // every instance online (or errored)
 * await supervisor.reload('users');  // rolling, zero-downtime
 * await supervisor.stop();
 */

import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { alreadyRunning, invalidArgument, unknownService, type WarrenError } from '../errors.js';
import { isSocketAlive, type PeerServer } from '../peer/transports/socket.js';
import { loadOrCreateToken } from '../service/auth.js';
import { listInstances } from '../service/discovery.js';
import { ensureSocketDir } from '../service/socket-dir.js';
import type { ResolvedConfig } from './config.js';
import { type ControlHandlers, listenControl } from './control-server.js';
import { findOrphans, killOrphans } from './orphans.js';
import type { SupervisorOutput } from './output.js';
import { CONTROL_SOCKET, type ReloadResult, type SupervisorStatus } from './protocol.js';
import { Slot, type SlotHost } from './slot.js';

export type { SupervisorOutput } from './output.js';

export interface SupervisorOptions {
  output?: SupervisorOutput;
  /** How often instances report their counters (ms, 1000). */
  reportIntervalMs?: number;
  /** Version string for the control socket's hello. */
  version?: string;
}

/** WARREN_ALREADY_RUNNING: another supervisor answers on the control socket of `dir`. */
export function alreadyRunningError(dir: string, cause?: unknown): WarrenError {
  const path = join(dir, CONTROL_SOCKET);
  return alreadyRunning(
    `another supervisor is running on ${dir} (its control socket ${path} answers): stop it with \`warren stop\`, or use another socketDir`,
    cause === undefined ? undefined : { cause },
  );
}

/** Output to the supervisor's stderr, one line each, when no logger is given. */
const stderrOutput: SupervisorOutput = {
  event: (level, service, instance, msg) => {
    const who = service === null ? 'supervisor' : instance === null ? service : `${service}.${instance}`;
    process.stderr.write(`${level} ${who}: ${msg}\n`);
  },
  line: (service, instance, stream, line) => process.stderr.write(`${service}.${instance} ${stream}: ${line}\n`),
};

export class Supervisor {
  private readonly slots = new Map<string, Slot[]>();
  private readonly inUse = new Map<string, Set<number>>();
  private readonly output: SupervisorOutput;
  private readonly reportIntervalMs: number;
  private control: PeerServer | null = null;
  private state: SupervisorStatus['state'] = 'stopped';
  private startedAt = 0;
  private stopping: Promise<void> | null = null;
  /** The first part of start(): taking the socket directory and the control socket. */
  private settingUp: Promise<void> | null = null;
  /** Reloads run one at a time per service. */
  private readonly reloads = new Map<string, Promise<unknown>>();
  private resolveStopped!: () => void;
  /** Resolves once stop() has finished (whoever called it: a signal, the control socket). */
  readonly stopped: Promise<void> = new Promise((resolve) => {
    this.resolveStopped = resolve;
  });

  constructor(
    readonly config: ResolvedConfig,
    private readonly options: SupervisorOptions = {},
  ) {
    this.output = options.output ?? stderrOutput;
    this.reportIntervalMs = options.reportIntervalMs ?? 1000;
    const host: SlotHost = {
      socketDir: config.socketDir,
      cwd: config.baseDir,
      reportIntervalMs: this.reportIntervalMs,
      allocate: (service) => this.allocate(service),
      release: (service, instance) => this.inUse.get(service)?.delete(instance),
      line: (service, instance, stream, line, truncated) => this.output.line(service, instance, stream, line, truncated),
      event: (level, service, instance, msg) => this.output.event(level, service, instance, msg),
    };
    for (const service of config.services) {
      this.slots.set(
        service.name,
        Array.from({ length: service.instances }, (_, i) => new Slot(service, i, host)),
      );
      this.inUse.set(service.name, new Set());
    }
  }

  /**
   * Takes the socket directory (refusing one another supervisor runs on), removes sockets that
   * dead processes left behind, starts every instance and resolves once each is online or
   * errored.
   */
  async start(): Promise<SupervisorStatus> {
    if (this.state !== 'stopped' || this.stopping) throw invalidArgument('this supervisor was already started');
    this.state = 'starting';
    this.startedAt = Date.now();
    this.settingUp = (async () => {
      const dir = await ensureSocketDir(this.config.socketDir);
      await loadOrCreateToken(dir);
      this.control = await this.listenControl(dir);
      await this.killOrphans(dir);
      await this.removeStaleSockets(dir);
    })();
    await this.settingUp;
    // Stopped meanwhile (a signal as `warren up` starts): start no instance after the stop.
    if (this.stopping) {
      await this.stopping;
      return this.status();
    }
    await Promise.all(this.allSlots().map((slot) => slot.start()));
    if (!this.stopping) this.state = 'running';
    return this.status();
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      socketDir: this.config.socketDir,
      configPath: this.config.configPath,
      startedAt: this.startedAt,
      state: this.state,
      services: this.config.services.map((service) => ({
        name: service.name,
        entry: service.entry,
        instances: (this.slots.get(service.name) ?? []).map((slot) => slot.status()),
      })),
    };
  }

  /** Rolling reload of one service or all, one instance at a time, each replaced once its successor is ready. */
  async reload(service?: string): Promise<ReloadResult> {
    const names = service === undefined ? [...this.slots.keys()] : [this.known(service)];
    const replaced: ReloadResult['replaced'] = [];
    for (const name of names) {
      const previous = this.reloads.get(name) ?? Promise.resolve();
      const run = previous
        .catch(() => {})
        .then(async () => {
          for (const slot of this.slots.get(name) ?? []) {
            if (this.stopping) return;
            const { from, to } = await slot.replace('reload');
            replaced.push({ service: name, slot: slot.index, from, to });
          }
        });
      this.reloads.set(name, run);
      await run;
    }
    return { replaced };
  }

  /** Stops and starts each instance of a service again; errored ones come back. */
  async restart(service: string): Promise<number> {
    const slots = this.slots.get(this.known(service)) ?? [];
    for (const slot of slots) await slot.restart();
    return slots.length;
  }

  /**
   * Stops every instance (drain, SIGKILL after drainTimeoutMs) and the control socket. Idempotent.
   * `reason` goes into the log line (`stopping (SIGTERM)`), so that a stop nobody expected can be traced.
   */
  stop(reason?: string): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      this.output.event('info', null, null, reason === undefined ? 'stopping' : `stopping (${reason})`);
      // A control socket still being opened by start() is closed below, not left listening.
      await this.settingUp?.catch(() => {});
      await Promise.all(this.allSlots().map((slot) => slot.stop()));
      await this.control?.close();
      this.control = null;
      this.state = 'stopped';
      this.output.event('info', null, null, 'stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }

  private known(service: string): string {
    if (!this.slots.has(service)) {
      throw unknownService(`no service '${service}' in this supervisor (known: ${[...this.slots.keys()].join(', ')})`);
    }
    return service;
  }

  private allSlots(): Slot[] {
    return [...this.slots.values()].flat();
  }

  /** The lowest instance number no process of this service uses. */
  private allocate(service: string): number {
    const used = this.inUse.get(service) ?? new Set<number>();
    this.inUse.set(service, used);
    let n = 0;
    while (used.has(n)) n++;
    used.add(n);
    return n;
  }

  private async listenControl(dir: string): Promise<PeerServer> {
    const path = join(dir, CONTROL_SOCKET);
    const handlers: ControlHandlers = {
      status: () => this.status(),
      reload: (service) => this.reload(service),
      restart: (service) => this.restart(service),
      // Answer first, then stop: the caller learns that the stop began.
      stop: () => {
        setImmediate(() => void this.stop('asked over the control socket'));
      },
      logs: this.output.logs?.bind(this.output),
    };
    try {
      return await listenControl(dir, handlers, { version: this.options.version ?? '0.0.0' });
    } catch (error) {
      if (await isSocketAlive(path)) throw alreadyRunningError(dir, error);
      throw error;
    }
  }

  /** Sockets of configured services that nothing listens on any more (a supervisor killed with SIGKILL leaves them). */
  /** Instances a dead supervisor of this directory left running are killed before anything starts. */
  private async killOrphans(dir: string): Promise<void> {
    const killed = await killOrphans(await findOrphans(dir));
    for (const orphan of killed) {
      this.output.event('warn', null, null, `killed pid ${orphan.pid}, left running by supervisor ${orphan.supervisorPid} that is gone`);
    }
  }

  private async removeStaleSockets(dir: string): Promise<void> {
    for (const name of this.slots.keys()) {
      for (const instance of await listInstances(dir, name)) {
        if (await isSocketAlive(instance.path)) {
          // Left from an earlier run and still draining, perhaps: its number is not handed out.
          this.inUse.get(name)?.add(instance.instance);
          this.output.event('warn', name, instance.instance, `a process still listens on ${instance.path} (left from an earlier run?)`);
          continue;
        }
        await unlink(instance.path).catch(() => {});
        this.output.event('info', name, instance.instance, `removed stale socket ${instance.path}`);
      }
    }
  }
}
