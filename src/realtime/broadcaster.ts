/**
 * The broadcaster other processes use to reach the hub's members: over the hub's Unix socket
 * (`hub.sock`), fire-and-forget. While the hub is unreachable broadcasts wait in a bounded
 * buffer and go out once it is back; when the buffer is full a broadcast is dropped, counted
 * (`dropped`) and reported (the `drop` event). It reconnects by itself, doubling its delay.
 *
 *   const broadcaster = createBroadcaster({ socketDir });
 *   broadcaster.channel('user.{id}', { id: 42 }).emit('order', { id: 7 });
 *   broadcaster.presenceChannel('shop').emit('opened', {});
 */
import { join } from 'node:path';
import { broadcastDropped, hubUnreachable, invalidArgument, type WarrenError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { connectUnix } from '../peer/transports/socket.js';
import { readToken } from '../service/auth.js';
import { resolveSocketDir } from '../service/socket-dir.js';
import { doublingDelay, jittered } from '../util/backoff.js';
import { wholeNumber } from '../util/options.js';
import { HUB_SOCKET, HubMethods, parseEmit } from './hub-socket.js';

export interface BroadcasterOptions {
  /** The hub's socket directory (default: WARREN_SOCKET_DIR, then the usual default). */
  socketDir?: string;
  /** Broadcasts kept while the hub is unreachable (1000); more are dropped. */
  maxBuffered?: number;
  /** First and largest delay between connection attempts, in ms (50, 2000). */
  reconnectMs?: { first?: number; max?: number };
}

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

interface Pending {
  channel: string;
  event: string;
  data: unknown;
}

/** The channel a template names: `channelOf('user.{id}', { id: 42 })` is `user.42`. */
export function channelOf(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw invalidArgument(`channel template '${template}' needs a value for {${key}}`);
    return String(value);
  });
}

export class BroadcasterClient {
  readonly socketPath: string;
  readonly #dir: string;
  readonly #maxBuffered: number;
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #buffer: Pending[] = [];
  readonly #listeners: { [E in keyof BroadcasterEvents]: Set<(...args: BroadcasterEvents[E]) => void> } = {
    drop: new Set(),
    connect: new Set(),
    disconnect: new Set(),
  };
  #peer: Peer | undefined;
  #connecting = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #dropped = 0;
  #sent = 0;

  constructor(options: BroadcasterOptions = {}) {
    this.#dir = resolveSocketDir(options.socketDir);
    this.socketPath = join(this.#dir, HUB_SOCKET);
    this.#maxBuffered = wholeNumber('maxBuffered', options.maxBuffered, 1000, 0);
    this.#firstMs = wholeNumber('reconnectMs.first', options.reconnectMs?.first, 50);
    this.#maxMs = wholeNumber('reconnectMs.max', options.reconnectMs?.max, 2000);
    this.#connect();
  }

  /** Broadcasts dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Broadcasts written to the hub's socket so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Broadcasts waiting for the hub. */
  get buffered(): number {
    return this.#buffer.length;
  }

  get connected(): boolean {
    return this.#peer !== undefined;
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

  /** Fire-and-forget: written now if the hub is connected, buffered otherwise (or dropped when the buffer is full). */
  emit(channel: string, event: string, data?: unknown): void {
    const parsed = parseEmit({ channel, event, data });
    if (typeof parsed === 'string') throw invalidArgument(parsed);
    if (this.#closed) {
      this.#drop({ channel, event, data }, 'the broadcaster is closed');
      return;
    }
    if (this.#peer !== undefined && this.#buffer.length === 0 && this.#write(this.#peer, { channel, event, data })) return;
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#drop({ channel, event, data }, `the hub is unreachable and ${this.#maxBuffered} broadcasts are already waiting`);
      return;
    }
    this.#buffer.push({ channel, event, data });
  }

  /**
   * Sends one broadcast and waits for the hub to take it: resolves with the number of the
   * hub's connections in the channel; rejects with WARREN_HUB_UNREACHABLE after `timeoutMs`.
   */
  async send(channel: string, event: string, data?: unknown, timeoutMs = 5_000): Promise<{ members: number }> {
    const parsed = parseEmit({ channel, event, data });
    if (typeof parsed === 'string') throw invalidArgument(parsed);
    const peer = await this.#ready(timeoutMs);
    return (await peer.request(HubMethods.emit, parsed, { timeout: timeoutMs })) as { members: number };
  }

  /** Resolves once every buffered broadcast is written; rejects with WARREN_HUB_UNREACHABLE after `timeoutMs`. */
  async flush(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buffer.length > 0 || this.#peer === undefined) {
      const left = deadline - Date.now();
      await this.#ready(left);
      if (this.#buffer.length > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(5, Math.max(0, left))));
      if (Date.now() > deadline && this.#buffer.length > 0)
        throw hubUnreachable(`the hub at ${this.socketPath} took not all broadcasts within ${timeoutMs} ms`);
    }
  }

  /** Stops reconnecting and closes the connection (written broadcasts go out first); buffered ones are dropped and reported. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const pending of this.#buffer.splice(0)) this.#drop(pending, 'the broadcaster was closed before the hub took it');
    const peer = this.#peer;
    this.#peer = undefined;
    if (peer !== undefined) await peer.close();
  }

  async #ready(timeoutMs: number): Promise<Peer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#peer === undefined) {
      if (this.#closed) throw hubUnreachable('the broadcaster is closed');
      if (Date.now() >= deadline)
        throw hubUnreachable(`no hub answers on ${this.socketPath} (is it running? warren hub, or a realtime section under warren up)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.#peer;
  }

  #write(peer: Peer, pending: Pending): boolean {
    try {
      peer.notify(HubMethods.emit, pending);
      this.#sent++;
      return true;
    } catch {
      // Closed or its queue is full: the broadcast waits in the buffer.
      return false;
    }
  }

  #drop(pending: Pending, why: string): void {
    this.#dropped++;
    const error = broadcastDropped(`broadcast '${pending.event}' to ${pending.channel} dropped: ${why}`);
    for (const listener of this.#listeners.drop) listener(error, { channel: pending.channel, event: pending.event });
  }

  #connect(): void {
    if (this.#closed || this.#connecting || this.#peer !== undefined) return;
    this.#connecting = true;
    this.#open().then(
      (peer) => {
        this.#connecting = false;
        if (this.#closed) {
          peer.destroy();
          return;
        }
        this.#attempt = 0;
        this.#peer = peer;
        peer.on('close', () => {
          if (this.#peer !== peer) return;
          this.#peer = undefined;
          for (const listener of this.#listeners.disconnect) listener();
          this.#retry();
        });
        // What waited goes out first, in order.
        while (this.#buffer.length > 0 && this.#write(peer, this.#buffer[0]!)) this.#buffer.shift();
        for (const listener of this.#listeners.connect) listener();
      },
      () => {
        this.#connecting = false;
        this.#retry();
      },
    );
  }

  async #open(): Promise<Peer> {
    const token = await readToken(this.#dir);
    const peer = await connectUnix(this.socketPath, { connectTimeout: 2_000 });
    try {
      await peer.request(HubMethods.hello, { token }, { timeout: 5_000 });
    } catch (error) {
      peer.destroy();
      throw error;
    }
    return peer;
  }

  #retry(): void {
    if (this.#closed) return;
    const delay = jittered(doublingDelay(this.#attempt++, this.#firstMs, this.#maxMs));
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }
}

/** A broadcaster to the hub of a socket directory (see BroadcasterClient). */
export function createBroadcaster(options: BroadcasterOptions = {}): BroadcasterClient {
  return new BroadcasterClient(options);
}
