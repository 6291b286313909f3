/**
 * The listeners of every connection's socket. Shared by all of them (no closure per connection,
 * which an idle hub with thousands would pay for); `this` is the connection, and its `owner` the
 * hub that accepted it.
 */
import type { WebSocket } from 'ws';
import type { Connection } from './connection.js';

function onSocketMessage(this: WebSocket, bytes: Buffer, isBinary: boolean): void {
  const connection = this as Connection;
  connection.owner?.receive(connection, bytes, isBinary);
}

function onSocketPong(this: WebSocket): void {
  (this as Connection).alive = true;
}

function onSocketClose(this: WebSocket): void {
  const connection = this as Connection;
  connection.owner?.forget(connection);
}

function onSocketError(this: WebSocket): void {
  // ws closes the socket itself after an error (1009 for maxPayload, 1002 for bad frames); 'close' follows.
}

export function listenToSocket(connection: Connection): void {
  connection.on('message', onSocketMessage);
  connection.on('pong', onSocketPong);
  connection.on('close', onSocketClose);
  connection.on('error', onSocketError);
}
