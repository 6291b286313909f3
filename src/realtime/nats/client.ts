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
import { natsUnavailable } from '../../errors.js';
import { NatsLink } from '../../service/nats/link.js';
import { type NatsOptions, resolveNatsOptions } from '../../service/nats/options.js';
import { BufferedBroadcaster } from '../buffered-broadcaster.js';
import { packEnvelope } from '../envelope.js';
import type { EmitParams } from '../hub-socket.js';
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

export class NatsBroadcasterClient extends BufferedBroadcaster {
  readonly prefix: string;
  readonly #link: NatsLink;

  constructor(options: NatsBroadcasterClientOptions = {}) {
    super(options.maxBuffered, 'NATS');
    this.prefix = resolveNatsPrefix(options.prefix);
    this.#link = new NatsLink(resolveNatsOptions(options.nats, options.env), options.name ?? `warren-broadcaster ${process.pid}`);
    this.#link.listen({
      onUp: () => {
        // What waited goes out first, in order.
        this.sendBuffered();
        this.notify('connect');
      },
      onDown: () => this.notify('disconnect'),
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

  get connected(): boolean {
    return this.#link.state === 'up';
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
    if (!this.closeBuffer()) return;
    await this.#link.close();
  }

  async #flushed(): Promise<void> {
    for (;;) {
      if (this.closed) throw natsUnavailable('the broadcaster is closed');
      if (this.#link.state === 'up') {
        if (this.sendBuffered()) {
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

  protected transmit(emit: EmitParams): boolean {
    const connection = this.#link.connection;
    if (this.#link.state !== 'up' || connection === undefined) return false;
    try {
      connection.publish(subjectOf(this.prefix, emit.channel), packEnvelope({ event: emit.event, data: emit.data }));
      return true;
    } catch {
      // Closing or its connection just broke: the broadcast waits in the buffer.
      return false;
    }
  }
}

/** A broadcaster that publishes through NATS to the hubs of broadcast "nats" (see NatsBroadcasterClient). */
export function createNatsBroadcaster(options: NatsBroadcasterClientOptions = {}): NatsBroadcasterClient {
  return new NatsBroadcasterClient(options);
}
