/**
 * The main of a service process: `await runService(definition)` serves it, says it is ready,
 * and shuts it down cleanly on SIGTERM, SIGINT or the loss of its parent's IPC channel
 * (drain, stop listening, onClose, exit 0).
 *
 * The instance number (of its socket) comes from WARREN_SOCKET_ID or WARREN_INSTANCE when not given, so one entry file serves any
 * instance; whoever started the process (the supervisor, a script) learns it is ready from an
 * IPC message when the process has an IPC channel, else from one line on stderr.
 */
import { createRequire } from 'node:module';
import { invalidArgument } from '../errors.js';
import type { ServiceDefinition } from './define.js';
import { isOutOfFds } from './listener.js';
import {
  type ActivateMessage,
  INSTANCE_ENV,
  NODE_APP_INSTANCE_ENV,
  parseActivateMessage,
  REPORT_INTERVAL_ENV,
  type ReadyMessage,
  type ReportMessage,
  SOCKET_ID_ENV,
  STANDBY_ENV,
  type StandbyMessage,
} from './protocol.js';
import { prepareService, type ServeOptions, type ServiceServer, serveService } from './server.js';

export type { ActivateMessage, ReadyMessage, ReportMessage, StandbyMessage } from './protocol.js';
export { INSTANCE_ENV, NODE_APP_INSTANCE_ENV, REPORT_INTERVAL_ENV, SOCKET_ID_ENV, STANDBY_ENV } from './protocol.js';

export interface RunOptions extends ServeOptions {
  /** Exit the process after a signal-triggered close (true). Tests turn it off. */
  exit?: boolean;
  /** Where the ready line goes when there is no IPC channel (stderr); null for none. */
  readyLine?: NodeJS.WritableStream | null;
}

