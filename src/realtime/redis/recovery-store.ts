/**
 * Recovery shared by every hub on one Redis: a channel's broadcasts numbered and kept in a Redis
 * Stream, so a client that reconnects to another hub gets what it missed.
 *
 * Keys (prefix 'warren:rt:'):
 * - `rm:<channel>`: hash `{ e: epoch, n: newest offset }`, living `positionTtlMs` after the
 *   channel's last publish or subscribe; `n` starts at Redis's time in ms × 1000;
 * - `rs:<channel>`: stream of the last broadcasts (about `capacity`: XADD MAXLEN ~), entry id
 *   `<offset>-0`, fields `t` (Redis time, ms) and `m` (the envelope); it lives `windowMs` after
 *   the channel's last publish.
 *
 * A publish is one script: number the broadcast (HINCRBY), add it to the stream and PUBLISH it as
 * `\0<epoch> <offset> <envelope>`, atomically, so the stream holds a broadcast exactly when the
 * hubs subscribed were sent it, in the same order. When the hash is gone (expired, or Redis lost
 * its data in a restart) it is made again under a new epoch: no offset from before is trusted.
 */
import type { Redis } from 'ioredis';
import { type Envelope, unpackEnvelope } from '../envelope.js';
import type { Position, Recorded, RecoveryResult, RecoveryStore } from '../recovery.js';

const DAY_MS = 86_400_000;

// A channel's position is made (epoch given by the caller) with its offsets starting at Redis's
// time in ms × 1000: above any offset of the position it replaces (unless that one numbered over
// 1000 broadcasts a ms), so a client that stays connected through a reset never takes a new
// broadcast for one it has seen. Numbers are formatted with %d: Lua would print 1.7e+15.
const OPEN = `
local function ms() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end
local function open(meta, stream, epoch)
  if redis.call('HSETNX', meta, 'e', epoch) == 1 then
    redis.call('HSET', meta, 'n', string.format('%d', ms() * 1000))
    redis.call('DEL', stream)
  end
end
`;

// KEYS: meta, stream. ARGV: pub/sub channel, envelope, capacity, position ttl, window, epoch if new.
const PUBLISH = `${OPEN}
open(KEYS[1], KEYS[2], ARGV[6])
local e = redis.call('HGET', KEYS[1], 'e')
local n = string.format('%d', redis.call('HINCRBY', KEYS[1], 'n', 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], n .. '-0', 't', string.format('%d', ms()), 'm', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
redis.call('PUBLISH', ARGV[1], '\\0' .. e .. ' ' .. n .. ' ' .. ARGV[2])
return n
`;

// KEYS: meta, stream. ARGV: epoch if new, position ttl, first id wanted, how many (0: none).
const SINCE = `${OPEN}
open(KEYS[1], KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'e', 'n')
local t = redis.call('TIME')
local entries = {}
if tonumber(ARGV[4]) > 0 then entries = redis.call('XRANGE', KEYS[2], ARGV[3], '+', 'COUNT', ARGV[4]) end
return { v[1], v[2] or '0', t[1], t[2], entries }
`;

type StreamEntry = [Buffer, Buffer[]];
type SinceReply = [Buffer, Buffer, Buffer, Buffer, StreamEntry[]];

interface ScriptedRedis extends Redis {
  warrenPublish(meta: string, stream: string, ...args: (string | Buffer | number)[]): Promise<string>;
  warrenSinceBuffer(meta: string, stream: string, ...args: (string | number)[]): Promise<SinceReply>;
}

export interface RedisRecoveryOptions {
  /** Key prefix shared by the hubs of one application ('warren:rt:'). */
  prefix?: string;
  /** Broadcasts kept per channel (about: Redis trims whole stream nodes). */
  capacity: number;
  /** How long a broadcast can be replayed, in ms. */
  windowMs: number;
  /** How long a channel's position (epoch and newest offset) outlives its last publish or subscribe (max(windowMs, 1 day)). */
  positionTtlMs?: number;
}

export class RedisRecoveryStore implements RecoveryStore<Envelope> {
  readonly shared = true;
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #positionTtlMs: number;
  readonly #id: string;
  #made = 0;

