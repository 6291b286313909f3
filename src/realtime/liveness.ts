/**
 * Liveness, once a heartbeat: a connection that has not answered the last ping (nor sent
 * anything since) is closed with 4001, and one the hub closed a heartbeat ago that is still
 * there (its peer never answered the close) is cut.
 */
import type { Connection } from './connection.js';
import { closeConnection } from './outbound.js';
import { CloseCode } from './protocol.js';

export class Liveness {
  /** Connections closed for a missed pong (4001). */
  heartbeatsMissed = 0;

  /** Checks every connection for the answer to the last ping, and pings it again. */
  sweep(connections: Iterable<Connection>): void {
    for (const connection of connections) {
      if (connection.closedWith !== undefined) {
        connection.socket.terminate();
        continue;
      }
      if (!connection.alive) {
        this.heartbeatsMissed++;
        closeConnection(connection, CloseCode.HEARTBEAT, 'missed heartbeat');
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }
}
