/**
 * The two seams a cluster of hubs plugs into (socket.io-adapter style), each a small interface
 * with a local in-memory implementation here:
 *
 * - the Broadcaster carries encoded broadcasts to every hub that has members in a channel; a hub
 *   subscribes only to the channels it has members in;
 * - the Registry keeps presence: which users are in a presence channel, counted once however
 *   many connections (tabs) each has.
 */
import type { Envelope } from './envelope.js';
import type { Position, RecoveryStore } from './recovery.js';

/** Carries encoded broadcasts between hubs. */
export interface Broadcaster {
  /** Sends `message` (an encoded envelope, see envelope.ts) to every hub subscribed to `channel`. */
  publish(channel: string, message: Uint8Array): void;
  /**
   * Starts delivering `channel`'s messages to the handler; called when a hub gets its first
   * member there. A promise, when given, resolves once the subscription is in place: the hub
   * acks the client's subscribe only then, so no broadcast after the ack is missed.
   */
  subscribe(channel: string): void | Promise<void>;
  /** Stops delivering `channel`; called when its last member here left. */
  unsubscribe(channel: string): void;
  /** The one handler of this hub's deliveries (`position`: when the message comes numbered for recovery); returns its remover. */
  onMessage(handler: (channel: string, message: Uint8Array, position?: Position) => void): () => void;
  close(): Promise<void>;
  /**
   * true: the hub gets every publish, also on channels it has no member in (so its own recovery
   * log stays complete). Otherwise the hub forgets a channel's recovery log when its last member
   * here leaves: broadcasts after that would not reach it.
   */
  readonly deliversAll?: boolean;
  /** Publishes that never left this hub (the transport was unreachable), if the Broadcaster counts them. */
  readonly lost?: number;
  /**
   * A recovery store shared by every hub on this transport (called once, by the hub): from then
   * on the Broadcaster numbers each publish and delivers it with its position. Without it the
   * hub keeps its own RecoveryLog.
   */
  recoveryStore?(capacity: number, windowMs: number): RecoveryStore<Envelope>;
}

export interface PresenceMember {
  userId: string;
  info: Record<string, unknown> | undefined;
}

/** Presence per channel, counted per user. */
export interface Registry {
  /** Adds one connection of `member.userId`; `first` when the user was not present before. */
  join(channel: string, member: PresenceMember): Promise<{ first: boolean }>;
  /** Removes one connection of `userId`; `last` when it was the user's last one. */
  leave(channel: string, userId: string): Promise<{ last: boolean; member: PresenceMember | undefined }>;
  /** Everyone present, each user once. */
  members(channel: string): Promise<PresenceMember[]>;
  close(): Promise<void>;
}

/**
 * The broadcaster of a hub alone: a publish is delivered to this hub at once, also on a channel it
 * has no member in (so that the hub records it for recovery).
 */
export class LocalBroadcaster implements Broadcaster {
  readonly deliversAll = true;
  #handler: ((channel: string, message: Uint8Array) => void) | undefined;

  publish(channel: string, message: Uint8Array): void {
    this.#handler?.(channel, message);
  }

  subscribe(_channel: string): void {}

  unsubscribe(_channel: string): void {}

  onMessage(handler: (channel: string, message: Uint8Array) => void): () => void {
    this.#handler = handler;
    return () => {
      if (this.#handler === handler) this.#handler = undefined;
    };
  }

  async close(): Promise<void> {
    this.#handler = undefined;
  }
}

interface Presence {
  info: Record<string, unknown> | undefined;
  connections: number;
}

/** The registry of a hub alone: a map per presence channel. */
export class LocalRegistry implements Registry {
  readonly #channels = new Map<string, Map<string, Presence>>();

  async join(channel: string, member: PresenceMember): Promise<{ first: boolean }> {
    let users = this.#channels.get(channel);
    if (users === undefined) {
      users = new Map();
      this.#channels.set(channel, users);
    }
    const present = users.get(member.userId);
    if (present !== undefined) {
      present.connections++;
      return { first: false };
    }
    users.set(member.userId, { info: member.info, connections: 1 });
    return { first: true };
  }

  async leave(channel: string, userId: string): Promise<{ last: boolean; member: PresenceMember | undefined }> {
    const users = this.#channels.get(channel);
    const present = users?.get(userId);
    if (users === undefined || present === undefined) return { last: false, member: undefined };
    if (--present.connections > 0) return { last: false, member: undefined };
    users.delete(userId);
    if (users.size === 0) this.#channels.delete(channel);
    return { last: true, member: { userId, info: present.info } };
  }

  async members(channel: string): Promise<PresenceMember[]> {
    const users = this.#channels.get(channel);
    if (users === undefined) return [];
    return [...users].map(([userId, { info }]) => ({ userId, info }));
  }

  async close(): Promise<void> {
    this.#channels.clear();
  }
}
