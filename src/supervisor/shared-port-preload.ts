/**
 * Loaded with `node --import` into every process of a service with `port` (docs/config.md,
 * "Sharing a port"). The supervisor holds the service's TCP port and hands each process the
 * socket as descriptor WARREN_LISTEN_FD; this module makes an unmodified app use it:
 *
 * - `listen(PORT)`, `listen(PORT, host, cb)`, `listen({ port: PORT })` (PORT as a number or the
 *   string `process.env.PORT` gives) become `listen({ fd: WARREN_LISTEN_FD })`: every instance
 *   accepts from the one kernel queue, which stays open while instances come and go, so no
 *   connection is refused during a restart or a reload. Any other listen is left alone.
 * - Once such a listen succeeded it tells the supervisor, on the pipe WARREN_READY_FD (when it
 *   has one): that is `ready: 'listen'`, since a probe of a socket every instance shares proves
 *   nothing about the new one.
 * - On SIGTERM or SIGINT, when the app has no handler of its own for it, it stops accepting,
 *   lets the requests in flight finish (their responses say `Connection: close`), closes
 *   keep-alive connections that stay idle, and exits 0 once every connection is closed, or at
 *   the latest just before WARREN_DRAIN_TIMEOUT_MS (after which the supervisor kills it).
 *
 * It imports nothing of Warren's but the names of the variables: it runs inside someone
 * else's app, before the app's own code.
 */
import { closeSync, writeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, type Socket } from 'node:net';
import { DRAIN_TIMEOUT_ENV, LISTEN_FD_ENV, LISTENING_LINE, PORT_ENV, READY_FD_ENV } from './shared-port-env.js';

/** A keep-alive connection idle this long after the stop began is closed (a request on it first gets its answer). */
const IDLE_GRACE_MS = 1000;
/** The exit comes this much before the supervisor's SIGKILL at the drain timeout (at most a tenth of it). */
const EXIT_MARGIN_MS = 250;
const DEFAULT_DRAIN_MS = 10_000;

const port = wholeNumber(process.env[PORT_ENV]);
const listenFd = wholeNumber(process.env[LISTEN_FD_ENV]);
const readyFd = wholeNumber(process.env[READY_FD_ENV]);
const drainMs = wholeNumber(process.env[DRAIN_TIMEOUT_ENV]) ?? DEFAULT_DRAIN_MS;

/** The servers listening on the shared socket, and per server its open connections and requests in flight. */
const shared = new Map<Server, { sockets: Map<Socket, number>; responses: Set<ServerResponse> }>();
let stopping = false;
let signalled = false;

if (port !== null && listenFd !== null) install(port, listenFd);

function wholeNumber(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  return Number(text);
}

function install(port: number, fd: number): void {
  const listen = Server.prototype.listen;
  Server.prototype.listen = function patchedListen(this: Server, ...args: unknown[]) {
    if (!targetsPort(args, port)) return (listen as (...a: unknown[]) => Server).apply(this, args);
    const last = args.at(-1);
    const callback = typeof last === 'function' ? (last as () => void) : undefined;
    track(this);
    this.once('listening', saidListening);
    // Host and backlog of the app's call do not apply: the supervisor bound the socket (`host`).
    return callback === undefined ? listen.call(this, { fd }) : listen.call(this, { fd }, callback);
  } as typeof Server.prototype.listen;
}

/** Whether a listen call's arguments name `port`: as a number, a string of digits, or `{ port }`. */
function targetsPort(args: unknown[], port: number): boolean {
  const [first] = args;
  if (typeof first === 'number') return first === port;
  if (typeof first === 'string') return /^\d+$/.test(first) && Number(first) === port;
  if (typeof first !== 'object' || first === null) return false;
  // A handle (`{ _handle }`, `{ fd }`) or a Unix socket path is something else.
  const options = first as { port?: unknown; fd?: unknown; path?: unknown; _handle?: unknown };
  if (options._handle !== undefined || options.fd !== undefined || options.path !== undefined) return false;
  const wanted = typeof options.port === 'string' && /^\d+$/.test(options.port) ? Number(options.port) : options.port;
  return wanted === port;
}

/** Tells the supervisor, once, that the app listens; the pipe is closed after, so it is no stray descriptor. */
let toldReady = false;
function saidListening(): void {
  // Only the first listen is news, and the descriptor may be reused by the app after the close.
  if (readyFd === null || toldReady) return;
  toldReady = true;
  try {
    writeSync(readyFd, LISTENING_LINE);
    closeSync(readyFd);
  } catch {
    // No pipe (started by hand with the variables set): nobody waits for the line.
  }
}

/** Follows the server's connections and requests, for the stop; the signal handlers come with the first server. */
function track(server: Server): void {
  if (shared.has(server)) return;
  const state = { sockets: new Map<Socket, number>(), responses: new Set<ServerResponse>() };
  shared.set(server, state);
  // Prepended: before the app's handler writes anything, so a response can still say `Connection: close`.
  server.prependListener('connection', (socket: Socket) => {
    state.sockets.set(socket, 0);
    socket.once('close', () => state.sockets.delete(socket));
    if (stopping) closeWhenIdle(socket, state.sockets);
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    state.sockets.set(socket, (state.sockets.get(socket) ?? 0) + 1);
    clearIdle(socket);
    state.responses.add(res);
    if (stopping) res.shouldKeepAlive = false;
    res.once('close', () => {
      state.responses.delete(res);
      const left = (state.sockets.get(socket) ?? 1) - 1;
      if (state.sockets.has(socket)) state.sockets.set(socket, left);
      if (stopping && left === 0 && !socket.destroyed) closeWhenIdle(socket, state.sockets);
    });
  });
  if (!signalled) {
    signalled = true;
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  // The app's own handler decides what a stop means.
  if (process.listeners(signal).some((listener) => listener !== onSignal)) return;
  if (stopping) {
    // A second signal: the default, at once.
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
    return;
  }
  stop();
}

/** Stops accepting, lets what is in flight finish, exits 0 once every connection is closed (or just before the drain timeout). */
function stop(): void {
  stopping = true;
  const margin = Math.min(EXIT_MARGIN_MS, Math.floor(drainMs / 10));
  setTimeout(() => process.exit(0), Math.max(0, drainMs - margin));
  let open = shared.size;
  for (const [server, state] of shared) {
    // net.Server's close, not http.Server's: that one (Node ≥ 19) closes idle keep-alive
    // connections at once, and a client may be writing its next request on one at that moment,
    // which it would see reset. Instead each idle one gets a grace, below.
    Server.prototype.close.call(server, () => {
      open--;
      if (open === 0) process.exit(0);
    });
    for (const res of state.responses) {
      if (!res.headersSent) res.shouldKeepAlive = false;
    }
    for (const [socket, inFlight] of state.sockets) {
      if (inFlight === 0) closeWhenIdle(socket, state.sockets);
    }
  }
}

const idleTimers = new Map<Socket, NodeJS.Timeout>();

/** Closes a connection that gets no request within the grace; one that does is answered with `Connection: close`. */
function closeWhenIdle(socket: Socket, sockets: Map<Socket, number>): void {
  clearIdle(socket);
  idleTimers.set(
    socket,
    setTimeout(() => {
      idleTimers.delete(socket);
      if ((sockets.get(socket) ?? 0) === 0) socket.destroy();
    }, IDLE_GRACE_MS),
  );
}

function clearIdle(socket: Socket): void {
  const timer = idleTimers.get(socket);
  if (timer === undefined) return;
  clearTimeout(timer);
  idleTimers.delete(socket);
}