  /** `redis`: a command connection (not a subscriber); `id`: unique to this process (for the epochs it makes). */
  constructor(redis: Redis, id: string, options: RedisRecoveryOptions) {
    this.#redis = redis as ScriptedRedis;
    this.#id = id;
    this.#prefix = options.prefix ?? 'warren:rt:';
    this.#capacity = options.capacity;
    this.#windowMs = options.windowMs;
    this.#positionTtlMs = Math.max(1, Math.round(options.positionTtlMs ?? Math.max(options.windowMs, DAY_MS)));
    if (typeof this.#redis.warrenPublish !== 'function') {
      redis.defineCommand('warrenPublish', { numberOfKeys: 2, lua: PUBLISH });
      redis.defineCommand('warrenSince', { numberOfKeys: 2, lua: SINCE });
    }
  }

  /** A new epoch, used only if the channel has none in Redis. */
  #epoch(): string {
    return `${this.#id}.${(++this.#made).toString(36)}`;
  }

  /** Numbers, keeps and publishes a broadcast (to `pubsubChannel`); resolves with its offset (a decimal string). */
  publish(pubsubChannel: string, channel: string, payload: Buffer): Promise<string> {
    return this.#redis.warrenPublish(
      `${this.#prefix}rm:${channel}`,
      `${this.#prefix}rs:${channel}`,
      pubsubChannel,
      payload,
      this.#capacity,
      this.#positionTtlMs,
      Math.max(1, Math.round(this.#windowMs)),
      this.#epoch(),
    );
  }

  record(_channel: string, _entry: Envelope, position: Position | undefined): Position {
    // The broadcast was kept when it was published; a message without a position cannot be replayed.
    return position ?? { epoch: '', offset: 0 };
  }

  async position(channel: string): Promise<Position> {
    const [epoch, newest] = await this.#since(channel, 0, 0);
    return { epoch: epoch.toString('utf8'), offset: Number(newest.toString('latin1')) };
  }

  async since(channel: string, epoch: string, offset: number): Promise<RecoveryResult<Envelope>> {
    const valid = Number.isSafeInteger(offset) && offset >= 0;
    const want = valid ? this.#capacity : 0;
    const [e, n, seconds, micros, entries] = await this.#since(channel, valid ? offset + 1 : 1, want);
    const position = { epoch: e.toString('utf8'), offset: Number(n.toString('latin1')) };
    const gone = { recovered: false as const, position };
    const newest = position.offset;
    if (!valid || position.epoch !== epoch || offset > newest) return gone;
    if (offset === newest) return { recovered: true, missed: [], position };
    if (newest - offset > this.#capacity) return gone;
    const now = Number(seconds.toString('latin1')) * 1000 + Math.floor(Number(micros.toString('latin1')) / 1000);
    const cutoff = now - this.#windowMs;
    const missed: Recorded<Envelope>[] = [];
    for (const [id, fields] of entries) {
      const at = Number(fieldOf(fields, 't')?.toString('latin1'));
      const bytes = fieldOf(fields, 'm');
      const entry = bytes === undefined ? undefined : unpackEnvelope(bytes);
      const entryOffset = Number.parseInt(id.toString('latin1'), 10);
      // Trimmed away (the first is not the next one), too old, or not an envelope: the gap cannot be filled.
      if (entry === undefined || entryOffset !== offset + 1 + missed.length || !(at >= cutoff)) return gone;
      missed.push({ offset: entryOffset, at, entry });
      if (entryOffset === newest) break;
    }
    return missed.length === newest - offset ? { recovered: true, missed, position } : gone;
  }

  #since(channel: string, from: number, count: number): Promise<SinceReply> {
    return this.#redis.warrenSinceBuffer(
      `${this.#prefix}rm:${channel}`,
      `${this.#prefix}rs:${channel}`,
      this.#epoch(),
      this.#positionTtlMs,
      `${from}-0`,
      count,
    );
  }

  release(_channel: string): void {}

  prune(_active: (channel: string) => boolean): void {}
}

function fieldOf(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString('latin1') === name) return fields[i + 1];
  return undefined;
}
