/** The client's options, resolved once into a frozen `ResolvedClientOptions` with every default applied. */
import { invalidArgument } from '../errors.js';
import type { ClientFormat } from './format.js';
import type { WebSocketConstructor } from './socket.js';

export interface ReconnectOptions {
  /** Delay before the first reconnect attempt, in ms (500); it doubles after each failed attempt. */
  minMs?: number;
  /** Longest delay between attempts, in ms (30 s). */
  maxMs?: number;
  /** Fraction of each delay taken off at random, 0 to 1 (0.5), so that clients cut at once do not all come back at once. */
  jitter?: number;
}

export interface ConnectOptions {
  /** Sent as `?token=` (browsers cannot set headers on a WebSocket); the hub's `authenticate` reads it. */
  token?: string;
  /** `json` (text frames, default) or `msgpack` (binary frames). */
  protocol?: ClientFormat;
  /** The WebSocket class: the browser's by default; in Node 20 pass `ws`'s (`import WebSocket from 'ws'`). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect with exponential backoff and jitter (on by default); `false` stays closed after the first loss. */
  reconnect?: ReconnectOptions | false;
  /** Messages kept while not connected, sent once open (1,000); past it `emit` rejects with WARREN_QUEUE_FULL. */
  maxQueued?: number;
  /** Default ack timeout of `emit(..., { ack: true })` and of subscribes, in ms (10 s). */
  ackTimeoutMs?: number;
}

export interface ResolvedClientOptions {
  readonly url: string;
  readonly protocol: ClientFormat;
  readonly WebSocket: WebSocketConstructor;
  readonly reconnect: Readonly<Required<ReconnectOptions>> | false;
  readonly maxQueued: number;
  readonly ackTimeoutMs: number;
}

function positive(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw invalidArgument(`option '${name}' must be a number >= ${min}, got ${String(value)}`);
  return value;
}

export function resolveClientOptions(url: string, options: ConnectOptions = {}): ResolvedClientOptions {
  if (typeof url !== 'string' || !/^wss?:\/\//i.test(url))
    throw invalidArgument(`connect(url): url must start with ws:// or wss://, got ${JSON.stringify(url)}`);
  const protocol = options.protocol ?? 'json';
  if (protocol !== 'json' && protocol !== 'msgpack')
    throw invalidArgument(`option 'protocol' must be 'json' or 'msgpack', got ${String(protocol)}`);
  const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof ctor !== 'function')
    throw invalidArgument("no WebSocket class: pass one as option 'WebSocket' (in Node 20: import WebSocket from 'ws')");
  if (options.token !== undefined && typeof options.token !== 'string') throw invalidArgument("option 'token' must be a string");
  let reconnect: ResolvedClientOptions['reconnect'] = false;
  if (options.reconnect !== false) {
    const r = options.reconnect ?? {};
    const minMs = positive('reconnect.minMs', r.minMs, 500, 1);
    const maxMs = positive('reconnect.maxMs', r.maxMs, Math.max(30_000, minMs), minMs);
    const jitter = positive('reconnect.jitter', r.jitter, 0.5);
    if (jitter > 1) throw invalidArgument(`option 'reconnect.jitter' must be from 0 to 1, got ${jitter}`);
    reconnect = Object.freeze({ minMs, maxMs, jitter });
  }
  let target = url;
  if (options.token !== undefined) target += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(options.token)}`;
  return Object.freeze({
    url: target,
    protocol,
    WebSocket: ctor,
    reconnect,
    maxQueued: Math.floor(positive('maxQueued', options.maxQueued, 1000)),
    ackTimeoutMs: positive('ackTimeoutMs', options.ackTimeoutMs, 10_000, 1),
  });
}
