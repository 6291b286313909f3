/**
 * The Broadcaster seam on NATS core pub/sub: a hub subscribes to the subject of each of its
 * channels that has members here (`<prefix>.<channel token>`, see subjects.ts), never to a
 * wildcard every hub must read. A publish goes through NATS to every hub subscribed, this one included.
 *
 * The connection is a NatsLink (src/service/nats/link.ts): NATS_URL and the NATS_* credentials as
 * services use them, opened in the background and reconnected forever. While NATS is unreachable
 * publishes fail at once (the client's own reconnect buffer has no bound, so it is not used):
 * each is counted in `lost` and reported to the `lost` listeners. Subscriptions come back by
 * themselves when the link does.
 */
import { natsUnavailable, type WarrenError } from '../../errors.js';
import { NatsLink } from '../../service/nats/link.js';
import { type NatsOptions, resolveNatsOptions } from '../../service/nats/options.js';
import type { LinkState } from '../../service/nats/types.js';
import type { Broadcaster } from '../seams.js';
import { decodeChannel, resolveNatsPrefix, subjectOf } from './subjects.js';

type NatsConnection = NonNullable<NatsLink['connection']>;
type Subscription = ReturnType<NatsConnection['subscribe']>;

export interface NatsBroadcasterOptions {
  /** Where NATS is and how to log in; what is not given comes from NATS_URL, NATS_USER, … as for services. */
  nats?: NatsOptions;
  /** Subject prefix shared by the hubs of one application (`warren.ws`). */
  prefix?: string;
  /** This connection's name on the NATS server (`warren-hub <pid>`). */
  name?: string;
  /** Where the NATS_* variables are read (process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface NatsBroadcasterEvents {
  /** A broadcast that did not reach NATS (unreachable, or the server dropped it for a slow consumer). */
  lost: [error: WarrenError, channel: string];
  /** The link to NATS went down (it is being re-established). */
  disconnect: [reason: string];
  /** The link is up: the first time, or again after a disconnect. */
  connect: [];
}

interface Entry {
  subscription: Subscription | undefined;
  connection: NatsConnection | undefined;
}

