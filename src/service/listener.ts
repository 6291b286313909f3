/**
 * The listening socket of a service instance: a Unix socket server that makes a Peer per
 * connection, like the peer layer's listenUnix, plus what an instance facing many clients
 * needs and a generic listener does not:
 * - a deep accept queue (a burst of connects must not be refused with EAGAIN);
 * - a cap on connections: the excess is answered (its hello fails with WARREN_OVERLOADED) and
 *   closed, instead of being held;
 * - an error listener for the whole life of the server: accept failing for want of file
 *   descriptors (EMFILE/ENFILE) is reported and survived, never thrown. libuv then accepts and
 *   closes the waiting connections itself, so new connections are refused while it lasts.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { WarrenError } from '../errors.js';
import { Peer, type PeerOptions } from '../peer/peer.js';
import { isSocketAlive } from '../peer/transports/socket.js';

export interface ServiceListenerOptions {
  socketMode: number;
  /** Length of the accept queue (Linux caps it at net.core.somaxconn). */
  backlog: number;
  /** Connections held at once; one more is refused. */
  maxConnections: number;
  peerOptions: PeerOptions;
  /** A connection under the cap. */
  onPeer(peer: Peer): void;
  /** A connection over the cap: to be refused (the Peer exists so that the refusal can be said). */
  onExcess(peer: Peer): void;
  /** The server failed after it started listening (accept: EMFILE, ENFILE, …); it goes on. */
  onError(error: NodeJS.ErrnoException): void;
}

export interface ServiceListener {
  /** The connections under the cap. */
  readonly peers: ReadonlySet<Peer>;
  readonly server: Server;
  /** Stops accepting (the socket file goes); resolves once every connection has ended. Idempotent. */
  stopListening(): Promise<void>;
  /** Stops listening and closes every peer gracefully. */
  close(): Promise<void>;
}

export async function listenService(path: string, options: ServiceListenerOptions): Promise<ServiceListener> {
  const peers = new Set<Peer>();
  const peerOptions: PeerOptions = { name: `unix:${path}`, ...options.peerOptions };
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    const peer = new Peer(socket, peerOptions);
    if (peers.size >= options.maxConnections) {
      options.onExcess(peer);
      return;
    }
    peers.add(peer);
    peer.on('close', () => peers.delete(peer));
    try {
      options.onPeer(peer);
    } catch (error) {
      peer.destroy(error as Error);
    }
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, backlog: options.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (await isSocketAlive(path)) {
      throw new WarrenError('WARREN_INVALID_ARGUMENT', `a live server already listens on ${path}; it is not taken over`, { cause: error });
    }
    if (existsSync(path)) unlinkSync(path);
    await listen();
  }
  // From here on an error must never be unhandled: a server with no 'error' listener throws.
  server.on('error', (error: NodeJS.ErrnoException) => options.onError(error));
  chmodSync(path, options.socketMode);

  let stopped: Promise<void> | undefined;
  // server.close() closes the listening handle now (libuv unlinks the socket file then); its
  // callback waits for the connections still open.
  const stopListening = () => {
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return stopped;
  };
  return {
    peers,
    server,
    stopListening,
    close() {
      const done = stopListening();
      for (const peer of peers) void peer.close();
      return done;
    },
  };
}

/** Is this error the process running out of file descriptors (its own limit or the system's)? */
export function isOutOfFds(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}
