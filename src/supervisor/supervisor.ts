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
import { alreadyRunning, ConfigError, invalidArgument, portUnavailable, unknownService, WarrenError } from '../errors.js';
import { isSocketAlive, type PeerServer } from '../peer/transports/socket.js';
import { loadOrCreateToken } from '../service/auth.js';
import { listInstances } from '../service/discovery.js';
import { ensureSocketDir, MAX_SOCKET_PATH_BYTES } from '../service/socket-dir.js';
import { loadConfig, MAX_INSTANCES, type ResolvedConfig, type ResolvedService } from './config.js';
import { count, describePlan, diffConfig, type ServicePlan } from './config-diff.js';
import { type ControlHandlers, listenControl } from './control-server.js';
import { findOrphans, killOrphans } from './orphans.js';
import type { SupervisorOutput } from './output.js';
import { CONTROL_SOCKET, type ReloadResult, type ScaleResult, type SupervisorStatus } from './protocol.js';
import { ServiceGroup } from './service-group.js';
import { SharedPort } from './shared-port.js';
import type { SlotHost } from './slot.js';

export type { SupervisorOutput } from './output.js';

export interface SupervisorOptions {
  output?: SupervisorOutput;
  /** How often instances report their counters (ms, 1000). */
  reportIntervalMs?: number;
  /** Version string for the control socket's hello. */
  version?: string;
  /** How a reload reads the config again (default: loadConfig of the config's file; without a file a reload only replaces instances). */
  loadConfig?: () => Promise<ResolvedConfig>;
}

