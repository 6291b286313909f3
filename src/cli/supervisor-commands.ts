/**
 * The commands that drive a running supervisor through its control socket: `warren status`,
 * `stop`, `restart`, `reload`, `logs` and `token rotate` (`start` and `scale`: service-commands.ts) (which also works without a supervisor).
 * Each takes an `io` object and resolves with the exit code:
 * - 0: done (also when `status --watch` or `logs -f` is stopped with Ctrl-C);
 * - 1: the supervisor answered with an error (e.g. WARREN_UNKNOWN_SERVICE), went away while
 *   being watched or followed, or did not stop within `stop --timeout`; `status` found an
 *   errored instance (with `--check`: an instance that is not online);
 * - 2: a usage error, or no supervisor could be reached (none running, stale socket, wrong token).
 * Errors are one line on stderr: `warren <command>: CODE: message`.
 */

import { existsSync } from 'node:fs';
import { isWarrenError, type WarrenErrorCode } from '../errors.js';
import { type ControlClient, connectControl, isNoSupervisorError } from '../supervisor/control-client.js';
import { pidRuns } from '../supervisor/orphans.js';
import type { InstanceStatus, LogRecord, SupervisorStatus } from '../supervisor/protocol.js';
import { colourEnabled, painter } from './colour.js';
import { commandSocketDir } from './socket-dir-lookup.js';
import { formatClock, formatLogRecord, formatReload, formatRestart, renderStatus } from './supervisor-format.js';

export interface SupervisorCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** stdout is a terminal: `status --watch` redraws in place and `--json` is indented. */
  isTTY?: boolean;
  /** Aborted on Ctrl-C: `status --watch` and `logs -f` stop and exit 0. */
  signal?: AbortSignal;
  /** Clock (ms since the epoch), for tests. */
  now?: () => number;
}

export interface JsonOption {
  /** Print the result as one JSON line instead of text. */
  json?: boolean;
}

/** The colour painter of this io: on a terminal only, NO_COLOR and FORCE_COLOR respected. */
function paintOf(io: SupervisorCommandIo) {
  return painter(colourEnabled(io.isTTY === true, io.env ?? process.env));
}

export function json(io: SupervisorCommandIo, value: unknown): void {
  io.out(`${JSON.stringify(value)}\n`);
}

export interface SocketDirOption {
  /** Socket directory; else WARREN_SOCKET_DIR, else the project's (socket-dir-lookup.ts), else the default. */
  socketDir?: string;
}

/** Cursor home and clear screen; hide and show the cursor. */
const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

function codeOf(error: unknown): string {
  return isWarrenError(error) ? error.code : ((error as NodeJS.ErrnoException | undefined)?.code ?? 'ERROR');
}