/** Reads WARREN_INSTANCE: a non-negative integer, 0 when unset. */
export function instanceFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[INSTANCE_ENV];
  if (raw === undefined || raw === '') return 0;
  if (!/^(0|[1-9][0-9]{0,8})$/.test(raw))
    throw invalidArgument(`${INSTANCE_ENV} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * The number in the socket name (`<service>.<n>.sock`): WARREN_SOCKET_ID when set, else
 * WARREN_INSTANCE. The supervisor sets both: WARREN_INSTANCE is the stable slot (0 …
 * instances−1), while a successor started during a reload needs a socket of its own beside its
 * predecessor's, so its socket number can differ from its slot.
 */
export function socketIdFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[SOCKET_ID_ENV];
  if (raw === undefined || raw === '') return instanceFromEnv(env);
  if (!/^(0|[1-9][0-9]{0,8})$/.test(raw))
    throw invalidArgument(`${SOCKET_ID_ENV} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * @example
 * // users.mjs — run as `node users.mjs`, or by `warren up`
 * import { defineService, runService } from 'warren/service';
 * await runService(defineService({ name: 'users', routes: { 'GET /users/:id': ({ params }) => ({ id: params.id }) } }));
 *
 * Started by the supervisor as a standby (WARREN_STANDBY=1, with an IPC channel), it makes the
 * dependencies, says so, and resolves only once the supervisor has activated it (it then serves
 * as any instance); a standby stopped before that exits without ever resolving.
 */
export async function runService<D>(definition: ServiceDefinition<D>, options: RunOptions = {}): Promise<ServiceServer<D>> {
  const hasParent = typeof process.send === 'function';
  if (hasParent && options.instance === undefined && process.env[STANDBY_ENV] === '1') return runStandby(definition, options);
  const instance = options.instance ?? socketIdFromEnv();
  const interval = hasParent ? reportInterval() : 0;
  const server = await serveService(definition, { ...options, instance });
  return serving(definition, server, options, interval);
}

/**
 * A standby: the dependencies made, then an idle wait for the supervisor's activate message
 * (which names the slot and the socket number), then serving. Until then nothing listens, so no
 * client finds it; a stop (SIGTERM, SIGINT, the parent gone) runs onClose and exits.
 */
async function runStandby<D>(definition: ServiceDefinition<D>, options: RunOptions): Promise<ServiceServer<D>> {
  const interval = reportInterval();
  // Whatever the supervisor's own environment held: the slot is not known yet.
  for (const name of [INSTANCE_ENV, NODE_APP_INSTANCE_ENV, SOCKET_ID_ENV]) delete process.env[name];
  const prepared = await prepareService(definition, options);
  const activation = new Promise<ActivateMessage>((resolve) => {
    const onMessage = (message: unknown) => {
      // From the parent, but still checked: anything else on the channel is ignored.
      const activate = parseActivateMessage(message);
      if (activate === undefined) return;
      process.off('message', onMessage);
      resolve(activate);
    };
    process.on('message', onMessage);
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void prepared.close().then(
      () => {
        if (options.exit ?? true) process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`${definition.name} (standby): close failed: ${String(error)}\n`);
        if (options.exit ?? true) process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.once('disconnect', stop);
  const standby: StandbyMessage = { warren: 'standby', service: definition.name, pid: process.pid };
  void sendToParent(standby);
  const { slot, socket } = await activation;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  process.off('disconnect', stop);
  // A stop that came first wins: the process is on its way out.
  if (stopping) return new Promise<never>(() => {});
  delete process.env[STANDBY_ENV];
  process.env[INSTANCE_ENV] = String(slot);
  process.env[NODE_APP_INSTANCE_ENV] = String(slot);
  process.env[SOCKET_ID_ENV] = String(socket);
  const server = await prepared.serve(socket);
  return serving(definition, server, options, interval);
}

/** The life of a listening server: clean shutdown on a signal or the parent's loss, the ready message, the reports. */
function serving<D>(definition: ServiceDefinition<D>, server: ServiceServer<D>, options: RunOptions, interval: number): ServiceServer<D> {
  const instance = server.instance;
  const hasParent = typeof process.send === 'function';
  let stopping = false;
  // A second signal while draining is ignored: whoever sent the first decides when to give up
  // (the supervisor follows its drain timeout with SIGKILL).
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server
      .close()
      // The calls answered while draining count too: one last report (when it has a parent) before the process goes.
      .then(() => finalReport(server))
      .then(
        () => {
          if (options.exit ?? true) process.exit(0);
        },
        (error: unknown) => {
          process.stderr.write(`${definition.name}.${instance}: close failed: ${String(error)}\n`);
          if (options.exit ?? true) process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started with an IPC channel (by the supervisor or a script): when that parent dies, even by
  // SIGKILL, the channel closes, and an orphaned instance shuts down instead of running on.
  if (hasParent) process.once('disconnect', stop);

  const ready: ReadyMessage = { warren: 'ready', service: definition.name, instance, path: server.path, pid: process.pid };
  if (typeof process.send === 'function' && process.connected) {
    void sendToParent(ready);
    startReports(server, interval);
  } else if (options.readyLine !== null) {
    (options.readyLine ?? process.stderr).write(`${definition.name}.${instance} ready on ${server.path} (pid ${process.pid})\n`);
  }
  return server;
}

function reportInterval(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[REPORT_INTERVAL_ENV];
  if (raw === undefined || raw === '') return 1000;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 10 || ms > 3_600_000) {
    throw invalidArgument(`${REPORT_INTERVAL_ENV} must be a whole number of ms from 10 to 3600000, got ${JSON.stringify(raw)}`);
  }
  return ms;
}

/** The last memory figures read: reading them opens a file, which fails when out of descriptors. */
let lastMemory = { rss: 0, heapUsed: 0 };

function readMemory<D>(server: ServiceServer<D>): { rss: number; heapUsed: number } {
  try {
    const { rss, heapUsed } = process.memoryUsage();
    lastMemory = { rss, heapUsed };
    // A file could be opened: whatever ran out of descriptors has some again.
    if (server.fds.exhausted) server.noteFdRecovered();
  } catch (error) {
    if (!isOutOfFds(error)) throw error;
    server.noteFdFailure(error as NodeJS.ErrnoException);
    // The heap figure needs no file.
    lastMemory = { rss: lastMemory.rss, heapUsed: heapUsedNow() };
  }
  return lastMemory;
}

// The heap figure without a file: node:v8's getHeapStatistics(), loaded only when descriptors
// run out (a built-in module opens no file) so that no other instance pays its memory.
function heapUsedNow(): number {
  const v8 = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  return v8.getHeapStatistics().used_heap_size;
}

function makeReport<D>(server: ServiceServer<D>): ReportMessage {
  const cpu = process.cpuUsage();
  const memory = readMemory(server);
  return {
    warren: 'report',
    service: server.name,
    instance: server.instance,
    pid: process.pid,
    at: Date.now(),
    metrics: server.metrics.snapshot(),
    inFlight: server.inFlight,
    oldestCallMs: server.metrics.oldestOpenMs(),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    cpuUserMicros: cpu.user,
    cpuSystemMicros: cpu.system,
    fds: { ...server.fds },
  };
}

/** Sends a ReportMessage over the IPC channel every `intervalMs`, without keeping the process alive. */
function startReports<D>(server: ServiceServer<D>, intervalMs: number): void {
  const send = () => {
    if (!process.connected || typeof process.send !== 'function') {
      clearInterval(timer);
      return;
    }
    let report: ReportMessage;
    try {
      report = makeReport(server);
    } catch (error) {
      // A report that cannot be made is skipped, never thrown from a timer (that would kill the instance).
      process.stderr.write(`${server.name}.${server.instance}: report skipped: ${String(error)}\n`);
      return;
    }
    void sendToParent(report);
  };
  const timer = setInterval(send, intervalMs);
  timer.unref();
  send();
}

/** Sends one last report; resolves once it is written or the channel is gone, within a second. */
function finalReport<D>(server: ServiceServer<D>): Promise<void> {
  let report: ReportMessage;
  try {
    report = makeReport(server);
  } catch {
    return Promise.resolve();
  }
  return Promise.race([sendToParent(report), new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
}

/**
 * Sends over the IPC channel. A parent that has just gone away makes the write fail (EPIPE)
 * after send() returned; without a callback that error would be emitted on `process` and
 * crash the process before the disconnect handler could shut it down cleanly. Resolves once
 * written (or failed).
 */
function sendToParent(message: ReadyMessage | ReportMessage | StandbyMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || typeof process.send !== 'function') {
      resolve();
      return;
    }
    try {
      process.send(message, undefined, undefined, () => resolve());
    } catch {
      // The channel is already closed: the disconnect handler shuts down.
      resolve();
    }
  });
}
