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
import { hubUnreachable, invalidArgument } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { connectUnix } from '../peer/transports/socket.js';
import { readToken } from '../service/auth.js';
import { resolveSocketDir } from '../service/socket-dir.js';
import { doublingDelay, jittered } from '../util/backoff.js';
import { wholeNumber } from '../util/options.js';
import { BufferedBroadcaster } from './buffered-broadcaster.js';
import { type EmitParams, HUB_SOCKET, HubMethods, parseEmit } from './hub-socket.js';

export interface BroadcasterOptions {
  /** The hub's socket directory (default: WARREN_SOCKET_DIR, then the usual default). */
  socketDir?: string;
  /** Broadcasts kept while the hub is unreachable (1000); more are dropped. */
  maxBuffered?: number;
  /** First and largest delay between connection attempts, in ms (50, 2000). */
  reconnectMs?: { first?: number; max?: number };
}

export { type BroadcasterEvents, type ChannelEmitter, channelOf } from './buffered-broadcaster.js';

export class BroadcasterClient extends BufferedBroadcaster {
  readonly socketPath: string;
  readonly #dir: string;
  readonly #firstMs: number;
  readonly #maxMs: number;
  #peer: Peer | undefined;
  #connecting = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BroadcasterOptions = {}) {
    super(options.maxBuffered, 'the hub');
    this.#dir = resolveSocketDir(options.socketDir);
    this.socketPath = join(this.#dir, HUB_SOCKET);
    this.#firstMs = wholeNumber('reconnectMs.first', options.reconnectMs?.first, 50);
    this.#maxMs = wholeNumber('reconnectMs.max', options.reconnectMs?.max, 2000);
    this.#connect();
  }

  get connected(): boolean {
    return this.#peer !== undefined;
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
    while (this.buffered > 0 || this.#peer === undefined) {
      const left = deadline - Date.now();
      await this.#ready(left);
      if (this.buffered > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(5, Math.max(0, left))));
      if (Date.now() > deadline && this.buffered > 0)
        throw hubUnreachable(`the hub at ${this.socketPath} took not all broadcasts within ${timeoutMs} ms`);
    }
  }

  /** Stops reconnecting and closes the connection (written broadcasts go out first); buffered ones are dropped and reported. */
  async close(): Promise<void> {
    if (!this.closeBuffer()) return;
    clearTimeout(this.#timer);
    const peer = this.#peer;
    this.#peer = undefined;
    if (peer !== undefined) await peer.close();
  }

  async #ready(timeoutMs: number): Promise<Peer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#peer === undefined) {
      if (this.closed) throw hubUnreachable('the broadcaster is closed');
      if (Date.now() >= deadline)
        throw hubUnreachable(`no hub answers on ${this.socketPath} (is it running? warren hub, or a realtime section under warren up)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.#peer;
  }

  protected transmit(emit: EmitParams): boolean {
    const peer = this.#peer;
    if (peer === undefined) return false;
    try {
      peer.notify(HubMethods.emit, emit);
      return true;
    } catch {
      // Closed or its queue is full: the broadcast waits in the buffer.
      return false;
    }
  }

  #connect(): void {
    if (this.closed || this.#connecting || this.#peer !== undefined) return;
    this.#connecting = true;
    this.#open().then(
      (peer) => {
        this.#connecting = false;
        if (this.closed) {
          peer.destroy();
          return;
        }
        this.#attempt = 0;
        this.#peer = peer;
        peer.on('close', () => {
          if (this.#peer !== peer) return;
          this.#peer = undefined;
          this.notify('disconnect');
          this.#retry();
        });
        // What waited goes out first, in order.
        this.sendBuffered();
        this.notify('connect');
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
    if (this.closed) return;
    const delay = jittered(doublingDelay(this.#attempt++, this.#firstMs, this.#maxMs));
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }
}

/** A broadcaster to the hub of a socket directory (see BroadcasterClient). */
export function createBroadcaster(options: BroadcasterOptions = {}): BroadcasterClient {
  return new BroadcasterClient(options);
}
