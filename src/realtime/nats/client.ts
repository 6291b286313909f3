/**
 * The broadcaster other processes use to reach the hubs' members through NATS, from any host:
 * what `createBroadcaster` is over the hub's Unix socket, published straight to the subjects the
 * hubs of broadcast "nats" subscribe to (`<prefix>.<channel>`), so no hub needs to run beside it.
 * Fire-and-forget: while NATS is unreachable broadcasts wait in a bounded buffer and go out, in
 * order, once it is back; when the buffer is full a broadcast is dropped, counted (`dropped`) and
 * reported (the `drop` event). The connection is reconnected forever.
 *
 *   const broadcaster = createNatsBroadcaster(); // NATS_URL, NATS_USER, …; prefix warren.ws
 *   broadcaster.channel('user.{id}', { id: 42 }).emit('order', { id: 7 });
 */
import { broadcastDropped, invalidArgument, natsUnavailable, type WarrenError } from '../../errors.js';
import { NatsLink } from '../../service/nats/link.js';
import { type NatsOptions, resolveNatsOptions } from '../../service/nats/options.js';
import { wholeNumber } from '../../util/options.js';
import { type BroadcasterEvents, type ChannelEmitter, channelOf } from '../broadcaster.js';
import { packEnvelope } from '../envelope.js';
import { type EmitParams, parseEmit } from '../hub-socket.js';
import { resolveNatsPrefix, subjectOf } from './subjects.js';

export interface NatsBroadcasterClientOptions {
  /** Where NATS is and how to log in; what is not given comes from NATS_URL, NATS_USER, … as for services. */
  nats?: NatsOptions;
  /** The hubs' subject prefix (`warren.ws`, their realtime.natsPrefix). */
  prefix?: string;
  /** Broadcasts kept while NATS is unreachable (1000); more are dropped. */
  maxBuffered?: number;
  /** This connection's name on the NATS server (`warren-broadcaster <pid>`). */
  name?: string;
  /** Where the NATS_* variables are read (process.env). */
  env?: NodeJS.ProcessEnv;
}

