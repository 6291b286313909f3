/**
 * The Broadcaster seam on Redis pub/sub: a hub subscribes to the Redis channel of each of its
 * channels that has members here (`<prefix>ch:<channel>`), never to one channel every hub must
 * read. A publish goes through Redis to every hub subscribed, this one included.
 *
 * While Redis is unreachable publishes fail at once (no offline queue, so memory stays bounded):
 * each is counted in `lost` and reported by `onLost`. ioredis reconnects by itself and subscribes
 * again to what this hub was subscribed to.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Broadcaster } from '../seams.js';

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
  #handler: ((channel: string, message: Uint8Array) => void) | undefined;
  readonly #lostListeners = new Set<(error: Error, channel: string) => void>();
  #lost = 0;

  constructor(options: RedisBroadcasterOptions) {
    this.#prefix = `${options.prefix ?? 'warren:rt:'}ch:`;
    const common: RedisOptions = { maxRetriesPerRequest: 1, lazyConnect: false, ...options.redis };
    this.#pub = new Redis(options.url, { ...common, enableOfflineQueue: false });
    this.#sub = new Redis(options.url, common);
    // Connection errors are retried by ioredis; without a listener they would be printed per try.
    this.#pub.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      this.#handler?.(channel.toString('utf8').slice(this.#prefix.length), message);
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
    this.#pub.publish(this.#prefix + channel, Buffer.from(message.buffer, message.byteOffset, message.byteLength)).catch((error: Error) => {
      this.#lost++;
      for (const listener of this.#lostListeners) listener(error, channel);
    });
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

  onMessage(handler: (channel: string, message: Uint8Array) => void): () => void {
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
