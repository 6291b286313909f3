/**
 * One WebSocket connection as the hub knows it: ws's own WebSocket, extended (ws creates it
 * through the server's `WebSocket` option), so that a connection costs no second object. Kept
 * small on purpose (an idle hub holds thousands): plain fields set in the constructor, so every
 * connection shares one hidden class; no closures, no Map; the channel set exists once the
 * connection joins something. The socket's listeners are shared module-level functions (hub.ts).
 */
import WebSocket from 'ws';
import type { FormatName } from './protocol.js';

/** What the hub keeps of itself on each connection: the methods its shared listeners call. */
export interface ConnectionOwner {
  readonly id: string;
  receive(connection: Connection, bytes: Buffer, isBinary: boolean): void;
  forget(connection: Connection): void;
}

export class Connection extends WebSocket {
  /** The hub that accepted it. */
  owner: ConnectionOwner | undefined = undefined;
  /** Its number within the hub process; `id` is `<hub id>.<seq>`. */
  seq = 0;
  userId: string | undefined = undefined;
  info: Record<string, unknown> | undefined = undefined;
  format: FormatName = 'json';
  /** Channels this connection is a member of (undefined until the first). */
  channels: Set<string> | undefined = undefined;
  /** A pong (or any message) arrived since the last ping. */
  alive = true;
  /** Undecodable messages so far; too many close the connection with 4002. */
  badMessages = 0;
  /** The code the hub closed it with (4008 slow reader, 4001 heartbeat, …), once it did. */
  closedWith: number | undefined = undefined;

  /** Unique within the hub process: `<hub id>.<n>` (what channel tokens are signed for). */
  get id(): string {
    return `${this.owner?.id}.${this.seq}`;
  }

  /** The WebSocket itself (a connection is one). */
  get socket(): WebSocket {
    return this;
  }

  /** Whether this connection is a member of `channel`. */
  in(channel: string): boolean {
    return this.channels?.has(channel) === true;
  }
}