function report(io: SupervisorCommandIo, command: string, code: WarrenErrorCode | (string & {}), message: string): void {
  const name = command.startsWith('warren ') ? command : `warren ${command}`;
  io.err(`${name}: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

export function reportError(io: SupervisorCommandIo, command: string, error: unknown): void {
  report(io, command, codeOf(error), error instanceof Error ? error.message : String(error));
}

/** Runs `body` with a connection, turning a failed connection into exit code 2. */
export async function withControl(
  command: string,
  options: SocketDirOption,
  io: SupervisorCommandIo,
  body: (client: ControlClient) => Promise<number>,
  timeout = 10_000,
  /** When no supervisor runs (no control socket, or a stale one): the exit code instead of the error and 2. */
  noSupervisor?: (error: Error) => number,
): Promise<number> {
  let client: ControlClient;
  try {
    const env = io.env ?? process.env;
    client = await connectControl(commandSocketDir(options.socketDir, env), { env, timeout });
  } catch (error) {
    if (noSupervisor && isNoSupervisorError(error)) return noSupervisor(error as Error);
    reportError(io, command, error);
    return 2;
  }
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** Exit code 1 for an error answered by the supervisor, or for the connection closing under a command. */
export function answerError(io: SupervisorCommandIo, command: string, client: ControlClient, error: unknown): number {
  if (codeOf(error) === 'WARREN_PEER_CLOSED') return wentAway(io, command, client);
  reportError(io, command, error);
  return 1;
}

function wentAway(io: SupervisorCommandIo, command: string, client: ControlClient): number {
  report(io, command, 'WARREN_PEER_CLOSED', `the supervisor on ${client.socketDir} went away (its control connection closed)`);
  return 1;
}

// ---- status ------------------------------------------------------------------------------

export interface StatusCommandOptions extends SocketDirOption {
  /** Print the SupervisorStatus as JSON: indented on a terminal, one line otherwise. */
  json?: boolean;
  /** Refresh every `interval` ms until Ctrl-C. */
  watch?: boolean;
  /** ms, at least 10; default 1000. */
  interval?: number;
  /** Health check: no table, one line; exit 0 only when every instance is online. */
  check?: boolean;
}

/**
 * `warren status [--json] [--watch] [--interval ms] [--check]` (also `ls`, `list`, and `monit`
 * for status --watch; `command` is the name it was called by, for error lines).
 *
 * Exit code 1 when an instance is errored (after printing the status), so that `warren status`
 * is a health check as it is; `--check` is the strict one: 1 unless every instance is online.
 */
export function statusCommand(options: StatusCommandOptions, io: SupervisorCommandIo, command = 'status'): Promise<number> {
  const interval = options.interval ?? 1000;
  const now = io.now ?? Date.now;
  const paint = paintOf(io);
  const render = (status: SupervisorStatus) => {
    if (!options.json) return renderStatus(status, now(), paint);
    return `${io.isTTY ? JSON.stringify(status, null, 2) : JSON.stringify(status)}\n`;
  };
  return withControl(command, options, io, async (client) => {
    if (options.watch) return watchStatus(client, interval, render, io, command);
    let status: SupervisorStatus;
    try {
      status = await client.status();
    } catch (error) {
      return answerError(io, command, client, error);
    }
    if (options.check) return checkStatus(status, options.json === true, io, command);
    io.out(render(status));
    const errored = instancesOf(status).filter((i) => i.state === 'errored');
    if (errored.length === 0) return 0;
    report(io, command, 'WARREN_INSTANCE_ERRORED', `${names(errored)} errored (see above; \`warren restart <service>\` brings one back)`);
    return 1;
  });
}

function instancesOf(status: SupervisorStatus): InstanceStatus[] {
  return status.services.flatMap((service) => service.instances);
}

function names(instances: readonly InstanceStatus[], withState = false): string {
  return instances.map((i) => `${i.service}.${i.slot}${withState ? ` ${i.state}` : ''}`).join(', ');
}

/** `status --check`: one line; 0 when every instance is online, 1 otherwise (errored ones first in the message). */
function checkStatus(status: SupervisorStatus, asJson: boolean, io: SupervisorCommandIo, command: string): number {
  const all = instancesOf(status);
  const errored = all.filter((i) => i.state === 'errored');
  const notOnline = all.filter((i) => i.state !== 'online');
  const online = all.length - notOnline.length;
  if (asJson)
    json(io, {
      ok: notOnline.length === 0,
      online,
      instances: all.length,
      notOnline: notOnline.map((i) => ({ service: i.service, slot: i.slot, state: i.state })),
    });
  if (notOnline.length === 0) {
    if (!asJson) io.out(`ok: ${online} of ${all.length} instances online\n`);
    return 0;
  }
  if (errored.length > 0)
    report(io, command, 'WARREN_INSTANCE_ERRORED', `${names(errored)} errored; ${online} of ${all.length} instances online`);
  else report(io, command, 'WARREN_NOT_ONLINE', `${names(notOnline, true)}; ${online} of ${all.length} instances online`);
  return 1;
}

