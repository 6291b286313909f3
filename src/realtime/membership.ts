/**
 * Which of this hub's connections are in which channel, and what a change of membership sets
 * off: the Broadcaster's subscription follows the first member in and the last one out (a hub
 * receives only the channels it has members in), and presence is announced per user.
 */
import type { Connection } from './connection.js';
import type { Envelope } from './envelope.js';
import { channelKind } from './protocol.js';
import type { RecoveryStore } from './recovery.js';
import type { Broadcaster, Registry } from './seams.js';

/** How a presence change reaches the channel: through the Broadcaster, like any broadcast. */
export type Publish = (channel: string, event: string, data: unknown, except?: string) => void;

/** Whether a channel's members (as `membersOf` gives them) are a Set rather than one connection alone. */
export function isSeveral(members: Connection | ReadonlySet<Connection>): members is ReadonlySet<Connection> {
  return members instanceof Set;
}

export class Membership {
  /** Each channel's members here: the connection alone while it is the only one, then a Set. */
  readonly #members = new Map<string, Connection | Set<Connection>>();
  readonly #broadcaster: Broadcaster;
  readonly #registry: Registry;
  readonly #recovery: RecoveryStore<Envelope>;
  readonly #publish: Publish;

  constructor(broadcaster: Broadcaster, registry: Registry, recovery: RecoveryStore<Envelope>, publish: Publish) {
    this.#broadcaster = broadcaster;
    this.#registry = registry;
    this.#recovery = recovery;
    this.#publish = publish;
  }

  /** How many channels have members here. */
  get channelCount(): number {
    return this.#members.size;
  }

  readonly isActive = (channel: string): boolean => this.#members.has(channel);

  /** The channel's members as kept (no copy): the delivery path walks them for every broadcast. */
  membersOf(channel: string): Connection | ReadonlySet<Connection> | undefined {
    return this.#members.get(channel);
  }

  connectionsIn(channel: string): ReadonlySet<Connection> {
    const members = this.#members.get(channel);
    if (members === undefined) return new Set();
    return isSeveral(members) ? members : new Set([members]);
  }

  count(channel: string): number {
    const members = this.#members.get(channel);
    if (members === undefined) return 0;
    return isSeveral(members) ? members.size : 1;
  }

  /** Adds a member; the promise of the Broadcaster's subscription when it is the channel's first here. */
  add(connection: Connection, channel: string): void | Promise<void> {
    connection.addChannel(channel);
    const members = this.#members.get(channel);
    if (members === undefined) {
      this.#members.set(channel, connection);
      return this.#broadcaster.subscribe(channel);
    }
    if (members instanceof Set) members.add(connection);
    else if (members !== connection) this.#members.set(channel, new Set([members, connection]));
  }

  remove(connection: Connection, channel: string): void {
    connection.deleteChannel(channel);
    const members = this.#members.get(channel);
    if (members === undefined) return;
    if (members instanceof Set) {
      members.delete(connection);
      if (members.size > 0) return;
    } else if (members !== connection) return;
    this.#members.delete(channel);
    this.#broadcaster.unsubscribe(channel);
    this.#recovery.release(channel);
  }

  /** Adds a member on the server's say (no authorization), announced in a presence channel. */
  async join(connection: Connection, channel: string): Promise<void> {
    await this.add(connection, channel);
    if (channelKind(channel) === 'presence') await this.presenceJoin(connection, channel);
  }

  async leave(connection: Connection, channel: string): Promise<void> {
    if (!connection.in(channel)) return;
    this.remove(connection, channel);
    if (channelKind(channel) === 'presence') await this.presenceLeave(connection, channel);
  }

  /** A closed connection leaves every channel; nobody waits for its presence to be withdrawn. */
  leaveAll(connection: Connection): void {
    const channels = connection.channels;
    if (channels.length === 0) return;
    for (const channel of channels) {
      this.remove(connection, channel);
      if (channelKind(channel) === 'presence') void this.presenceLeave(connection, channel).catch(() => {});
    }
  }

  async presenceJoin(connection: Connection, channel: string): Promise<void> {
    if (connection.userId === undefined) return;
    const member = { userId: connection.userId, info: connection.info };
    const { first } = await this.#registry.join(channel, member);
    if (first) this.#publish(channel, 'presence:joined', member, connection.id);
  }

  async presenceLeave(connection: Connection, channel: string): Promise<void> {
    if (connection.userId === undefined) return;
    const { last, member } = await this.#registry.leave(channel, connection.userId);
    if (last) this.#publish(channel, 'presence:left', member ?? { userId: connection.userId, info: connection.info });
  }
}
