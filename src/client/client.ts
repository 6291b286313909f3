/**
 * The Warren realtime client (docs/client.md): one WebSocket to the hub, reconnected with
 * exponential backoff and jitter; channels subscribed again (with `since`, so the hub replays what
 * was missed) after each reconnect; emits with acks. No Node or DOM imports: it runs in browsers
 * and, given `ws`'s class, in Node.
 */
import { invalidArgument, PeerClosedError, queueFull, RemoteError, TimeoutError } from '../errors.js';
import { doublingDelay } from '../util/backoff.js';
import { Channel, type ChannelHost, type EmitOptions, type SubscribeAck, type SubscribeOptions } from './channel.js';
import { type Listener, Listeners } from './emitter.js';
import { type ClientMessage, decodeMessage, encodeMessage, SUBPROTOCOLS } from './format.js';
import { type ConnectOptions, type ResolvedClientOptions, resolveClientOptions } from './options.js';
import { OPEN, type WebSocketLike } from './socket.js';

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events the client itself raises; a broadcast with one of these names still reaches `on` as well. */
export const CLIENT_EVENTS = ['state', 'connecting', 'open', 'reconnecting', 'closed', 'connected', 'error'] as const;

/** Same rule as the hub's (docs/realtime.md, Channels): checked here so a typo fails at once, not as an ack error. */
const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;:]{1,200}$/;

interface Pending {
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Sent on the current socket (lost with it), or still in the queue. */
  sent: boolean;
}

interface Queued {
  message: ClientMessage;
  /** An emit without ack: resolved once its message is written, rejected when the client closes first. */
  written?: { resolve: (value: undefined) => void; reject: (error: Error) => void };
}

export class WarrenClient {
  readonly options: ResolvedClientOptions;
  #state: ClientState = 'connecting';
  #socket: WebSocketLike | undefined;
  #connectionId: string | undefined;
  #userId: string | undefined;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #queue: Queued[] = [];
  readonly #channels = new Map<string, Channel>();
  readonly #listeners = new Listeners();
  readonly #host: ChannelHost;

  constructor(options: ResolvedClientOptions) {
    this.options = options;
    this.#host = {
      emit: (event, data, opts) => this.emit(event, data, opts),
      forget: (channel) => this.#forget(channel),
    };
    this.#open();
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The hub's id of the current connection (undefined until open); channel tokens are signed for it. */
  get connectionId(): string | undefined {
    return this.#connectionId;
  }

  /** The user the hub authenticated, undefined for an anonymous connection. */
  get userId(): string | undefined {
    return this.#userId;
  }

  /**
   * Listens to the client's events (`state` with (state, previous), `connecting`, `open`,
   * `reconnecting` with { code, reason, delayMs, attempt }, `closed` with { code, reason },
   * `connected` with the hub's data, `error` with the hub's error messages) and to every message
   * the hub sends by its event name, with (data, message): broadcasts of any channel, including
   * the user's own `user.<id>` stream that needs no subscribe. Returns the remover.
   */
  on(event: string, listener: Listener): () => void {
    return this.#listeners.on(event, listener);
  }

