/**
 * The Broadcaster seam on Redis pub/sub: a hub subscribes to the Redis channel of each of its
 * channels that has members here (`<prefix>ch:<channel>`), never to one channel every hub must
 * read. A publish goes through Redis to every hub subscribed, this one included.
 *
 * While Redis is unreachable publishes fail at once (no offline queue, so memory stays bounded):
 * each is counted in `lost` and reported by `onLost`. ioredis reconnects by itself and subscribes
 * again to what this hub was subscribed to.
 *
 * A hub asks it for its recovery store (recoveryStore()): from then on each publish is numbered
 * and kept in a Redis Stream (recovery-store.ts) and arrives as `\0<epoch> <offset> <envelope>`,
 * so every hub gives a broadcast the same offset and a client can recover on any of them.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Envelope } from '../envelope.js';
import type { Position, RecoveryStore } from '../recovery.js';
import type { Broadcaster } from '../seams.js';
import { RedisRecoveryStore } from './recovery-store.js';

export interface RedisBroadcasterOptions {
  /** redis://host:port/db */
  url: string;
  /** Key prefix shared by the hubs of one application ('warren:rt:'). */
  prefix?: string;
  redis?: RedisOptions;
}

export class RedisBroadcaster implements Broadcaster {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #keyPrefix: string;
  #store: RedisRecoveryStore | undefined;
  #handler: ((channel: string, message: Uint8Array, position?: Position) => void) | undefined;
  readonly #lostListeners = new Set<(error: Error, channel: string) => void>();
  #lost = 0;

  constructor(options: RedisBroadcasterOptions) {
    this.#keyPrefix = options.prefix ?? 'warren:rt:';
    this.#prefix = `${this.#keyPrefix}ch:`;
    const common: RedisOptions = { maxRetriesPerRequest: 1, lazyConnect: false, ...options.redis };
    this.#pub = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.#sub = new Redis(options.url, common);
    // Connection errors are retried by ioredis; without a listener they would be printed per try.
    this.#pub.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString('utf8').slice(this.#prefix.length);
      if (message[0] !== 0) {
        this.#handler?.(name, message);
        return;
      }
      // \0<epoch> <offset> <envelope>: numbered by the recovery store.
      const space = message.indexOf(0x20, 1);
      const next = space < 0 ? -1 : message.indexOf(0x20, space + 1);
      if (next < 0) return;
      const position = { epoch: message.toString('utf8', 1, space), offset: Number(message.toString('latin1', space + 1, next)) };
      this.#handler?.(name, message.subarray(next + 1), position);
    });
  }

  /** Publishes that failed (Redis unreachable). */
  get lost(): number {
    return this.#lost;
  }

  onLost(listener: (error: Error, channel: string) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  publish(channel: string, message: Uint8Array): void {
    const payload = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const sent =
      this.#store === undefined
        ? this.#pub.publish(this.#prefix + channel, payload)
        : this.#store.publish(this.#prefix + channel, channel, payload);
    sent.catch((error: Error) => {
      this.#lost++;
      for (const listener of this.#lostListeners) listener(error, channel);
    });
  }

  /** The recovery store of the hubs on this Redis (Redis Streams); every hub of the application must use it. */
  recoveryStore(capacity: number, windowMs: number): RecoveryStore<Envelope> {
    this.#store ??= new RedisRecoveryStore(this.#pub, randomBytes(6).toString('base64url'), {
      prefix: this.#keyPrefix,
      capacity,
      windowMs,
    });
    return this.#store;
  }

  subscribe(channel: string): Promise<void> {
    // Unreachable Redis: ioredis subscribes again once it is back; the client is not kept waiting.
    return this.#sub.subscribe(this.#prefix + channel).then(
      () => {},
      () => {},
    );
  }

  unsubscribe(channel: string): void {
    this.#sub.unsubscribe(this.#prefix + channel).catch(() => {});
  }

  onMessage(handler: (channel: string, message: Uint8Array, position?: Position) => void): () => void {
    this.#handler = handler;
    return () => {
      if (this.#handler === handler) this.#handler = undefined;
    };
  }

  /** Resolves once both connections to Redis are up (publishes before then are lost). */
  async ready(): Promise<void> {
    const connected = (redis: Redis) => (redis.status === 'ready' ? undefined : new Promise((resolve) => redis.once('ready', resolve)));
    await Promise.all([connected(this.#pub), connected(this.#sub)]);
  }

  async close(): Promise<void> {
    this.#pub.disconnect();
    this.#sub.disconnect();
  }
}
