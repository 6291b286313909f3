/**
 * One WebSocket connection as the hub knows it: ws's own WebSocket, extended (ws creates it
 * through the server's `WebSocket` option), so that a connection costs no second object. Kept
 * small on purpose (an idle hub holds thousands): plain fields set in the constructor, so every
 * connection shares one hidden class; no closures, no Map; the channel set exists once the
 * connection joins something. The socket's listeners are shared module-level functions (socket-events.ts).
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
  /**
   * Channels this connection is a member of: undefined for none, the name alone for one (a
   * user's own user.<id>, most often), a Set from the second on.
   */
  #channels: string | Set<string> | undefined = undefined;
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
    const channels = this.#channels;
    return channels === channel || (typeof channels === 'object' && channels.has(channel));
  }

  /** The channels it is a member of. */
  get channels(): string[] {
    const channels = this.#channels;
    if (channels === undefined) return [];
    return typeof channels === 'string' ? [channels] : [...channels];
  }

  /** @internal the hub's bookkeeping: see Hub.join. */
  addChannel(channel: string): void {
    const channels = this.#channels;
    if (channels === undefined) this.#channels = channel;
    else if (typeof channels === 'string') {
      if (channels !== channel) this.#channels = new Set([channels, channel]);
    } else channels.add(channel);
  }

  /** @internal the hub's bookkeeping: see Hub.leave. */
  deleteChannel(channel: string): void {
    const channels = this.#channels;
    if (channels === channel) this.#channels = undefined;
    else if (typeof channels === 'object') channels.delete(channel);
  }
}
