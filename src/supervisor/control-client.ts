/**
 * The client side of the supervisor's control socket (see protocol.ts): what `warren status`,
 * `stop`, `start`, `scale`, `restart`, `reload`, `logs` and `token rotate` use, and what any program may use to
 * drive a running supervisor.
 *
 * @example
 * const control = await connectControl();          // socket dir: WARREN_SOCKET_DIR, else the default
 * try {
 *   const status = await control.status();
 *   for await (const record of control.logs({ service: 'users', lines: 10 })) console.log(record.msg);
 * } finally {
 *   await control.close();
 * }
 */
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, isWarrenError, SocketDirError, UnauthorizedError, type WarrenError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { connectUnix } from '../peer/transports/socket.js';
import { readToken, TOKEN_FILE } from '../service/auth.js';
import { checkSocketDir, resolveSocketDir } from '../service/socket-dir.js';
import { CONTROL, CONTROL_SOCKET, type LogRecord, type ReloadResult, type ScaleResult, type SupervisorStatus } from './protocol.js';

export interface ConnectControlOptions {
  /** Default timeout of each request, in ms (30 000); also bounds connecting (at most 5 000). 0 waits forever. */
  timeout?: number;
  /** Environment to resolve the socket directory from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** What the supervisor said to hello. */
export interface SupervisorHello {
  pid: number;
  socketDir: string;
  version: string;
}

export interface ControlLogsOptions {
  /** Only this service's lines (the supervisor's own lines have service `supervisor`). */
  service?: string;
  /** How many recent lines first (default: the supervisor's: every line it keeps). */
  lines?: number;
  /** Then new lines as they come, until the iteration stops, `signal` aborts or the supervisor goes. */
  follow?: boolean;
  /** Aborting ends the iteration at once (without an error) and tells the supervisor to stop sending. */
  signal?: AbortSignal;
}

export interface ControlCallOptions {
  /** ms; 0 waits forever. reload and restart wait forever by default: they last as long as the instances take to start and drain. */
  timeout?: number;
}

/** Why there is no supervisor to talk to, in `error.data.reason` of the WARREN_SOCKET_DIR error `connectControl` throws. */
export type NoSupervisorReason = 'no-socket' | 'stale-socket';

/**
 * True for the error `connectControl` throws when no supervisor runs on the directory (no control
 * socket, or one nothing listens on). Other failures (a wrong token, an unsafe directory) are not.
 */
export function isNoSupervisorError(error: unknown): boolean {
  if (!isWarrenError(error) || error.code !== 'WARREN_SOCKET_DIR') return false;
  const reason = (error.data as { reason?: unknown } | undefined)?.reason;
  return reason === 'no-socket' || reason === 'stale-socket';
}

function noSupervisor(dir: string, path: string, reason: NoSupervisorReason, cause?: unknown): WarrenError {
  const why =
    reason === 'no-socket' ? `no ${path}` : `${path} is stale: nothing listens on it (a supervisor killed without stopping left it behind)`;
  return new SocketDirError(path, `no supervisor is running on ${dir} (${why}); start one with \`warren up\``, {
    cause,
    data: { reason },
  });
}

/** A directory with a group mode (some group bits, no bits for others): it is shared with a group on purpose. */
export function isGroupMode(stats: Stats): boolean {
  return stats.isDirectory() && (stats.mode & 0o070) !== 0 && (stats.mode & 0o1007) === 0;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Connects to the supervisor of a socket directory (`socketDir`, else WARREN_SOCKET_DIR, else the
 * default; see resolveSocketDir) and says hello with the directory's token.
 *
 * Throws a WarrenError:
 * - `WARREN_SOCKET_DIR` when no supervisor runs there (`isNoSupervisorError`: no control socket,
 *   or a stale one), or the directory or its token file is missing or unsafe;
 * - `WARREN_UNAUTHORIZED` when the supervisor refuses the token;
 * - `WARREN_PEER_CLOSED` / `WARREN_TIMEOUT` when the socket cannot be connected to or does not answer.
 */
export async function connectControl(socketDir?: string, options: ConnectControlOptions = {}): Promise<ControlClient> {
  const dir = resolveSocketDir(socketDir, options.env ?? process.env);
  const path = join(dir, CONTROL_SOCKET);
  const timeout = options.timeout ?? 30_000;
  if (!(Number.isFinite(timeout) && timeout >= 0)) {
    throw invalidArgument(`option 'timeout' must be a non-negative number of ms, got ${timeout}`);
  }

  let dirStats: Stats;
  try {
    dirStats = await lstat(dir);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') throw noSupervisor(dir, path, 'no-socket', error);
    throw error;
  }
  // A directory shared with a group (0750, see socket-dir.ts) holds a token file that may be 0640.
  // Only a mode that is right for a group counts as one: a directory open to others (0755, 1777)
  // gets the same advice as `warren up` gives (0700), not a group mode.
  const group = isGroupMode(dirStats);
  await checkSocketDir(dir, { group });
  try {
    await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') throw noSupervisor(dir, path, 'no-socket', error);
    throw error;
  }

  let peer: Peer;
  try {
    peer = await connectUnix(path, {
      name: 'warren-cli',
      timeout,
      connectTimeout: timeout === 0 ? 5_000 : Math.min(timeout, 5_000),
    });
  } catch (error) {
    const cause = (error as Error).cause;
    if (errnoOf(cause) === 'ECONNREFUSED') throw noSupervisor(dir, path, 'stale-socket', error);
    if (errnoOf(cause) === 'ENOENT') throw noSupervisor(dir, path, 'no-socket', error);
    throw error;
  }

  let hello: SupervisorHello;
  try {
    // Read once connected: a stale socket is reported as such even without a token file.
    const token = await readToken(dir, { group });
    hello = await peer.request(CONTROL.hello, { token });
  } catch (error) {
    peer.destroy();
    if (isWarrenError(error) && error.code === 'WARREN_UNAUTHORIZED') {
      throw new UnauthorizedError(
        `the supervisor on ${dir} refused the token in ${join(dir, TOKEN_FILE)} (${error.message}): was it rotated or replaced by another process?`,
        { cause: error },
      );
    }
    throw error;
  }
  return new ControlClient(peer, dir, path, hello);
}

/** A connection to a supervisor, past hello. Made by `connectControl`. */
export class ControlClient {
  constructor(
    private readonly peer: Peer,
    /** The socket directory (absolute). */
    readonly socketDir: string,
    /** The control socket's path. */
    readonly socketPath: string,
    /** The supervisor's pid, socket directory and version, as it said them. */
    readonly supervisor: SupervisorHello,
  ) {}

  /** True once the connection is closed (by close(), or because the supervisor went away). */
  get closed(): boolean {
    return this.peer.closed;
  }

  /** Calls `listener` once when the connection closes (at once, asynchronously, if it is closed already). Returns an unsubscribe. */
  onClose(listener: (error: Error | undefined) => void): () => void {
    if (this.peer.closed) {
      let cancelled = false;
      queueMicrotask(() => {
        if (!cancelled) listener(undefined);
      });
      return () => {
        cancelled = true;
      };
    }
    return this.peer.on('close', listener);
  }

  status(): Promise<SupervisorStatus> {
    return this.peer.request(CONTROL.status);
  }

  /**
   * Reads the config file again and applies it to one service (or every one): added, removed,
   * scaled, changed settings by a rolling replace; when nothing changed, every instance is
   * replaced. Each instance is replaced once its successor is ready.
   */
  reload(service?: string, options: ControlCallOptions = {}): Promise<ReloadResult> {
    return this.peer.request(CONTROL.reload, service === undefined ? {} : { service }, { timeout: options.timeout ?? 0 });
  }

  /** Stops and starts each instance of a service again (errored ones too). */
  restart(service: string, options: ControlCallOptions = {}): Promise<{ restarted: number }> {
    return this.peer.request(CONTROL.restart, { service }, { timeout: options.timeout ?? 0 });
  }

  /** Sets a service's number of instances until the next reload; answers once they are started or drained. */
  scale(service: string, instances: number, options: ControlCallOptions = {}): Promise<ScaleResult> {
    return this.peer.request(CONTROL.scale, { service, instances }, { timeout: options.timeout ?? 0 });
  }

  /** Drains and stops every instance of one service; the supervisor and the other services go on. */
  stopService(service: string, options: ControlCallOptions = {}): Promise<{ service: string; stopped: number }> {
    return this.peer.request(CONTROL.stopService, { service }, { timeout: options.timeout ?? 0 });
  }

  /** Starts the stopped or errored instances of one service; answers once each is online or errored. */
  startService(service: string, options: ControlCallOptions = {}): Promise<{ service: string; started: number }> {
    return this.peer.request(CONTROL.startService, { service }, { timeout: options.timeout ?? 0 });
  }

  /** Asks the supervisor to stop; it answers first, then drains and stops every instance and exits. */
  stop(): Promise<{ stopping: true }> {
    return this.peer.request(CONTROL.stop);
  }

  /** A new token in the socket directory; the old one stays valid for `graceMs` (the supervisor's default: 60 s). */
  rotateToken(graceMs?: number): Promise<{ rotated: true }> {
    return this.peer.request(CONTROL.rotateToken, graceMs === undefined ? {} : { graceMs });
  }

  /**
   * Recent log records, then with `follow` new ones as they come. The request is made when the
   * iteration starts. Breaking out of the loop or aborting `signal` tells the supervisor to stop
   * sending; the supervisor going away fails the iteration with WARREN_PEER_CLOSED.
   */
  logs(options: ControlLogsOptions = {}): AsyncIterable<LogRecord> {
    const { signal, ...rest } = options;
    const params: { service?: string; lines?: number; follow?: boolean } = {};
    if (rest.service !== undefined) params.service = rest.service;
    if (rest.lines !== undefined) params.lines = rest.lines;
    if (rest.follow !== undefined) params.follow = rest.follow;
    const peer = this.peer;
    return {
      async *[Symbol.asyncIterator]() {
        if (signal?.aborted) return;
        let stream: AsyncIterable<LogRecord>;
        try {
          stream = await peer.request(CONTROL.logs, params, signal ? { signal } : {});
        } catch (error) {
          if (signal?.aborted) return;
          throw error;
        }
        const iterator = stream[Symbol.asyncIterator]();
        let finished = false;
        try {
          for (;;) {
            const step = await untilAborted(iterator.next(), signal);
            if (step === ABORTED || step.done) {
              finished = step !== ABORTED;
              return;
            }
            yield step.value;
          }
        } catch (error) {
          finished = true;
          throw error;
        } finally {
          // Stopped early (break, abort): tell the supervisor to stop sending.
          if (!finished) await iterator.return?.();
        }
      },
    };
  }

  /** Closes the connection (waits at most 1 s for answers still on their way). Idempotent. */
  close(): Promise<void> {
    return this.peer.close({ timeout: 1_000 });
  }
}

const ABORTED = Symbol('aborted');

/** `promise`, or ABORTED as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
