/**
 * A graceful stop for the gateway's HTTP server, safe on a shared port: it stops accepting (the
 * other gateway process on the port takes the new connections), answers every request in flight
 * and every request that arrives on an open connection within a grace with `Connection: close`,
 * and closes keep-alive connections that stay idle through that grace. http.Server's own close()
 * (Node ≥ 19) would close idle keep-alive connections at once, while a client may be writing its
 * next request on one: that client would see a reset instead of an answer.
 */
import { type Server as HttpServer, type IncomingMessage, ServerResponse } from 'node:http';
import { Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** A keep-alive connection idle this long after the stop began is closed (a request on it first gets its answer). */
const IDLE_GRACE_MS = 1000;

export interface DrainableServer {
  /** Stops accepting; resolves once every connection is closed. */
  drain(): Promise<void>;
}

/**
 * Follows `server`'s connections and requests from now on, for drain(). A TLS server
 * (tls.ts) passes 'secureConnection': its requests' sockets are the TLS ones. Its HTTP/2
 * connections and streams are left to tls.ts (closeSessions: GOAWAY once the streams are answered).
 */
export function drainable(server: HttpServer | Server, connectionEvent: 'connection' | 'secureConnection' = 'connection'): DrainableServer {
  /** Open connections and the requests in flight on each. */
  const sockets = new Map<Socket, number>();
  const responses = new Set<ServerResponse>();
  const idleTimers = new Map<Socket, NodeJS.Timeout>();
  let stopping = false;

  const clearIdle = (socket: Socket) => {
    const timer = idleTimers.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    idleTimers.delete(socket);
  };
  const closeWhenIdle = (socket: Socket) => {
    clearIdle(socket);
    const timer = setTimeout(() => {
      idleTimers.delete(socket);
      if ((sockets.get(socket) ?? 0) === 0) socket.destroy();
    }, IDLE_GRACE_MS);
    timer.unref();
    idleTimers.set(socket, timer);
  };

  // Prepended: before the pipeline writes anything, so an answer can still say `Connection: close`.
  server.prependListener(connectionEvent, (socket: Socket) => {
    if ((socket as TLSSocket).alpnProtocol === 'h2') return;
    sockets.set(socket, 0);
    socket.once('close', () => {
      sockets.delete(socket);
      clearIdle(socket);
    });
    if (stopping) closeWhenIdle(socket);
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!(res instanceof ServerResponse)) return;
    const socket = req.socket;
    sockets.set(socket, (sockets.get(socket) ?? 0) + 1);
    clearIdle(socket);
    responses.add(res);
    if (stopping) res.shouldKeepAlive = false;
    res.once('close', () => {
      responses.delete(res);
      const left = (sockets.get(socket) ?? 1) - 1;
      if (sockets.has(socket)) sockets.set(socket, left);
      if (stopping && left === 0 && !socket.destroyed) closeWhenIdle(socket);
    });
  });

  let drained: Promise<void> | undefined;
  return {
    drain() {
      drained ??= new Promise<void>((resolve) => {
        stopping = true;
        // net.Server's close: stop accepting, leave the open connections to the rules above.
        Server.prototype.close.call(server, () => resolve());
        for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
        for (const [socket, inFlight] of sockets) if (inFlight === 0) closeWhenIdle(socket);
      });
      return drained;
    },
  };
}