export class NatsBroadcaster implements Broadcaster {
  readonly prefix: string;
  readonly #link: NatsLink;
  readonly #channels = new Map<string, Entry>();
  readonly #listeners: { [E in keyof NatsBroadcasterEvents]: Set<(...args: NatsBroadcasterEvents[E]) => void> } = {
    lost: new Set(),
    disconnect: new Set(),
    connect: new Set(),
  };
  #handler: ((channel: string, message: Uint8Array) => void) | undefined;
  #lost = 0;

  constructor(options: NatsBroadcasterOptions = {}) {
    this.prefix = resolveNatsPrefix(options.prefix);
    this.#link = new NatsLink(resolveNatsOptions(options.nats, options.env), options.name ?? `warren-hub ${process.pid}`);
    this.#link.listen({
      onUp: (connection) => {
        // A new connection (NATS was unreachable at start, or the client gave up and the link
        // opened another): subscribe there. One that reconnected resubscribed by itself.
        for (const [channel, entry] of this.#channels) if (entry.connection !== connection) this.#subscribeOn(connection, channel, entry);
        for (const listener of this.#listeners.connect) listener();
      },
      onDown: (reason) => {
        for (const listener of this.#listeners.disconnect) listener(reason);
      },
      onSlowConsumer: (subject, pending) => {
        const channel = decodeChannel(subject.slice(this.prefix.length + 1)) ?? subject;
        this.#reportLost(natsUnavailable(`NATS dropped broadcasts to ${channel} for a slow consumer (${pending} pending)`), channel);
      },
    });
  }

  /** 'connecting' until the first connection, then 'up' or 'down'; 'closed' after close(). */
  get state(): LinkState {
    return this.#link.state;
  }

  /** The NATS server URLs, comma-separated. */
  get servers(): string {
    return this.#link.servers;
  }

  /** Why the link is not up ('' when it is). */
  get lastError(): string {
    return this.#link.lastError;
  }

  /** Resolves once the first connection attempt is over, connected or not. */
  get settled(): Promise<void> {
    return this.#link.settled;
  }

  /** Broadcasts that did not reach NATS. */
  get lost(): number {
    return this.#lost;
  }

  /** The channels this hub is subscribed to on NATS (those it has members in). */
  get channels(): readonly string[] {
    return [...this.#channels.keys()];
  }

  on<E extends keyof NatsBroadcasterEvents>(event: E, listener: (...args: NatsBroadcasterEvents[E]) => void): () => void {
    const set = this.#listeners[event] as Set<typeof listener>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** As RedisBroadcaster's: `on('lost', listener)`. */
  onLost(listener: (error: WarrenError, channel: string) => void): () => void {
    return this.on('lost', listener);
  }

  publish(channel: string, message: Uint8Array): void {
    const connection = this.#link.connection;
    if (this.#link.state !== 'up' || connection === undefined) {
      this.#reportLost(
        natsUnavailable(`broadcast to ${channel} lost: NATS at ${this.#link.servers} is unreachable (${this.#link.lastError})`),
        channel,
      );
      return;
    }
    try {
      connection.publish(subjectOf(this.prefix, channel), message);
    } catch (error) {
      this.#reportLost(natsUnavailable(`broadcast to ${channel} lost: ${(error as Error).message}`, { cause: error }), channel);
    }
  }

  /** Resolves once the NATS server has the subscription; at once while NATS is unreachable (it is made when NATS is back). */
  subscribe(channel: string): Promise<void> {
    const entry: Entry = { subscription: undefined, connection: undefined };
    this.#channels.get(channel)?.subscription?.unsubscribe();
    this.#channels.set(channel, entry);
    const connection = this.#link.connection;
    if (connection === undefined || connection.isClosed()) return Promise.resolve();
    this.#subscribeOn(connection, channel, entry);
    if (this.#link.state !== 'up') return Promise.resolve();
    // The server has the subscription once it answered a PING sent after the SUB.
    return connection.flush().catch(() => {});
  }

  unsubscribe(channel: string): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    this.#channels.delete(channel);
    try {
      entry.subscription?.unsubscribe();
    } catch {
      // The connection is closed: the server forgot the subscription with it.
    }
  }

  onMessage(handler: (channel: string, message: Uint8Array) => void): () => void {
    this.#handler = handler;
    return () => {
      if (this.#handler === handler) this.#handler = undefined;
    };
  }

  /** Resolves once connected to NATS (publishes before then are lost). */
  ready(): Promise<void> {
    if (this.#link.state === 'up') return Promise.resolve();
    return new Promise((resolve) => {
      const remove = this.on('connect', () => {
        remove();
        resolve();
      });
    });
  }

  /** Resolves once NATS has processed what this hub sent so far (at once while it is unreachable). */
  flush(): Promise<void> {
    return this.#link.flush().catch(() => {});
  }

  async close(): Promise<void> {
    this.#channels.clear();
    await this.#link.close();
  }

  #subscribeOn(connection: NatsConnection, channel: string, entry: Entry): void {
    try {
      entry.subscription = connection.subscribe(subjectOf(this.prefix, channel), {
        callback: (error, msg) => {
          // An error here is the server refusing the subscription (permissions): nothing arrives.
          if (error === null) this.#handler?.(channel, msg.data);
          else this.#reportLost(natsUnavailable(`NATS refused the subscription to ${channel}: ${error.message}`), channel);
        },
      });
      entry.connection = connection;
    } catch {
      // Closing or closed: the link's next connection subscribes (onUp).
    }
  }

  #reportLost(error: WarrenError, channel: string): void {
    this.#lost++;
    for (const listener of this.#listeners.lost) listener(error, channel);
  }
}