async function watchStatus(
  client: ControlClient,
  interval: number,
  render: (status: SupervisorStatus) => string,
  io: SupervisorCommandIo,
  command: string,
): Promise<number> {
  const interrupted = () => io.signal?.aborted === true;
  const gone = new AbortController();
  const unsubscribe = client.onClose(() => gone.abort());
  const now = io.now ?? Date.now;
  if (io.isTTY) io.out(HIDE_CURSOR);
  try {
    for (let first = true; !interrupted(); first = false) {
      let status: SupervisorStatus;
      try {
        status = await client.status();
      } catch (error) {
        if (interrupted()) break;
        return answerError(io, command, client, error);
      }
      if (interrupted()) break;
      const frame = render(status);
      if (io.isTTY) {
        io.out(`${CLEAR}every ${interval} ms, ${formatClock(now(), false)}; Ctrl-C to stop\n\n${frame}`);
      } else {
        // Tables apart by a blank line; JSON documents one per line.
        io.out(first || frame.startsWith('{') ? frame : `\n${frame}`);
      }
      await delay(interval, [io.signal, gone.signal]);
      if (interrupted()) break;
      if (gone.signal.aborted) return wentAway(io, command, client);
    }
    return 0;
  } finally {
    unsubscribe();
    if (io.isTTY) io.out(SHOW_CURSOR);
  }
}

/** Resolves after `ms`, or as soon as one of the signals aborts. */
function delay(ms: number, signals: (AbortSignal | undefined)[]): Promise<void> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const s of live) s.addEventListener('abort', done, { once: true });
  });
}

// ---- stop --------------------------------------------------------------------------------

export interface StopCommandOptions extends SocketDirOption, JsonOption {
  /** How long to wait for the supervisor (or the service's instances) to be gone, in ms; default 30000. */
  timeout?: number;
  /** Stop only this service's instances; the supervisor and the other services go on. */
  service?: string;
}

/**
 * `warren stop [service] [--timeout ms]`: asks the supervisor to stop, then waits until its
 * control socket is gone and its process has exited (the supervisor drains every instance
 * first). With a service, drains and stops that service's instances only. Nothing running is not
 * an error: one line says so, exit code 0.
 */
export function stopCommand(options: StopCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const timeout = options.timeout ?? 30_000;
  const now = io.now ?? Date.now;
  const nothingRunning = (error: Error) => {
    const message = `nothing to stop: ${error.message.replace(/; start one with `warren up`$/, '')}`;
    if (options.json) json(io, { stopped: false, running: false, message });
    else io.out(`${message}\n`);
    return 0;
  };
  const { service } = options;
  if (service !== undefined) {
    return withControl(
      'stop',
      options,
      io,
      async (client) => {
        try {
          const { stopped } = await client.stopService(service, { timeout });
          if (options.json) json(io, { service, stopped });
          else
            io.out(
              `stopped ${service}: ${stopped} instance${stopped === 1 ? '' : 's'} drained; \`warren start ${service}\` starts it again\n`,
            );
          return 0;
        } catch (error) {
          return answerError(io, 'stop', client, error);
        }
      },
      undefined,
      nothingRunning,
    );
  }
  return withControl(
    'stop',
    options,
    io,
    async (client) => {
      const started = now();
      const { pid } = client.supervisor;
      try {
        await client.stop();
      } catch (error) {
        // Gone before it could answer: it is stopping anyway; anything else is an answer.
        if (codeOf(error) !== 'WARREN_PEER_CLOSED') return answerError(io, 'stop', client, error);
      }
      await client.close();
      if (!options.json) io.out(`stopping the supervisor (pid ${pid}) on ${client.socketDir}: its instances drain first\n`);
      const stopped = () => !existsSync(client.socketPath) && !pidRuns(pid);
      while (!stopped() && now() - started < timeout) await delay(Math.min(50, timeout), []);
      if (!stopped()) {
        const what = existsSync(client.socketPath) ? `its control socket ${client.socketPath} is still there` : `pid ${pid} still runs`;
        report(
          io,
          'stop',
          'WARREN_TIMEOUT',
          `the supervisor has not stopped within ${timeout} ms (${what}); it may still be draining: see \`warren status\` and \`warren logs\``,
        );
        return 1;
      }
      const ms = now() - started;
      if (options.json) json(io, { stopped: true, pid, socketDir: client.socketDir, ms });
      else io.out(`stopped after ${(ms / 1000).toFixed(1)}s\n`);
      return 0;
    },
    undefined,
    nothingRunning,
  );
}

// ---- restart and reload ------------------------------------------------------------------

