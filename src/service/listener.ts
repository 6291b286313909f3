/**
 * The listening socket of a service instance: the peer layer's listenUnix with what an
 * instance facing many clients needs:
 * - a deep accept queue (a burst of connects must not be refused with EAGAIN);
 * - a cap on connections: the excess is answered (its hello fails with WARREN_OVERLOADED) and
 *   closed, instead of being held;
 * - an error listener for the whole life of the server: accept failing for want of file
 *   descriptors (EMFILE/ENFILE) is reported and survived, never thrown. libuv then accepts and
 *   closes the waiting connections itself, so new connections are refused while it lasts.
 */
import type { Peer, PeerOptions } from '../peer/peer.js';
import { listenUnix, type PeerServer } from '../peer/transports/socket.js';

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

export type ServiceListener = PeerServer;

export function listenService(path: string, options: ServiceListenerOptions): Promise<ServiceListener> {
  const { socketMode, backlog, maxConnections, onExcess, onError } = options;
  return listenUnix(path, options.onPeer, { ...options.peerOptions, socketMode, backlog, maxConnections, onExcess, onError });
}

export { isOutOfFds } from '../util/errno.js';
