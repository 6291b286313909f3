/**
 * Peers over net sockets (Unix domain and TCP): a server that makes a Peer per connection and
 * a client that resolves once connected.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createConnection, createServer, type Server, type Socket } from 'node:net';
import { invalidArgument, PeerClosedError } from '../../errors.js';
import { Peer, type PeerOptions } from '../peer.js';

export interface PeerServer {
  /** The connected peers. */
  readonly peers: ReadonlySet<Peer>;
  readonly server: Server;
  /**
   * Stops accepting connections at once (a Unix socket's file is removed with it) and leaves the
   * connected peers be; resolves once every connection has ended. Idempotent.
   */
  stopListening(): Promise<void>;
  /** Stops listening and closes every peer gracefully (pending requests are answered first). */
  close(): Promise<void>;
}

/** What a listening server does beyond making a Peer per connection. */
export interface ListenOptions {
  /** Length of the accept queue (Node's default 511; Linux caps it at net.core.somaxconn). */
  backlog?: number | undefined;
  /** Connections held at once; the one after goes to onExcess instead of onPeer (default: no cap). */
  maxConnections?: number | undefined;
  /** A connection over maxConnections (default: destroyed at once). The Peer exists so a refusal can be said. */
  onExcess?: ((peer: Peer) => void) | undefined;
  /**
   * The server failed after it started listening: accept failing for want of file descriptors
   * (EMFILE, ENFILE) above all. The server goes on (libuv accepts and closes waiting connections
   * itself meanwhile); without this option the error is one line on stderr, never a crash.
   */
  onError?: ((error: NodeJS.ErrnoException) => void) | undefined;
}

export interface ListenUnixOptions extends PeerOptions, ListenOptions {
  /** Remove a socket file left behind by a dead process (default true). A live one is never taken. */
  removeStale?: boolean;
  /** File mode of the socket (0o600: only this user may connect). */
  socketMode?: number;
}

function serve(onPeer: (peer: Peer) => void, options: PeerOptions, limits: ListenOptions): { server: Server; peers: Set<Peer> } {
  const peers = new Set<Peer>();
  const { maxConnections = Number.POSITIVE_INFINITY, onExcess = (peer: Peer) => peer.destroy() } = limits;
  // Half-open: a client that ends its writing side still gets the answers to what it sent.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket: Socket) => {
    const peer = new Peer(socket, options);
    if (peers.size >= maxConnections) {
      onExcess(peer);
      return;
    }
    peers.add(peer);
    peer.on('close', () => peers.delete(peer));
    try {
      onPeer(peer);
    } catch (error) {
      peer.destroy(error as Error);
    }
  });
  return { server, peers };
}

/** Resolves once the server listens; from then on an error goes to onError (a server without an 'error' listener throws). */
function listenOn(server: Server, where: { path: string } | { port: number; host: string }, limits: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ ...where, ...(limits.backlog === undefined ? {} : { backlog: limits.backlog }) }, () => {
      server.off('error', reject);
      if (server.listenerCount('error') === 0) {
        const report = limits.onError ?? ((e) => process.stderr.write(`warren: listening socket error (going on): ${e.message}\n`));
        server.on('error', (error: NodeJS.ErrnoException) => report(error));
      }
      resolve();
    });
  });
}

function closer(server: Server, peers: Set<Peer>): Pick<PeerServer, 'stopListening' | 'close'> {
  let stopped: Promise<void> | undefined;
  // server.close() closes the listening handle now (libuv unlinks a Unix socket's file then);
  // its callback waits for the connections that are still open.
  const stopListening = () => {
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return stopped;
  };
  const close = () => {
    const done = stopListening();
    for (const peer of peers) void peer.close();
    return done;
  };
  return { stopListening, close };
}

/** Is something listening on this Unix socket path? */
export function isSocketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Listens on a Unix domain socket and makes a Peer for each connection.
 * @example
 * const server = await listenUnix('/tmp/echo.sock', (peer) => peer.onRequest('echo', (p) => p));
 */
export async function listenUnix(path: string, onPeer: (peer: Peer) => void, options: ListenUnixOptions = {}): Promise<PeerServer> {
  const { removeStale = true, socketMode = 0o600, backlog, maxConnections, onExcess, onError, ...peerOptions } = options;
  const limits: ListenOptions = { backlog, maxConnections, onExcess, onError };
  const { server, peers } = serve(onPeer, { name: `unix:${path}`, ...peerOptions }, limits);
  const listen = () => listenOn(server, { path }, limits);
  try {
    await listen();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !removeStale) throw error;
    if (await isSocketAlive(path)) {
      throw invalidArgument(`a live server already listens on ${path}; it is not taken over`, { cause: error });
    }
    if (existsSync(path)) unlinkSync(path);
    await listen();
  }
  chmodSync(path, socketMode);
  return { peers, server, ...closer(server, peers) };
}

export async function listenTcp(
  port: number,
  host: string,
  onPeer: (peer: Peer) => void,
  options: PeerOptions & ListenOptions = {},
): Promise<PeerServer & { port: number }> {
  const { backlog, maxConnections, onExcess, onError, ...peerOptions } = options;
  const limits: ListenOptions = { backlog, maxConnections, onExcess, onError };
  const { server, peers } = serve(onPeer, { name: `tcp:${host}:${port}`, ...peerOptions }, limits);
  await listenOn(server, { port, host }, limits);
  const address = server.address();
  return { peers, server, ...closer(server, peers), port: typeof address === 'object' && address ? address.port : port };
}

export interface ConnectOptions extends PeerOptions {
  /** Give up connecting after this many ms (default 5 s). */
  connectTimeout?: number;
}

function connectSocket(socket: Socket, label: string, options: ConnectOptions): Promise<Peer> {
  const { connectTimeout = 5_000, ...peerOptions } = options;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PeerClosedError(`could not connect to ${label} within ${connectTimeout} ms`));
    }, connectTimeout);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new PeerClosedError(`could not connect to ${label}: ${error.message}`, { cause: error }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(new Peer(socket, { name: label, ...peerOptions }));
    });
  });
}

export function connectUnix(path: string, options: ConnectOptions = {}): Promise<Peer> {
  return connectSocket(createConnection({ path, allowHalfOpen: true }), `unix:${path}`, options);
}

export function connectTcp(port: number, host = '127.0.0.1', options: ConnectOptions = {}): Promise<Peer> {
  return connectSocket(createConnection({ port, host, allowHalfOpen: true }), `tcp:${host}:${port}`, options);
}
