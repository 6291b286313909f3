/**
 * One channel the client joined: its listeners, its place in the channel's offsets (for recovery
 * after a reconnect) and, on presence channels, the members kept current from
 * presence:joined / presence:left.
 */
import { type Listener, Listeners } from './emitter.js';
import type { ClientMessage } from './format.js';

export interface PresenceMember {
  userId: string;
  info?: unknown;
}

/** The hub's subscribe ack (docs/realtime.md). */
export interface SubscribeAck {
  channel: string;
  epoch: string;
  offset: number;
  members?: PresenceMember[];
  recovered?: boolean;
}

/** A channel token, or a function making one for this connection (channel tokens are signed per connectionId, which changes on every reconnect). */
export type ChannelToken = string | ((context: { connectionId: string; channel: string }) => string | Promise<string>);

export interface SubscribeOptions {
  token?: ChannelToken;
}

export interface EmitOptions {
  /** Wait for the hub's ack and resolve with its data (reject with its error). */
  ack?: boolean;
  /** Ack timeout in ms (the client's ackTimeoutMs, 10 s): rejects with WARREN_TIMEOUT. */
  timeoutMs?: number;
}

/** What a channel needs from its client (kept narrow so the two stay apart). */
export interface ChannelHost {
  emit(event: string, data: unknown, options: EmitOptions & { channel?: string }): Promise<unknown>;
  forget(channel: Channel): void;
}

export type ChannelState = 'subscribing' | 'subscribed' | 'left' | 'refused';

export class Channel {
  readonly name: string;
  readonly token: ChannelToken | undefined;
  #state: ChannelState = 'subscribing';
  /** Where this client is in the channel: the epoch of the last ack and the offset of the last broadcast seen. */
  #epoch: string | undefined;
  #offset = 0;
  readonly #members = new Map<string, unknown>();
  readonly #listeners = new Listeners();
  readonly #host: ChannelHost;
  readonly #ready: Promise<SubscribeAck>;
  #settleReady: { resolve: (ack: SubscribeAck) => void; reject: (error: Error) => void } | undefined;

  constructor(host: ChannelHost, name: string, options: SubscribeOptions) {
    this.#host = host;
    this.name = name;
    this.token = options.token;
    this.#ready = new Promise((resolve, reject) => {
      this.#settleReady = { resolve, reject };
    });
    // Whoever does not await `ready` still hears a refusal through on('error').
    this.#ready.catch(() => {});
  }

  get state(): ChannelState {
    return this.#state;
  }

  /** Resolves with the first subscribe ack; rejects when the hub refuses the channel. */
  get ready(): Promise<SubscribeAck> {
    return this.#ready;
  }

  /** The last epoch and offset seen, sent as `since` when the client resubscribes. */
  get position(): { epoch: string; offset: number } | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, offset: this.#offset };
  }

  /**
   * Listens to `event` on this channel (a broadcast's event, presence:joined, presence:left) or to
   * the channel's own events: `subscribed` (each ack, also after a reconnect), `unrecovered`
   * (messages were missed and could not be replayed: reload the state), `members` (the presence
   * list changed), `error` (the hub refused the channel). Returns the remover.
   */
  on(event: string, listener: Listener): () => void {
    return this.#listeners.on(event, listener);
  }

  /** The presence channel's members, each user once (empty on other channels). */
  members(): PresenceMember[] {
    return [...this.#members].map(([userId, info]) => (info === undefined ? { userId } : { userId, info }));
  }

  /** Sends an event on this channel: `client-*` events reach the other members of private and presence channels; others go to the hub's handlers. */
  emit(event: string, data?: unknown, options: EmitOptions = {}): Promise<unknown> {
    return this.#host.emit(event, data, { ...options, channel: this.name });
  }

  /** Leaves the channel: unsubscribes and drops every listener. */
  leave(): void {
    if (this.#state === 'left') return;
    this.#state = 'left';
    this.#host.forget(this);
    this.#listeners.clear();
    this.#settleReady?.reject(new Error(`left channel '${this.name}' before it was joined`));
    this.#settleReady = undefined;
  }

  // The rest is called by the client.

  /** The connection was lost: the channel will be subscribed again with `since`. */
  disconnected(): void {
    if (this.#state === 'subscribed') this.#state = 'subscribing';
  }

  subscribed(ack: SubscribeAck): void {
    if (this.#state === 'left') return;
    const lost = ack.recovered === false;
    // A replay already moved #offset up to the ack's; without recovery the ack's offset is where the channel is now.
    if (lost || this.#epoch !== ack.epoch || ack.recovered === undefined) this.#offset = ack.offset;
    else this.#offset = Math.max(this.#offset, ack.offset);
    this.#epoch = ack.epoch;
    this.#state = 'subscribed';
    if (Array.isArray(ack.members)) {
      this.#members.clear();
      for (const m of ack.members) this.#members.set(m.userId, m.info);
      this.#listeners.emit('members', this.members());
    }
    this.#settleReady?.resolve(ack);
    this.#settleReady = undefined;
    this.#listeners.emit('subscribed', ack);
    if (lost) this.#listeners.emit('unrecovered', ack);
  }

  refused(error: Error): void {
    if (this.#state === 'left') return;
    this.#state = 'refused';
    this.#host.forget(this);
    this.#settleReady?.reject(error);
    this.#settleReady = undefined;
    this.#listeners.emit('error', error);
    this.#listeners.clear();
  }

  deliver(message: ClientMessage): void {
    if (this.#state === 'left') return;
    if (typeof message.offset === 'number') {
      // After a reconnect the replay and a live copy can both arrive: each offset is delivered once.
      if (this.#state === 'subscribed' && message.offset <= this.#offset) return;
      this.#offset = Math.max(this.#offset, message.offset);
    }
    const data = message.data as PresenceMember | undefined;
    if (message.event === 'presence:joined' && data !== undefined && typeof data.userId === 'string') {
      this.#members.set(data.userId, data.info);
    } else if (message.event === 'presence:left' && data !== undefined && typeof data.userId === 'string') {
      this.#members.delete(data.userId);
    }
    this.#listeners.emit(message.event, message.data, message);
    if (message.event === 'presence:joined' || message.event === 'presence:left') this.#listeners.emit('members', this.members());
  }
}
