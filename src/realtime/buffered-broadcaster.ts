/**
 * What every broadcaster client shares, whatever carries its broadcasts (the hub's Unix socket,
 * NATS): the emitting API (`channel`, `to`, `privateChannel`, `presenceChannel`, `emit`), a
 * bounded buffer for the time its carrier is unreachable, drops counted and reported, and the
 * `drop`, `connect` and `disconnect` events. A subclass says how one broadcast is sent now.
 */
import { broadcastDropped, invalidArgument, type WarrenError } from '../errors.js';
import { wholeNumber } from '../util/options.js';
import { type EmitParams, parseEmit } from './hub-socket.js';

/** Where one emit goes. */
export interface ChannelEmitter {
  readonly channel: string;
  emit(event: string, data?: unknown): void;
}

export interface BroadcasterEvents {
  /** A broadcast was dropped (buffer full, or discarded by close()). */
  drop: [error: WarrenError, broadcast: { channel: string; event: string }];
  connect: [];
  disconnect: [];
}

/** The channel a template names: `channelOf('user.{id}', { id: 42 })` is `user.42`. */
export function channelOf(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw invalidArgument(`channel template '${template}' needs a value for {${key}}`);
    return String(value);
  });
}

export abstract class BufferedBroadcaster {
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

  constructor(
    maxBuffered: number | undefined,
    /** What the broadcasts go to, for the drop messages ('the hub', 'NATS'). */
    private readonly carrier: string,
  ) {
    this.#maxBuffered = wholeNumber('maxBuffered', maxBuffered, 1000, 0);
  }

  /** Sends one broadcast now; false when it cannot (not connected, its queue full): it waits then. */
  protected abstract transmit(emit: EmitParams): boolean;

  /** Broadcasts dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Broadcasts handed to the carrier so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Broadcasts waiting for the carrier. */
  get buffered(): number {
    return this.#buffer.length;
  }

  protected get closed(): boolean {
    return this.#closed;
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

  /** Fire-and-forget: sent now if the carrier is connected, buffered otherwise (or dropped when the buffer is full). */
  emit(channel: string, event: string, data?: unknown): void {
    const parsed = parseEmit({ channel, event, data });
    if (typeof parsed === 'string') throw invalidArgument(parsed);
    if (this.#closed) {
      this.#drop(parsed, 'the broadcaster is closed');
      return;
    }
    if (this.#buffer.length === 0 && this.#send(parsed)) return;
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#drop(parsed, `${this.carrier} is unreachable and ${this.#maxBuffered} broadcasts are already waiting`);
      return;
    }
    this.#buffer.push(parsed);
  }

  /** Sends what waited, first in first out, as far as the carrier takes it; true when nothing waits any more. */
  protected sendBuffered(): boolean {
    while (this.#buffer.length > 0 && this.#send(this.#buffer[0] as EmitParams)) this.#buffer.shift();
    return this.#buffer.length === 0;
  }

  /** Stops taking broadcasts; those still waiting are dropped and reported. */
  protected closeBuffer(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const pending of this.#buffer.splice(0)) this.#drop(pending, `the broadcaster was closed before ${this.carrier} took it`);
    return true;
  }

  protected notify(event: 'connect' | 'disconnect'): void {
    for (const listener of this.#listeners[event]) listener();
  }

  #send(emit: EmitParams): boolean {
    if (!this.transmit(emit)) return false;
    this.#sent++;
    return true;
  }

  #drop(emit: EmitParams, why: string): void {
    this.#dropped++;
    const error = broadcastDropped(`broadcast '${emit.event}' to ${emit.channel} dropped: ${why}`);
    for (const listener of this.#listeners.drop) listener(error, { channel: emit.channel, event: emit.event });
  }
}
