/**
 * A subscribe with `since`: the client gets the broadcasts it missed (from the RecoveryStore),
 * then those that arrived while they were looked up, each once and in order. The connection is a
 * member from the start; its live broadcasts on that channel are held until the replay is written
 * (a shared store answers asynchronously, so they may arrive first).
 */
import type { Connection } from './connection.js';
import type { Envelope } from './envelope.js';
import { PreparedMessage } from './frames.js';
import type { Position, RecoveryResult, RecoveryStore } from './recovery.js';

export interface Opened {
  /** The channel's position, for the ack. */
  position: Position;
  /** Present when `since` was given. */
  recovered?: boolean;
}

/** A broadcast on `channel`, ready to be written to members; offset 0 (not numbered: not recoverable) is left out. */
export function preparedBroadcast(channel: string, envelope: Envelope, offset: number): PreparedMessage {
  const prepared = new PreparedMessage({ event: envelope.event, channel, data: envelope.data });
  if (offset > 0) prepared.message.offset = offset;
  return prepared;
}

export class Resumer {
  readonly #store: RecoveryStore<Envelope>;
  readonly #write: (connection: Connection, prepared: PreparedMessage) => void;
  /** Live broadcasts held per connection and channel while its missed ones are looked up. */
  readonly #held = new Map<Connection, Map<string, PreparedMessage[]>>();

  constructor(store: RecoveryStore<Envelope>, write: (connection: Connection, prepared: PreparedMessage) => void) {
    this.#store = store;
    this.#write = write;
  }

  /** Whether any broadcast may be held now (checked first, so a delivery costs nothing otherwise). */
  get holding(): boolean {
    return this.#held.size > 0;
  }

  /** Holds `prepared` when `connection` is being caught up on `channel`; true if it did. */
  hold(connection: Connection, channel: string, prepared: PreparedMessage): boolean {
    const queue = this.#held.get(connection)?.get(channel);
    if (queue === undefined) return false;
    queue.push(prepared);
    return true;
  }

  /**
   * After the connection joined `channel` (`subscribed`: the Broadcaster's subscription, if it
   * was the channel's first member here): replays what it missed since `since`, and gives the
   * position for the ack.
   */
  async open(connection: Connection, channel: string, since: Position | undefined, subscribed: void | Promise<void>): Promise<Opened> {
    if (since === undefined) {
      await subscribed;
      return { position: await this.#position(channel) };
    }
    const queue: PreparedMessage[] = [];
    let channels = this.#held.get(connection);
    if (channels === undefined) {
      channels = new Map();
      this.#held.set(connection, channels);
    }
    channels.set(channel, queue);
    try {
      await subscribed;
      const result = await this.#since(channel, since);
      let last = since.offset;
      if (result.recovered) {
        for (const record of result.missed) {
          this.#write(connection, preparedBroadcast(channel, record.entry, record.offset));
          last = record.offset;
        }
      }
      // What arrived meanwhile, unless the replay already gave it.
      for (const prepared of queue) {
        if (!result.recovered || (prepared.message.offset ?? 0) > last) this.#write(connection, prepared);
      }
      return { position: result.position, recovered: result.recovered };
    } finally {
      channels.delete(channel);
      if (channels.size === 0) this.#held.delete(connection);
    }
  }

  async #position(channel: string): Promise<Position> {
    try {
      return await this.#store.position(channel);
    } catch {
      return { epoch: '', offset: 0 };
    }
  }

  async #since(channel: string, since: Position): Promise<RecoveryResult<Envelope>> {
    try {
      return await this.#store.since(channel, since.epoch, since.offset);
    } catch {
      // The store cannot answer (a shared one unreachable): the client cannot be told it missed nothing.
      return { recovered: false, position: { epoch: '', offset: 0 } };
    }
  }
}