  /** Joins a channel (at once if open, else once connected; again after every reconnect). The same name twice gives the same object. */
  subscribe(name: string, options: SubscribeOptions = {}): Channel {
    if (typeof name !== 'string' || !CHANNEL_NAME.test(name))
      throw invalidArgument(`channel name must be 1 to 200 of A-Z a-z 0-9 _-=@,.;: , got ${JSON.stringify(name)}`);
    const existing = this.#channels.get(name);
    if (existing !== undefined) return existing;
    if (this.#state === 'closed') throw new PeerClosedError('the client is closed');
    const channel = new Channel(this.#host, name, options);
    this.#channels.set(name, channel);
    if (this.#state === 'open') void this.#subscribe(channel);
    return channel;
  }

  channel(name: string): Channel | undefined {
    return this.#channels.get(name);
  }

  /**
   * Sends an event to the hub (`channel` in the options: on that channel). With `{ ack: true }` the
   * promise resolves with the ack's data or rejects with its error (RemoteError with the hub's code),
   * WARREN_TIMEOUT, or WARREN_PEER_CLOSED when the connection is lost first; without, it resolves
   * once the message is written. While not connected, messages wait in a bounded queue.
   */
  emit(event: string, data?: unknown, options: EmitOptions & { channel?: string } = {}): Promise<unknown> {
    if (typeof event !== 'string' || event.length === 0 || event.length > 200)
      return Promise.reject(invalidArgument('event must be a string of 1 to 200 characters'));
    if (this.#state === 'closed') return Promise.reject(new PeerClosedError('the client is closed'));
    const message: ClientMessage = { event };
    if (options.channel !== undefined) message.channel = options.channel;
    if (data !== undefined) message.data = data;
    if (!options.ack) {
      return new Promise((resolve, reject) => {
        if (this.#sendNow(message)) resolve(undefined);
        else if (this.#queue.length >= this.options.maxQueued) reject(this.#queueFull());
        else this.#queue.push({ message, written: { resolve, reject } });
      });
    }
    return this.#request(message, options.timeoutMs ?? this.options.ackTimeoutMs);
  }

  /** Closes for good: no reconnect; pending acks reject with WARREN_PEER_CLOSED. */
  close(): void {
    if (this.#state === 'closed') return;
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      socket.onclose = null;
      socket.onmessage = null;
      try {
        socket.close(1000, 'client closed');
      } catch {
        // Still connecting in some implementations: nothing more to close.
      }
    }
    this.#failPending(new PeerClosedError('the client was closed'), true);
    for (const channel of this.#channels.values()) channel.disconnected();
    this.#setState('closed', { code: 1000, reason: 'client closed' });
  }

  #open(): void {
    const { WebSocket, url, protocol } = this.options;
    let socket: WebSocketLike;
    try {
      socket = new WebSocket(url, [SUBPROTOCOLS[protocol]]);
    } catch (error) {
      // A URL the class refuses: treated like a failed connection so the caller sees one path.
      queueMicrotask(() => this.#lost(1006, String((error as Error).message ?? error)));
      return;
    }
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (event: { data: unknown }) => this.#received(event.data);
    socket.onclose = (event: { code: number; reason: string }) => {
      if (this.#socket === socket) this.#lost(event.code, event.reason);
    };
    // A failed handshake raises 'error' then 'close'; the close decides what happens next.
    socket.onerror = () => {};
  }

  #received(raw: unknown): void {
    const message = decodeMessage(raw);
    if (message === undefined) return;
    switch (message.event) {
      case 'connected':
        this.#connected(message.data as { connectionId: string; userId?: string });
        return;
      case 'ack':
        this.#acked(message);
        return;
      case 'error':
        this.#listeners.emit('error', message.data, message);
        return;
    }
    if (message.channel !== undefined) this.#channels.get(message.channel)?.deliver(message);
    this.#listeners.emit(message.event, message.data, message);
  }

  #connected(data: { connectionId: string; userId?: string }): void {
    this.#connectionId = data?.connectionId;
    this.#userId = data?.userId;
    this.#attempt = 0;
    // Channels first, then what waited: an emit on a channel must follow its subscribe.
    for (const channel of this.#channels.values()) void this.#subscribe(channel);
    const waiting = this.#queue.splice(0);
    for (const item of waiting) {
      this.#sendNow(item.message);
      if (item.message.id !== undefined) {
        const pending = this.#pending.get(item.message.id);
        if (pending !== undefined) pending.sent = true;
      }
      item.written?.resolve(undefined);
    }
    this.#setState('open');
    this.#listeners.emit('connected', data);
  }

  async #subscribe(channel: Channel): Promise<void> {
    const data: { token?: string; since?: { epoch: string; offset: number } } = {};
    try {
      if (channel.token !== undefined) {
        data.token =
          typeof channel.token === 'string'
            ? channel.token
            : await channel.token({ connectionId: this.#connectionId ?? '', channel: channel.name });
      }
      const since = channel.position;
      if (since !== undefined) data.since = since;
      if (this.#channels.get(channel.name) !== channel || this.#state === 'closed') return;
      const ack = (await this.#request({ event: 'subscribe', channel: channel.name, data }, this.options.ackTimeoutMs)) as SubscribeAck;
      channel.subscribed(ack);
    } catch (error) {
      // A lost connection is not a refusal: the channel is subscribed again on the next one.
      if (error instanceof PeerClosedError) return;
      if (error instanceof TimeoutError && this.#state !== 'closed') {
        // No answer on an open connection: try once more on the next connect rather than give up.
        return;
      }
      channel.refused(error as Error);
    }
  }

  #forget(channel: Channel): void {
    if (this.#channels.get(channel.name) !== channel) return;
    this.#channels.delete(channel.name);
    if (this.#state === 'open' && channel.state === 'left') this.#sendNow({ event: 'unsubscribe', channel: channel.name });
  }

  #request(message: ClientMessage, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      message.id = id;
      const pending: Pending = { resolve, reject, timer: undefined, sent: false };
      if (!this.#sendNow(message)) {
        if (this.#queue.length >= this.options.maxQueued) {
          reject(this.#queueFull());
          return;
        }
        this.#queue.push({ message });
      } else pending.sent = true;
      pending.timer = setTimeout(() => {
        this.#pending.delete(id);
        const queued = this.#queue.findIndex((q) => q.message.id === id);
        if (queued >= 0) this.#queue.splice(queued, 1);
        reject(new TimeoutError(message.event, timeoutMs, `'${message.event}' got no ack within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, pending);
    });
  }

  #acked(message: ClientMessage): void {
    if (typeof message.id !== 'number') return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.error !== undefined) {
      const { code, message: text } = message.error;
      pending.reject(new RemoteError(String(code ?? 'WARREN_REMOTE_ERROR'), String(text ?? 'refused by the hub')));
    } else pending.resolve(message.data);
  }

  /** Writes at once when open; false when the message has to wait. */
  #sendNow(message: ClientMessage): boolean {
    const socket = this.#socket;
    // Nothing goes out before the hub's `connected` (connectionId set): #connected sends the
    // subscribes first, then what waited, so an emit on a channel follows its subscribe.
    if (this.#connectionId === undefined || socket === undefined || socket.readyState !== OPEN) return false;
    socket.send(encodeMessage(this.options.protocol, message));
    return true;
  }

  #lost(code: number, reason: string): void {
    this.#socket = undefined;
    this.#connectionId = undefined;
    // Acks of messages that went out on this socket cannot come any more; queued ones still can.
    this.#failPending(new PeerClosedError(`connection lost (${code}${reason ? ` ${reason}` : ''}) before the ack`), false);
    for (const channel of this.#channels.values()) channel.disconnected();
    const reconnect = this.options.reconnect;
    if (reconnect === false) {
      this.#failPending(new PeerClosedError('the connection is closed and reconnect is off'), true);
      this.#setState('closed', { code, reason });
      return;
    }
    const full = doublingDelay(this.#attempt, reconnect.minMs, reconnect.maxMs);
    const delayMs = Math.round(full * (1 - reconnect.jitter * Math.random()));
    this.#attempt++;
    this.#setState('reconnecting', { code, reason, delayMs, attempt: this.#attempt });
    this.#reconnectTimer = setTimeout(() => {
      if (this.#state !== 'reconnecting') return;
      this.#setState('connecting');
      this.#open();
    }, delayMs);
  }

  #failPending(error: Error, queuedToo: boolean): void {
    for (const [id, pending] of this.#pending) {
      if (!pending.sent && !queuedToo) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    if (queuedToo) {
      for (const item of this.#queue.splice(0)) item.written?.reject(error);
    }
  }

  #queueFull(): Error {
    return queueFull(`${this.options.maxQueued} messages already wait for the connection (option maxQueued)`);
  }

  #setState(state: ClientState, detail?: unknown): void {
    if (this.#state === state) return;
    const previous = this.#state;
    this.#state = state;
    this.#listeners.emit('state', state, previous);
    this.#listeners.emit(state, detail);
  }
}

/** Connects to a Warren hub: `connect('wss://example.com/ws', { token, protocol: 'msgpack' })`. */
export function connect(url: string, options: ConnectOptions = {}): WarrenClient {
  return new WarrenClient(resolveClientOptions(url, options));
}
