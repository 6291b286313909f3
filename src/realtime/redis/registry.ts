/**
 * The Registry seam in Redis: presence shared by every hub of the application. A user counts
 * once however many connections it has on however many hubs. Entries carry an expiry that
 * each hub renews every `ttlMs / 3`, so the members of a hub that died vanish within `ttlMs`.
 *
 * Keys (prefix 'warren:rt:'):
 * - `pu:<channel>:<userId>`: sorted set of the hubs where the user is present, scored by expiry;
 * - `pc:<channel>`: sorted set of the users present, scored by their latest expiry;
 * - `pi:<channel>`: hash of each user's info (JSON).
 * Connections are counted per hub in memory: Redis hears only of a user's first and last
 * connection on this hub.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { PresenceMember, Registry } from '../seams.js';

export interface RedisRegistryOptions {
  url: string;
  prefix?: string;
  /** How long a hub's entries live without renewal (15 000 ms). */
  ttlMs?: number;
  /** This hub's id (random by default). */
  hubId?: string;
  redis?: RedisOptions;
}

export class RedisRegistry implements Registry {
  readonly hubId: string;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  /** channel → userId → { info, connections here } */
  readonly #local = new Map<string, Map<string, { info: PresenceMember['info']; connections: number }>>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: RedisRegistryOptions) {
    this.hubId = options.hubId ?? randomBytes(6).toString('base64url');
    this.#prefix = options.prefix ?? 'warren:rt:';
    this.#ttlMs = options.ttlMs ?? 15_000;
    this.#redis = new Redis(options.url, { maxRetriesPerRequest: 1, ...options.redis });
    this.#redis.on('error', () => {});
    this.#timer = setInterval(() => void this.#renew().catch(() => {}), Math.max(10, this.#ttlMs / 3));
    this.#timer.unref();
  }

  async join(channel: string, member: PresenceMember): Promise<{ first: boolean }> {
    let users = this.#local.get(channel);
    if (users === undefined) {
      users = new Map();
      this.#local.set(channel, users);
    }
    const present = users.get(member.userId);
    if (present !== undefined) {
      present.connections++;
      return { first: false };
    }
    users.set(member.userId, { info: member.info, connections: 1 });
    const now = Date.now();
    const expiry = now + this.#ttlMs;
    const p = this.#prefix;
    const result = await this.#redis
      .multi()
      .zadd(`${p}pu:${channel}:${member.userId}`, expiry, this.hubId)
      .zadd(`${p}pc:${channel}`, 'GT', expiry, member.userId)
      .hset(`${p}pi:${channel}`, member.userId, JSON.stringify(member.info ?? null))
      .zcount(`${p}pu:${channel}:${member.userId}`, now, '+inf')
      .exec();
    const count = Number(result?.[3]?.[1] ?? 1);
    return { first: count <= 1 };
  }

  async leave(channel: string, userId: string): Promise<{ last: boolean; member: PresenceMember | undefined }> {
    const users = this.#local.get(channel);
    const present = users?.get(userId);
    if (users === undefined || present === undefined) return { last: false, member: undefined };
    if (--present.connections > 0) return { last: false, member: undefined };
    users.delete(userId);
    if (users.size === 0) this.#local.delete(channel);
    const p = this.#prefix;
    const result = await this.#redis
      .multi()
      .zrem(`${p}pu:${channel}:${userId}`, this.hubId)
      .zcount(`${p}pu:${channel}:${userId}`, Date.now(), '+inf')
      .exec();
    const elsewhere = Number(result?.[1]?.[1] ?? 0);
    if (elsewhere > 0) return { last: false, member: undefined };
    await this.#redis.multi().zrem(`${p}pc:${channel}`, userId).hdel(`${p}pi:${channel}`, userId).exec();
    return { last: true, member: { userId, info: present.info } };
  }

  async members(channel: string): Promise<PresenceMember[]> {
    const p = this.#prefix;
    const now = Date.now();
    // Users whose every hub stopped renewing are gone: drop them while reading.
    await this.#redis.zremrangebyscore(`${p}pc:${channel}`, '-inf', now);
    const userIds = await this.#redis.zrangebyscore(`${p}pc:${channel}`, now, '+inf');
    if (userIds.length === 0) return [];
    const infos = await this.#redis.hmget(`${p}pi:${channel}`, ...userIds);
    return userIds.map((userId, i) => ({ userId, info: parseInfo(infos[i]) }));
  }

  async #renew(): Promise<void> {
    if (this.#local.size === 0) return;
    const expiry = Date.now() + this.#ttlMs;
    const p = this.#prefix;
    const pipeline = this.#redis.pipeline();
    for (const [channel, users] of this.#local) {
      for (const userId of users.keys()) {
        pipeline.zadd(`${p}pu:${channel}:${userId}`, expiry, this.hubId);
        pipeline.zadd(`${p}pc:${channel}`, 'GT', expiry, userId);
      }
    }
    await pipeline.exec();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    // This hub's members leave now rather than when their entries expire.
    const channels = [...this.#local.entries()];
    this.#local.clear();
    try {
      const p = this.#prefix;
      for (const [channel, users] of channels) {
        for (const userId of users.keys()) {
          await this.#redis.zrem(`${p}pu:${channel}:${userId}`, this.hubId);
          if ((await this.#redis.zcount(`${p}pu:${channel}:${userId}`, Date.now(), '+inf')) === 0) {
            await this.#redis.multi().zrem(`${p}pc:${channel}`, userId).hdel(`${p}pi:${channel}`, userId).exec();
          }
        }
      }
    } catch {
      // Redis unreachable: the entries expire.
    }
    this.#redis.disconnect();
  }
}

function parseInfo(raw: string | null | undefined): PresenceMember['info'] {
  if (raw === null || raw === undefined) return undefined;
  try {
    return (JSON.parse(raw) ?? undefined) as PresenceMember['info'];
  } catch {
    return undefined;
  }
}