/** A config a reload could not read or validate: the reason as at start-up, and that nothing changed. */
function refusal(error: unknown): unknown {
  if (!(error instanceof ConfigError)) return error;
  return new ConfigError(`reload refused, nothing was changed: ${error.message}`, {
    issues: error.issues,
    ...(error.file === undefined ? {} : { file: error.file }),
    cause: error,
  });
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
  private readonly groups = new Map<string, ServiceGroup>();
  private readonly inUse = new Map<string, Set<number>>();
  /** The shared `port` of each service that has one and is not stopped (shared-port.ts). */
  private readonly ports = new Map<string, SharedPort>();
  private readonly output: SupervisorOutput;
  private readonly reportIntervalMs: number;
  private readonly host: SlotHost;
  /** The configuration running now: the file's as last applied, with `warren scale` counts. */
  private running: ResolvedConfig;
  /** How a reload reads the config again; null: there is no file, a reload only replaces instances. */
  private readonly readConfig: (() => Promise<ResolvedConfig>) | null;
  private control: PeerServer | null = null;
  private state: SupervisorStatus['state'] = 'stopped';
  private startedAt = 0;
  private stopping: Promise<void> | null = null;
  /** The first part of start(): taking the socket directory and the control socket. */
  private settingUp: Promise<void> | null = null;
  /**
   * Starting, reloads, scaling, stopping and starting services run one at a time, in the order
   * asked: each plans from the services the previous one left.
   */
  private changes: Promise<unknown> = Promise.resolve();
  private resolveStopped!: () => void;
  /** Resolves once stop() has finished (whoever called it: a signal, the control socket). */
  readonly stopped: Promise<void> = new Promise((resolve) => {
    this.resolveStopped = resolve;
  });

  constructor(
    config: ResolvedConfig,
    private readonly options: SupervisorOptions = {},
  ) {
    this.running = config;
    this.output = options.output ?? stderrOutput;
    this.reportIntervalMs = options.reportIntervalMs ?? 1000;
    const configPath = config.configPath;
    this.readConfig = options.loadConfig ?? (configPath === null ? null : () => loadConfig(configPath));
    this.host = {
      socketDir: config.socketDir,
      reportIntervalMs: this.reportIntervalMs,
      allocate: (service, preferred, from) => this.allocate(service, preferred, from),
      release: (service, instance) => this.inUse.get(service)?.delete(instance),
      listenFd: (service) => {
        const port = this.ports.get(service);
        return port?.open ? port.fd : null;
      },
      line: (service, instance, stream, line, truncated) => this.output.line(service, instance, stream, line, truncated),
      event: (level, service, instance, msg) => this.output.event(level, service, instance, msg),
    };
    for (const service of config.services) this.addGroup(service);
  }

  /** The configuration running now (a reload or `scale` changes it). */
  get config(): ResolvedConfig {
    return this.running;
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
    await this.exclusive(async () => {
      // Every port first: a port that cannot be taken fails the start before anything runs.
      for (const service of this.running.services) {
        if (service.port !== null) this.ports.set(service.name, await SharedPort.open(service.name, service.port, service.host));
      }
      await Promise.all([...this.groups.values()].map((group) => group.start()));
    });
    if (!this.stopping) this.state = 'running';
    return this.status();
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      socketDir: this.running.socketDir,
      configPath: this.running.configPath,
      startedAt: this.startedAt,
      state: this.state,
      services: [...this.groups.values()].map((group) => group.status()),
    };
  }

  /**
   * Reads the config file again and applies it: services added (started) and removed (drained
   * and stopped), instances scaled, other changed settings applied by replacing the instances
   * kept, one at a time, each once its successor is ready. When nothing changed, every instance
   * is replaced (a rolling restart, e.g. for new code). With `service`, only that service's part
   * of the file is applied. A config that does not validate, or that moves the socket directory,
   * is refused (WARREN_CONFIG) and nothing changes. Without a config file, only replaces.
   */
  reload(service?: string): Promise<ReloadResult> {
    return this.exclusive(async () => {
      if (service !== undefined && this.readConfig === null) this.known(service);
      const next = this.readConfig === null ? null : await this.readConfig().catch((error: unknown) => Promise.reject(refusal(error)));
      if (next === null) return this.replaceAll(service, 'no config file to read again');
      const diff = diffConfig(this.running, next);
      if (diff.refused.length > 0) {
        throw new ConfigError(`reload refused, nothing was changed: ${diff.refused.join('; ')}`, {
          issues: diff.refused.map((message) => ({ path: 'socketDir', message })),
          ...(next.configPath === null ? {} : { file: next.configPath }),
        });
      }
      const plans = service === undefined ? diff.services : diff.services.filter((plan) => plan.name === service);
      if (service !== undefined && plans.length === 0) this.known(service);
      if (!plans.some((plan) => plan.kind !== 'same')) {
        const result = await this.replaceAll(service, 'no changes');
        return { ...result, changes: [...diff.deferred, ...result.changes] };
      }
      const ports = await this.preparePorts(plans);
      const changes = [...diff.deferred];
      const replaced: ReloadResult['replaced'] = [];
      for (const plan of plans) {
        if (this.stopping) {
          ports.get(plan.name)?.close();
          continue;
        }
        const line = describePlan(plan, this.groups.get(plan.name)?.stopped ?? false);
        if (line !== null) {
          changes.push(line);
          this.output.event('info', plan.kind === 'add' || plan.kind === 'remove' ? null : plan.name, null, `reload: ${line}`);
        }
        replaced.push(...(await this.apply(plan, ports.get(plan.name))));
      }
      for (const line of diff.deferred) this.output.event('warn', null, null, `reload: ${line}`);
      return { changes, replaced };
    });
  }

  /**
   * Sets the number of instances of a service until the next reload (which applies the file's
   * count again): the highest slots drain and stop, or new ones start. Resolves once they have.
   */
  scale(service: string, instances: number): Promise<ScaleResult> {
    if (!(Number.isInteger(instances) && instances >= 1 && instances <= MAX_INSTANCES)) {
      return Promise.reject(invalidArgument(`instances must be a whole number from 1 to ${MAX_INSTANCES}, got ${instances}`));
    }
    return this.exclusive(async () => {
      const group = this.group(service);
      const last = join(this.running.socketDir, `${service}.${instances - 1}.sock`);
      if (Buffer.byteLength(last) > MAX_SOCKET_PATH_BYTES) {
        throw invalidArgument(
          `${instances} instances would need the socket path ${last}, over ${MAX_SOCKET_PATH_BYTES} bytes: use fewer instances`,
        );
      }
      const { from, to } = await group.scale(instances, () => this.stopping !== null);
      this.setService(group.service);
      this.output.event('info', service, null, `scaled: instances ${from} → ${to}${group.stopped ? ' (stopped: none started)' : ''}`);
      return { service, from, to, stopped: group.stopped };
    });
  }

  /** Drains and stops every instance of one service; the supervisor and the other services go on. */
  stopService(service: string): Promise<{ service: string; stopped: number }> {
    return this.exclusive(async () => {
      const group = this.group(service);
      const stopped = await group.stop();
      // A stopped service's port is free again, so that a client is refused rather than left waiting.
      this.closePort(service);
      this.output.event('info', service, null, `stopped on request (${count(stopped)} drained)`);
      return { service, stopped };
    });
  }

  /** Starts the instances of a service that are stopped or errored; resolves once each is online or errored. */
  startService(service: string): Promise<{ service: string; started: number }> {
    return this.exclusive(async () => {
      const group = this.group(service);
      if (this.stopping) return { service, started: 0 };
      const { port, host } = group.service;
      if (port !== null && !this.ports.get(service)?.open) this.ports.set(service, await SharedPort.open(service, port, host));
      const started = await group.resume();
      if (started > 0) this.output.event('info', service, null, `started on request (${count(started)})`);
      return { service, started };
    });
  }

  /** Stops and starts each instance of a service again; errored ones come back. */
  restart(service: string): Promise<number> {
    return this.exclusive(() => this.group(service).restart());
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
      await Promise.all([...this.groups.values()].map((group) => group.stop()));
      // Once every instance has exited: the ports close with the last descriptor.
      for (const name of [...this.ports.keys()]) this.closePort(name);
      await this.control?.close();
      this.control = null;
      this.state = 'stopped';
      this.output.event('info', null, null, 'stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Runs `change` after the changes asked before it, whatever became of them. */
  private exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changes.then(change, change);
    this.changes = run.catch(() => {});
    return run;
  }

  private known(service: string): string {
    if (!this.groups.has(service)) {
      throw unknownService(`no service '${service}' in this supervisor (known: ${[...this.groups.keys()].join(', ')})`);
    }
    return service;
  }

  private group(service: string): ServiceGroup {
    return this.groups.get(this.known(service)) as ServiceGroup;
  }

  private addGroup(service: ResolvedService): ServiceGroup {
    const group = new ServiceGroup(service, this.host);
    this.groups.set(service.name, group);
    if (!this.inUse.has(service.name)) this.inUse.set(service.name, new Set());
    return group;
  }

  /** The running config with this service's settings (added, or replacing the one of that name). */
  private setService(service: ResolvedService | null, name = service?.name): void {
    const services = this.running.services.filter((s) => s.name !== name);
    const index = this.running.services.findIndex((s) => s.name === name);
    if (service !== null) services.splice(index === -1 ? services.length : index, 0, service);
    this.running = Object.freeze({ ...this.running, services: Object.freeze(services) });
  }

  private closePort(service: string): void {
    this.ports.get(service)?.close();
    this.ports.delete(service);
  }

  /**
   * The ports a reload needs that are not held yet (a service added with `port`, or whose `port`
   * changed), taken before anything changes: one that cannot be taken refuses the whole reload.
   */
  private async preparePorts(plans: readonly ServicePlan[]): Promise<Map<string, SharedPort>> {
    const taken = new Map<string, SharedPort>();
    try {
      for (const plan of plans) {
        const after = plan.kind === 'add' ? plan.service : plan.kind === 'change' ? plan.after : null;
        if (after === null || after.port === null || this.groups.get(after.name)?.stopped) continue;
        const held = this.ports.get(after.name);
        if (held?.open && held.port === after.port && held.host === after.host) continue;
        if (held?.open && held.port === after.port) {
          throw portUnavailable(
            `service '${after.name}': host ${held.host ?? '(every address)'} → ${after.host ?? '(every address)'} on the same port ${after.port}: the running instances hold it; stop and start the service (\`warren stop ${after.name}\`, then \`warren start ${after.name}\`) to move it`,
          );
        }
        taken.set(after.name, await SharedPort.open(after.name, after.port, after.host));
      }
    } catch (error) {
      for (const port of taken.values()) port.close();
      if (!(error instanceof WarrenError)) throw error;
      throw new WarrenError(error.code, `reload refused, nothing was changed: ${error.message}`, { cause: error });
    }
    return taken;
  }

  /**
   * Carries out one service's part of a reload; resolves with the instances it replaced. `port`:
   * the shared port its new processes get (preparePorts), the old one closed once they replaced
   * the old processes.
   */
  private async apply(plan: ServicePlan, port?: SharedPort): Promise<ReloadResult['replaced']> {
    const isStopping = () => this.stopping !== null;
    switch (plan.kind) {
      case 'same':
        return [];
      case 'add': {
        if (port !== undefined) this.ports.set(plan.name, port);
        const group = this.addGroup(plan.service);
        this.setService(plan.service);
        await this.removeStaleSocketsOf(this.running.socketDir, plan.service.name);
        await group.start();
        return [];
      }
      case 'remove': {
        // Kept in status while it drains, so that `warren status` shows its instances stopping.
        const group = this.groups.get(plan.name);
        await group?.stop();
        this.closePort(plan.name);
        this.groups.delete(plan.name);
        this.setService(null, plan.name);
        return [];
      }
      case 'change': {
        const group = this.group(plan.name);
        // A new port (or none any more): processes started from now on get the new one.
        const oldPort = port !== undefined || plan.after.port === null ? this.ports.get(plan.name) : undefined;
        if (port !== undefined) this.ports.set(plan.name, port);
        else if (plan.after.port === null) this.ports.delete(plan.name);
        try {
          group.reconfigure(plan.after, plan.changed.length > 0);
          if (plan.scale !== null) await group.scale(plan.scale.to, isStopping);
          this.setService(group.service);
          if (plan.changed.length === 0 || group.stopped) return [];
          const kept = Math.min(plan.before.instances, plan.after.instances);
          return await group.replace('reload: config changed', isStopping, kept);
        } finally {
          // The old processes have exited (replaced): nothing listens on the old port any more.
          oldPort?.close();
        }
      }
    }
  }

  /** Replaces every running instance of one service or all: a reload with no change to apply. */
  private async replaceAll(service: string | undefined, why: string): Promise<ReloadResult & { changes: string[] }> {
    const groups = (service === undefined ? [...this.groups.values()] : [this.group(service)]).filter((g) => !g.stopped);
    const total = groups.reduce((n, g) => n + g.allSlots.length, 0);
    const line =
      service !== undefined && groups.length === 0
        ? `${service}: ${why}; it is stopped, nothing to replace (\`warren start ${service}\` starts it)`
        : `${service === undefined ? '' : `${service}: `}${why}; replacing ${count(total)}`;
    this.output.event('info', service ?? null, null, `reload: ${line}`);
    const replaced: ReloadResult['replaced'] = [];
    for (const group of groups) {
      // New code on disk, perhaps: no standby started before the reload may take over a slot after it.
      group.renewStandbys();
      replaced.push(...(await group.replace('reload', () => this.stopping !== null)));
    }
    return { changes: [line], replaced };
  }

  /**
   * A socket number no process of this service uses: the slot's own when free (so that socket
   * numbers and slots mostly agree), else the lowest free one from `from` (the instance count).
   */
  private allocate(service: string, preferred: number, from: number): number {
    const used = this.inUse.get(service) ?? new Set<number>();
    this.inUse.set(service, used);
    let n = preferred;
    if (used.has(n)) n = from;
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
      scale: (service, instances) => this.scale(service, instances),
      stopService: (service) => this.stopService(service),
      startService: (service) => this.startService(service),
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

  /** Instances a dead supervisor of this directory left running are killed before anything starts. */
  private async killOrphans(dir: string): Promise<void> {
    const killed = await killOrphans(await findOrphans(dir));
    for (const orphan of killed) {
      this.output.event('warn', null, null, `killed pid ${orphan.pid}, left running by supervisor ${orphan.supervisorPid} that is gone`);
    }
  }

  /** Sockets of configured services that nothing listens on any more (a supervisor killed with SIGKILL leaves them). */
  private async removeStaleSockets(dir: string): Promise<void> {
    for (const name of this.groups.keys()) await this.removeStaleSocketsOf(dir, name);
  }

  private async removeStaleSocketsOf(dir: string, name: string): Promise<void> {
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