export interface ReplaceCommandOptions extends SocketDirOption, JsonOption {
  /** Give up waiting after this many ms; default: wait as long as the instances take. */
  timeout?: number;
}

/** `warren restart <service>`: stops and starts every instance of the service (errored ones come back). */
export function restartCommand(service: string, options: ReplaceCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const { timeout } = options;
  return withControl('restart', options, io, async (client) => {
    const before = await client.status().catch(() => undefined);
    let restarted: number;
    try {
      ({ restarted } = await client.restart(service, timeout === undefined ? {} : { timeout }));
    } catch (error) {
      return answerError(io, 'restart', client, error);
    }
    const after = await client.status().catch(() => undefined);
    if (options.json) {
      const instances = after?.services.find((s) => s.name === service)?.instances ?? [];
      json(io, {
        service,
        restarted,
        instances: instances.map((i) => ({ slot: i.slot, instance: i.instance, pid: i.pid, state: i.state })),
      });
    } else {
      io.out(formatRestart(service, restarted, before, after));
    }
    return 0;
  });
}

/** `warren reload [service]`: rolling reload of one service or all, printing which instances replaced which. */
export function reloadCommand(service: string | undefined, options: ReplaceCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const { timeout } = options;
  return withControl('reload', options, io, async (client) => {
    try {
      const result = await client.reload(service, timeout === undefined ? {} : { timeout });
      io.out(options.json ? `${JSON.stringify(result)}\n` : formatReload(result));
      return 0;
    } catch (error) {
      return answerError(io, 'reload', client, error);
    }
  });
}

// ---- logs --------------------------------------------------------------------------------

export interface LogsCommandOptions extends SocketDirOption, JsonOption {
  follow?: boolean;
  /** Recent lines first; default 100. */
  lines?: number;
}

export const DEFAULT_LOG_LINES = 100;

/** The name of the supervisor's own lines in `warren logs`. */
const SUPERVISOR_LOGS = 'supervisor';

/** The services of the supervisor, or undefined when it does not say. */
async function knownServiceNames(client: ControlClient): Promise<string[] | undefined> {
  try {
    return (await client.status()).services.map((s) => s.name);
  } catch {
    return undefined;
  }
}

/** `warren logs [service] [-f] [-n N]`: recent lines, then with -f new ones until Ctrl-C or the supervisor goes. */
export function logsCommand(service: string | undefined, options: LogsCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const lines = options.lines ?? DEFAULT_LOG_LINES;
  const paint = paintOf(io);
  const print = options.json ? (record: LogRecord) => JSON.stringify(record) : (record: LogRecord) => formatLogRecord(record, paint);
  return withControl('logs', options, io, async (client) => {
    const follow = options.follow === true;
    // The supervisor keeps lines of the services it runs only: any other name prints nothing,
    // which is told as an unknown service (before following; after an empty answer otherwise).
    const unknown = async () => {
      if (service === undefined || service === SUPERVISOR_LOGS) return false;
      const known = await knownServiceNames(client);
      if (known === undefined || known.includes(service)) return false;
      const list = [...known, SUPERVISOR_LOGS].join(', ');
      report(io, 'logs', 'WARREN_UNKNOWN_SERVICE', `no service '${service}' in this supervisor (known: ${list})`);
      return true;
    };
    if (follow && (await unknown())) return 1;
    let printed = 0;
    try {
      const records = client.logs({
        ...(service === undefined ? {} : { service }),
        lines,
        follow,
        ...(io.signal ? { signal: io.signal } : {}),
      });
      for await (const record of records) {
        io.out(`${print(record)}\n`);
        printed++;
      }
    } catch (error) {
      if (io.signal?.aborted) return 0;
      return answerError(io, 'logs', client, error);
    }
    if (!follow && printed === 0 && (await unknown())) return 1;
    if (follow && !io.signal?.aborted) {
      report(io, 'logs', 'WARREN_PEER_CLOSED', `the supervisor on ${client.socketDir} ended the log stream (it is stopping)`);
      return 1;
    }
    return 0;
  });
}

export { type TokenRotateOptions, tokenRotateCommand } from './token-command.js';
