/**
 * One WebSocket connection as the hub knows it. Kept small on purpose (an idle hub holds
 * thousands): plain fields, no closures, no Map; the channel set exists once the connection
 * subscribes to something. The socket's listeners are shared module-level functions that find
 * their Connection through the socket (see hub.ts).
 */
import type { WebSocket } from 'ws';
import type { FormatName } from './protocol.js';

export class Connection {
  /** Unique within the hub process: `<hub id>.<n>`. */
  readonly id: string;
  readonly userId: string | undefined;
  readonly info: Record<string, unknown> | undefined;
  readonly format: FormatName;
  readonly socket: WebSocket;
  /** Channels this connection is a member of (undefined until the first). */
  channels: Set<string> | undefined = undefined;
  /** A pong (or any message) arrived since the last ping. */
  alive = true;
  /** Undecodable messages so far; too many close the connection with 4002. */
  badMessages = 0;
  /** The code the hub closed it with (4008 slow reader, 4001 heartbeat, …), once it did. */
  closedWith: number | undefined = undefined;

  constructor(id: string, socket: WebSocket, format: FormatName, userId: string | undefined, info: Record<string, unknown> | undefined) {
    this.id = id;
    this.socket = socket;
    this.format = format;
    this.userId = userId;
    this.info = info;
  }

  /** Whether this connection is a member of `channel`. */
  in(channel: string): boolean {
    return this.channels?.has(channel) === true;
  }
}