export class NatsBroadcasterClient {
  readonly prefix: string;
  readonly #link: NatsLink;
  readonly #maxBuffered: number;
  readonly #buffer: EmitParams[] = [];
  readonly #listeners: { [E in keyof BroadcasterEvents]: Set<(...args: BroadcasterEvents[E]) => void> } = {
    drop: new Set(),
    connect: new Set(),
    disconnect: new Set(),
  };
  #closed = false;
  #dropped = 0;
  #sent = 0;

  constructor(options: NatsBroadcasterClientOptions = {}) {
    this.prefix = resolveNatsPrefix(options.prefix);
    this.#maxBuffered = wholeNumber('maxBuffered', options.maxBuffered, 1000, 0);
    this.#link = new NatsLink(resolveNatsOptions(options.nats, options.env), options.name ?? `warren-broadcaster ${process.pid}`);
    this.#link.listen({
      onUp: () => {
        // What waited goes out first, in order.
        while (this.#buffer.length > 0 && this.#publish(this.#buffer[0]!)) this.#buffer.shift();
        for (const listener of this.#listeners.connect) listener();
      },
      onDown: () => {
        for (const listener of this.#listeners.disconnect) listener();
      },
    });
  }

  /** The NATS server URLs, comma-separated. */
  get servers(): string {
    return this.#link.servers;
  }

  /** The subject a channel's broadcasts are published on. */
  subjectOf(channel: string): string {
    return subjectOf(this.prefix, channel);
  }

  /** Broadcasts dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Broadcasts handed to the NATS connection so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Broadcasts waiting for NATS. */
  get buffered(): number {
    return this.#buffer.length;
  }

  get connected(): boolean {
    return this.#link.state === 'up';
  }

  on<E extends keyof BroadcasterEvents>(event: E, listener: (...args: BroadcasterEvents[E]) => void): () => void {
    const set = this.#listeners[event] as Set<typeof listener>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** A channel named by a template: `channel('user.{id}', { id: 42 })` is `user.42`. */
  channel(template: string, params: Record<string, string | number> = {}): ChannelEmitter {
    return this.to(channelOf(template, params));
  }

  /** A channel by its full name (`room:lobby`, `private-orders`, `user.42`). */
  to(channel: string): ChannelEmitter {
    const check = parseEmit({ channel, event: 'x' });
    if (typeof check === 'string') throw invalidArgument(check);
    return { channel, emit: (event, data) => this.emit(channel, event, data) };
  }

  privateChannel(name: string): ChannelEmitter {
    return this.to(`private-${name}`);
  }

  presenceChannel(name: string): ChannelEmitter {
    return this.to(`presence-${name}`);
  }

  /** Fire-and-forget: published now if NATS is connected, buffered otherwise (or dropped when the buffer is full). */
  emit(channel: string, event: string, data?: unknown): void {
    const parsed = parseEmit({ channel, event, data });
    if (typeof parsed === 'string') throw invalidArgument(parsed);
    if (this.#closed) {
      this.#drop(parsed, 'the broadcaster is closed');
      return;
    }
    if (this.#buffer.length === 0 && this.#publish(parsed)) return;
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#drop(parsed, `NATS is unreachable and ${this.#maxBuffered} broadcasts are already waiting`);
      return;
    }
    this.#buffer.push(parsed);
  }

  /**
   * Resolves once the NATS server has every broadcast emitted so far (the hubs subscribed to
   * their channels have them on their way); rejects with WARREN_NATS_UNAVAILABLE after `timeoutMs`.
   */
  async flush(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            natsUnavailable(
              `NATS at ${this.#link.servers} took not all broadcasts within ${timeoutMs} ms (${this.#link.lastError || 'no answer'})`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.#flushed(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One broadcast, confirmed by the NATS server (`warren emit --nats`). */
  async send(channel: string, event: string, data?: unknown, timeoutMs = 5_000): Promise<void> {
    this.emit(channel, event, data);
    await this.flush(timeoutMs);
  }

  /** Stops reconnecting and closes the connection (published broadcasts go out first); buffered ones are dropped and reported. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#buffer.splice(0)) this.#drop(pending, 'the broadcaster was closed before NATS took it');
    await this.#link.close();
  }

  async #flushed(): Promise<void> {
    for (;;) {
      if (this.#closed) throw natsUnavailable('the broadcaster is closed');
      if (this.#link.state === 'up') {
        while (this.#buffer.length > 0 && this.#publish(this.#buffer[0]!)) this.#buffer.shift();
        if (this.#buffer.length === 0) {
          try {
            await this.#link.flush();
            return;
          } catch {
            // The connection dropped before the server answered: try again once it is back.
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#link.state === 'up') continue;
      }
      await new Promise<void>((resolve) => {
        const remove = this.on('connect', () => {
          remove();
          resolve();
        });
      });
    }
  }

  #publish(emit: EmitParams): boolean {
    const connection = this.#link.connection;
    if (this.#link.state !== 'up' || connection === undefined) return false;
    try {
      connection.publish(subjectOf(this.prefix, emit.channel), packEnvelope({ event: emit.event, data: emit.data }));
      this.#sent++;
      return true;
    } catch {
      // Closing or its connection just broke: the broadcast waits in the buffer.
      return false;
    }
  }

  #drop(emit: EmitParams, why: string): void {
    this.#dropped++;
    const error: WarrenError = broadcastDropped(`broadcast '${emit.event}' to ${emit.channel} dropped: ${why}`);
    for (const listener of this.#listeners.drop) listener(error, { channel: emit.channel, event: emit.event });
  }
}

/** A broadcaster that publishes through NATS to the hubs of broadcast "nats" (see NatsBroadcasterClient). */
export function createNatsBroadcaster(options: NatsBroadcasterClientOptions = {}): NatsBroadcasterClient {
  return new NatsBroadcasterClient(options);
}
